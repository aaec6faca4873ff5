"""What ``make demo`` adds to a running testbed so that the product shows: example kernel
releases published through the real ``hpchub kernels`` CLI by the collaborations' own
accounts, the example notebooks in every user's home, and a short "try this" list.

Each step is skipped when already done (a second ``make demo`` changes nothing), and a user's
copy of an example notebook is never overwritten.
"""

from __future__ import annotations

import io
import shlex
import tarfile
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

from .engine import PYTHON, TestbedError
from .image import SOURCE

ENVS = "/global/common/software/{collaboration}-envs"
RUNTIME_SITE = f"/opt/hpchub/venv/lib/{PYTHON}/site-packages"


@dataclass(frozen=True)
class ExampleRelease:
    collaboration: str
    version: str
    display_name: str

    @property
    def prefix(self) -> str:
        return f"{ENVS.format(collaboration=self.collaboration)}/{self.version}"

    @property
    def package(self) -> str:
        """The stand-in for the collaboration's software stack, importable in the kernel."""
        return f"{self.collaboration}_stack"


# Published in this order; the last of each collaboration becomes its default.
RELEASES = (
    ExampleRelease("desi", "26.1", "DESI 26.1"),
    ExampleRelease("desi", "26.3", "DESI 26.3"),
    ExampleRelease("lsst", "w.2026.48", "LSST DESC w.2026.48"),
)


def environment_script(release: ExampleRelease) -> str:
    """Shell run as the collaboration account: a venv whose own package reports the release
    (numpy, ipykernel and the launchers come from the site's runtime, as a .pth)."""
    site = f"{release.prefix}/lib/{PYTHON}/site-packages"
    module = f'__version__ = "{release.version}"\n'
    return (f"rm -rf {release.prefix} && /usr/bin/python3 -m venv --without-pip {release.prefix}"
            f" && echo {RUNTIME_SITE} > {site}/zz-hpchub-runtime.pth"
            f" && mkdir {site}/{release.package}"
            f" && printf %s {shlex.quote(module)} > {site}/{release.package}/__init__.py")


def release_spec(release: ExampleRelease) -> str:
    return (f"collaboration: {release.collaboration}\nversion: \"{release.version}\"\n"
            f"display_name: {release.display_name}\n"
            f"environment: {{kind: venv, prefix: {release.prefix}}}\n"
            f"env: {{{release.collaboration.upper()}_RELEASE: \"{release.version}\"}}\n"
            f"smoke_imports: [{release.package}, numpy]\n")


def published(bed, collaboration: str) -> set[str]:
    out = bed.exec("login1", "hpchub", "kernels", "list", collaboration, user=collaboration).output
    prefix = f"{collaboration}-"
    return {line.split()[0].removeprefix(prefix) for line in out.splitlines()
            if line.startswith(prefix)}


def as_account(bed, collaboration: str, script: str) -> str:
    done = bed.exec("login1", "bash", "-c", script, user=collaboration,
                    workdir=f"/home/{collaboration}")
    if not done.ok:
        raise TestbedError(f"as {collaboration}: {script[:80]}... failed:\n{done.output[-2000:]}")
    return done.output


def publish_collaboration(bed, collaboration: str) -> list[str]:
    """Publish this collaboration's example releases that are not published yet; what was done."""
    done, have = [], published(bed, collaboration)
    for release in (r for r in RELEASES if r.collaboration == collaboration):
        if release.version in have:
            continue
        as_account(bed, collaboration, environment_script(release))
        spec = f"/home/{collaboration}/demo-releases/{release.version}.yaml"
        as_account(bed, collaboration, f"mkdir -p $(dirname {spec}) && printf %s "
                   f"{shlex.quote(release_spec(release))} > {spec}")
        as_account(bed, collaboration, f"hpchub kernels publish {spec}")
        done.append(f"published {release.display_name}")
    latest = [r for r in RELEASES if r.collaboration == collaboration][-1]
    if done and len(have) + len(done) > 1:
        as_account(bed, collaboration, f"hpchub kernels promote {collaboration} {latest.version}")
        done.append(f"{latest.display_name} is {collaboration}'s default")
    return done


def copy_examples(bed) -> int:
    """The example notebooks into ``~/examples`` of every site user (kept when present)."""
    notebooks = sorted((SOURCE / "examples").glob("*.ipynb"))
    if not notebooks:
        return 0
    archive = io.BytesIO()
    with tarfile.open(fileobj=archive, mode="w") as tar:
        for path in notebooks:
            tar.add(path, arcname=f"hpchub-examples/{path.name}")
    login = bed.container("login1")
    login.put_archive("/tmp", archive.getvalue())
    for user in bed.site.users:
        done = bed.exec("login1", "sh", "-c", f"install -d -o {user.name} -g {user.name} "
                        f"/home/{user.name}/examples && for f in /tmp/hpchub-examples/*; do "
                        f"t=/home/{user.name}/examples/$(basename $f); [ -e $t ] || "
                        f"install -o {user.name} -g {user.name} -m 0644 $f $t; done")
        if not done.ok:
            raise TestbedError(f"copying the examples to {user.name}: {done.output[-500:]}")
    return len(notebooks)


def add_examples(bed) -> list[str]:
    """Kernel releases (both collaborations at once) and notebooks; lines saying what was done."""
    setup = bed.exec("login1", "sh", "-c", "hpchub kernels setup >/dev/null && " + " && ".join(
        f"install -d -o {c} -g {c} -m 2750 {ENVS.format(collaboration=c)}"
        for c in sorted({r.collaboration for r in RELEASES})))
    if not setup.ok:
        raise TestbedError(f"hpchub kernels setup failed:\n{setup.output[-2000:]}")
    collaborations = sorted({r.collaboration for r in RELEASES})
    with ThreadPoolExecutor(len(collaborations)) as pool:
        lines = [line for done in pool.map(lambda c: publish_collaboration(bed, c), collaborations)
                 for line in done]
    count = copy_examples(bed)
    return lines + [f"{count} example notebooks in every user's ~/examples"]


def try_this(bed, password: str) -> str:
    kernels = ", ".join(r.display_name for r in RELEASES if r.collaboration == "desi")
    return f"""\
Try this:
  1. Open {bed.hub_url} and log in as alice (password {password}).
  2. Pick "Shared node" and Start: JupyterLab opens in seconds, no queue.
     The Launcher has alice's DESI kernels ({kernels}, and "DESI (current: ...)").
  3. Open examples/01-mpi-ipyparallel.ipynb and run it: 6 MPI engines on 3 nodes, one Slurm job.
  4. Back on {bed.hub_url}/hub/home, start a second server with "Exclusive CPU node" and watch
     its place in the queue. Log in as bob for LSST's kernel; dave sees Python 3 only.
  5. Kernel maintainers publish as the collaboration account, for example:
       .venv/bin/hpchub testbed exec login1 --user desi -- hpchub kernels list desi
  Stop everything with `make down`."""
