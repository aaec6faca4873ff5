"""Kernel releases on the testbed: maintainers publish as the collaboration account (`desi`),
validation runs kernels on login1 and on a compute node, users see them through their servers."""

from __future__ import annotations

import contextlib
import json
import shlex
import subprocess
import sys
from pathlib import Path

import pytest
from playwright.sync_api import expect

from hpchub.containers.engine import PYTHON

sys.path.insert(0, str(Path(__file__).parent))
from directory import member_of  # noqa: E402
from hubclient import HubUser  # noqa: E402

ROOT = "/global/common/software/jupyter/kernels"
ENVS = "/global/common/software/desi-envs"
WORK = "/home/desi/releases"
RUNTIME_SITE = f"/opt/hpchub/venv/lib/{PYTHON}/site-packages"
VERSION_CODE = "import desiver, sys; print(desiver.__version__, sys.prefix)"


def notebook(*cells: str) -> str:
    return json.dumps({"nbformat": 4, "nbformat_minor": 5, "metadata": {
        "kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"}},
        "cells": [{"cell_type": "code", "id": f"c{i}", "metadata": {}, "outputs": [],
                   "execution_count": None, "source": src} for i, src in enumerate(cells)]})


def sh(testbed, script: str, user: str = "root", node: str = "login1"):
    return testbed.exec(node, "bash", "-c", script, user=user,
                        workdir=f"/home/{user}" if user != "root" else "/")


def desi(testbed, *args: str):
    """`hpchub kernels ARGS` as the DESI collaboration account on the shared node."""
    return sh(testbed, f"cd {WORK} && hpchub kernels " + " ".join(map(shlex.quote, args)), "desi")


def make_env(testbed, version: str, with_ipykernel: bool = True) -> str:
    """A real venv with its own `desiver` package; ipykernel comes from the site runtime."""
    prefix = f"{ENVS}/{version}"
    site = f"{prefix}/lib/{PYTHON}/site-packages"
    pth = f"echo {RUNTIME_SITE} > {site}/zz-hpchub-runtime.pth" if with_ipykernel else "true"
    out = sh(testbed, f"rm -rf {prefix} && /usr/bin/python3 -m venv --without-pip {prefix} && "
             f"mkdir {site}/desiver && echo '__version__ = \"{version}\"' > {site}/desiver/__init__.py"
             f" && {pth}", "desi")
    assert out.code == 0, out.output
    return prefix


def write(testbed, path: str, text: str, user: str = "desi") -> None:
    out = sh(testbed, f"mkdir -p $(dirname {path}) && cat > {path} <<'HPCHUB_EOF'\n{text}\nHPCHUB_EOF", user)
    assert out.code == 0, out.output


def spec(testbed, version: str, prefix: str, suite: str = "") -> str:
    path = f"{WORK}/{version}.yaml"
    write(testbed, path, f"collaboration: desi\nversion: \"{version}\"\ndisplay_name: DESI {version}\n"
          f"environment: {{kind: venv, prefix: {prefix}}}\nenv: {{DESI_RELEASE: \"{version}\"}}\n"
          f"smoke_imports: [desiver]\n{suite}")
    return path


@pytest.fixture(scope="module")
def releases(testbed):
    """A clean DESI kernel area, the environments of 26.1 and 26.3, and their suites."""
    assert sh(testbed, f"rm -rf {ROOT}/desi/* {ROOT}/desi/.lock {ROOT}/lsst/* {ENVS} && "
              f"hpchub kernels setup && install -d -o desi -g desi -m 2750 {ENVS} && "
              f"rm -rf {WORK}").code == 0
    for version in ("26.1", "26.3"):
        make_env(testbed, version)
        check = f"import desiver, os\nassert desiver.__version__ == os.environ['DESI_RELEASE'] == '{version}'"
        write(testbed, f"{WORK}/suite-{version}/version.ipynb", notebook(check))
        spec(testbed, version, f"{ENVS}/{version}",
             f"suite: {{notebooks: ['suite-{version}/*.ipynb'], timeout_s: 120}}\n")
    return testbed


def test_publish_two_releases_validated_on_login_and_compute_nodes(releases):
    for version in ("26.1", "26.3"):
        out = desi(releases, "publish", f"{version}.yaml")
        assert out.code == 0, out.output
        assert "local (login1)" in out.output and "slurm (c" in out.output, out.output
        assert f"desi-{version}: validation PASSED" in out.output
        assert "version.ipynb" in out.output
    listing = desi(releases, "list", "desi").output
    assert "desi-26.1 *" in listing and "desi-26.3 " in listing, listing
    shown = desi(releases, "show", "desi", "26.3")
    assert shown.code == 0 and "export DESI_RELEASE=26.3" in shown.output
    mode = sh(releases, f"stat -c '%a %G' {ROOT}/desi {ROOT}/desi/releases/26.3/launch.sh").output
    assert mode.split() == ["2750", "desi", "640", "desi"], mode


def registry_snapshot(testbed) -> str:
    return sh(testbed, f"cat {ROOT}/desi/registry.json; readlink {ROOT}/desi/current; "
              f"ls -R {ROOT}/desi/current/").output


def test_broken_release_fails_validation_and_changes_nothing(releases):
    before = registry_snapshot(releases)
    make_env(releases, "26.9", with_ipykernel=False)
    spec(releases, "26.9", f"{ENVS}/26.9")
    out = desi(releases, "publish", "26.9.yaml")
    assert out.code == 1, out.output
    assert "smoke cell  FAILED" in out.output and "not published" in out.output, out.output
    assert registry_snapshot(releases) == before


def test_suite_failure_is_reported_and_the_rest_still_runs(releases):
    write(releases, f"{WORK}/suite-mixed/a_ok.ipynb", notebook("print('a')"))
    write(releases, f"{WORK}/suite-mixed/b_fails.ipynb", notebook("1 / 0"))
    write(releases, f"{WORK}/suite-mixed/c_ok.ipynb", notebook("import desiver"))
    write(releases, f"{WORK}/suite-mixed/d_slow.ipynb", notebook("import time; time.sleep(120)"))
    write(releases, f"{WORK}/suite-mixed/skip_me.ipynb", notebook("raise SystemExit"))
    spec(releases, "26.4", f"{ENVS}/26.3",
         "suite: {notebooks: ['suite-mixed/*.ipynb'], exclude: ['suite-mixed/skip_*'], timeout_s: 15}\n")
    out = desi(releases, "validate", "26.4.yaml", "--no-local")
    assert out.code == 1, out.output
    rows = {line.split()[2]: line.split()[3] for line in out.output.splitlines()
            if ".ipynb" in line}
    assert rows == {"a_ok.ipynb": "passed", "b_fails.ipynb": "FAILED", "c_ok.ipynb": "passed",
                    "d_slow.ipynb": "FAILED"}, out.output
    assert "ZeroDivisionError" in out.output
    slow = next(line for line in out.output.splitlines() if "d_slow.ipynb" in line)
    assert "timed out" in slow or "Timeout" in slow, slow
    assert "desi-26.4" not in desi(releases, "list", "desi").output


@pytest.mark.parametrize("args, message", [
    (("publish", "missing.yaml"), "cannot read release spec"),
    (("publish", "26.1.yaml"), "already published"),
    (("promote", "cosmo", "1.0"), "unknown collaboration 'cosmo'"),
    (("retire", "desi", "26.1"), "is the default"),
])
def test_bad_requests_say_what_is_wrong(releases, args, message):
    out = desi(releases, *args)
    assert out.code == 2 and message in out.output, out.output


def test_bad_environment_and_image_are_named(releases):
    write(releases, f"{WORK}/noprefix.yaml", "collaboration: desi\nversion: '30.1'\ndisplay_name: X\n"
          "environment: {kind: venv, prefix: /global/common/software/desi-envs/nope}\n")
    out = desi(releases, "validate", "noprefix.yaml")
    assert out.code == 2 and "desi-envs/nope does not exist" in out.output, out.output
    write(releases, f"{WORK}/image.yaml", "collaboration: desi\nversion: '30.2'\ndisplay_name: X\n"
          "environment: {kind: container, runtime: apptainer, image: /images/none.sif}\n")
    out = desi(releases, "validate", "image.yaml")
    assert out.code == 2 and "apptainer is not installed" in out.output, out.output


def test_other_collaborations_cannot_publish_or_read(releases):
    write(releases, "/home/lsst/desi.yaml", "collaboration: desi\nversion: '31.0'\n"
          "display_name: X\nenvironment: {kind: venv, prefix: /opt/hpchub/venv}\n", user="lsst")
    out = sh(releases, "hpchub kernels publish /home/lsst/desi.yaml", "lsst")
    assert out.code == 2, out.output
    assert "run this as the desi collaboration account" in out.output, out.output
    assert sh(releases, f"ls {ROOT}/desi/current/kernels", "bob").code != 0


def kernel_names(user: HubUser, server: str) -> dict[str, str]:
    resp = user.server_get(server, "api/kernelspecs")
    assert resp.status_code == 200, resp.text
    return {name: ks["spec"]["display_name"] for name, ks in resp.json()["kernelspecs"].items()}


@pytest.fixture(scope="module")
def users(releases):
    people = {name: HubUser(releases, name) for name in ("alice", "bob", "dave")}
    for person in people.values():
        person.stop("kernels")
        person.start("kernels", {"profile": "shared"})
    yield people
    for person in people.values():
        person.stop("kernels")
        person.stop("kernels-batch")


def test_users_see_their_collaborations_kernels_only(users):
    alice, bob, dave = (kernel_names(users[n], "kernels") for n in ("alice", "bob", "dave"))
    assert {"desi-26.1", "desi-26.3", "desi-current", "python3"} <= set(alice)
    assert alice["desi-current"] == "DESI (current: DESI 26.1)"
    assert not any(name.startswith("desi") for name in bob)
    assert set(dave) == {"python3"}


def test_a_member_added_in_ldap_gets_the_kernels_at_next_login_and_loses_them_after(users):
    dave = users["dave"]
    with member_of(dave.testbed, "dave", "desi"):
        dave.stop("kernels")  # his next server, with no restart of the hub or the nodes
        dave.start("kernels", {"profile": "shared"})
        assert {"desi-26.1", "desi-26.3", "desi-current"} <= set(kernel_names(dave, "kernels"))
        assert dave.run_code("kernels", VERSION_CODE, kernel="desi-26.3").split()[0] == "26.3"
    dave.stop("kernels")
    dave.start("kernels", {"profile": "shared"})
    assert set(kernel_names(dave, "kernels")) == {"python3"}
    assert sh(dave.testbed, f"ls {ROOT}/desi/current/kernels", "dave").code != 0


def test_each_release_runs_its_own_environment_on_shared_and_batch_nodes(users):
    alice = users["alice"]
    for version in ("26.1", "26.3"):
        out = alice.run_code("kernels", VERSION_CODE, kernel=f"desi-{version}").split()
        assert out == [version, f"{ENVS}/{version}"]
    alice.start("kernels-batch", {"profile": "cpu"})
    where = "import socket, desiver; print(socket.gethostname(), desiver.__version__)"
    host, version = alice.run_code("kernels-batch", where, kernel="desi-26.3").split()
    assert host.startswith("c") and version == "26.3"


def test_promote_deprecate_rollback_retire_change_what_users_see(users):
    alice = users["alice"]
    assert desi(users["alice"].testbed, "promote", "desi", "26.3").code == 0
    assert kernel_names(alice, "kernels")["desi-current"] == "DESI (current: DESI 26.3)"
    assert alice.run_code("kernels", VERSION_CODE, kernel="desi-current").split()[0] == "26.3"
    bed = alice.testbed
    assert desi(bed, "rollback", "desi").code == 0
    assert kernel_names(alice, "kernels")["desi-current"] == "DESI (current: DESI 26.1)"
    assert desi(bed, "promote", "desi", "26.3").code == 0
    assert desi(bed, "deprecate", "desi", "26.1").code == 0
    assert kernel_names(alice, "kernels")["desi-26.1"] == "DESI 26.1 (deprecated: use DESI 26.3)"
    assert desi(bed, "retire", "desi", "26.1").code == 0
    assert kernel_names(alice, "kernels")["desi-26.1"] == "DESI 26.1 (retired)"
    with pytest.raises(RuntimeError, match="DESI 26.1 was retired on .*Use DESI 26.3"):
        alice.run_code("kernels", "print(1)", kernel="desi-26.1")
    history = desi(bed, "history", "desi").output.splitlines()
    assert [line.split()[2] for line in history] == [
        "publish", "publish", "promote", "rollback", "promote", "deprecate", "retire"]
    assert all(line.split()[1] == "desi" for line in history)


MODULES = "/global/common/software/modulefiles"
MODULE_CODE = ("import desiver, os, subprocess, sys\n"
               "print(desiver.__version__, sys.prefix, os.environ['LOADEDMODULES'])\n"
               "print(subprocess.run([os.environ['LMOD_CMD'], 'bash', 'list'], capture_output=True,"
               " text=True).stderr)")


def modules_spec(testbed, version: str, module: str) -> str:
    path = f"{WORK}/{version}-modules.yaml"
    write(testbed, path, f"collaboration: desi\nversion: \"{version}\"\ndisplay_name: DESI {version}\n"
          f"environment: {{kind: modules, modules: [{module}], python: python3}}\n"
          "smoke_imports: [desiver]\n")
    return path


def test_a_modules_release_loads_its_lmod_module_on_shared_and_batch_nodes(users):
    """DESI's way: the release is `module load desiconda/26.5` (Debian's Lmod, a module tree on
    the shared software area that the desi account maintains)."""
    alice, bed = users["alice"], users["alice"].testbed
    env = make_env(bed, "26.5")
    write(bed, f"{MODULES}/desi/desiconda/26.5.lua",
          'whatis("DESI software stack 26.5 (testbed)")\n'
          f'prepend_path("PATH", "{env}/bin")\nsetenv("DESICONDA_VERSION", "26.5")')
    out = desi(bed, "publish", modules_spec(bed, "26.5", "desiconda/26.5").rsplit("/", 1)[1])
    assert out.code == 0 and "desi-26.5: validation PASSED" in out.output, out.output
    assert "slurm (c" in out.output  # also validated on a compute node
    for server in ("kernels", "kernels-batch"):
        if not alice.server(server):
            alice.start(server, {"profile": "shared" if server == "kernels" else "cpu"})
        printed = alice.run_code(server, MODULE_CODE, kernel="desi-26.5")
        first, listing = printed.split("\n", 1)
        assert first.split() == ["26.5", env, "desiconda/26.5"], printed
        assert "Currently Loaded Modules" in listing and "desiconda/26.5" in listing, printed


@pytest.mark.parametrize("version, modulefile, said", [
    ("26.6", None, "module(s) are unknown"),  # no such module
    ("26.7", 'LmodError("desiconda 26.7 is withdrawn: use 26.5")', "desiconda 26.7 is withdrawn"),
])
def test_a_module_that_is_missing_or_fails_to_load_fails_validation_in_words(
        releases, version, modulefile, said):
    if modulefile:
        write(releases, f"{MODULES}/desi/desiconda/{version}.lua", modulefile)
    before = registry_snapshot(releases)
    out = desi(releases, "validate", modules_spec(releases, version, f"desiconda/{version}")
               .rsplit("/", 1)[1])
    assert out.code != 0 and said in out.output, out.output
    assert f"module load desiconda/{version} failed" in out.output, out.output
    assert registry_snapshot(releases) == before


def test_a_collaborations_modules_release_loads_only_its_own_modules(users):
    """DESI's maintainer plants a module named like one of LSST's release (``auditpipe/1.0``, in
    the DESI tree, which comes first on the nodes' MODULEPATH). carol, in both collaborations,
    still gets LSST's module in LSST's kernel, on the shared node and on a batch node."""
    bed = users["alice"].testbed
    who = "import os; print('WHO', os.environ.get('WHO'), os.environ['MODULEPATH'])"
    for owner in ("lsst", "desi"):
        write(bed, f"{MODULES}/{owner}/auditpipe/1.0.lua",
              f'prepend_path("PATH", "/opt/hpchub/venv/bin")\nsetenv("WHO", "{owner}")', owner)
    work = "/home/lsst/releases"
    write(bed, f"{work}/w.2026.50.yaml", "collaboration: lsst\nversion: w.2026.50\n"
          "display_name: LSST DESC w.2026.50\n"
          "environment: {kind: modules, modules: [auditpipe/1.0], python: python3}\n"
          "smoke_imports: [json]\n", "lsst")
    out = sh(bed, f"cd {work} && hpchub kernels publish w.2026.50.yaml", "lsst")
    assert out.code == 0 and "validation PASSED" in out.output, out.output
    carol = HubUser(bed, "carol")
    try:
        for server, profile in (("kernels", "shared"), ("kernels-batch", "debug")):
            carol.stop(server)
            carol.start(server, {"profile": profile})
            printed = carol.run_code(server, who, kernel="lsst-w.2026.50").split()
            assert printed[:2] == ["WHO", "lsst"], printed
            assert "/desi" not in printed[2], printed
    finally:
        carol.stop("kernels")
        carol.stop("kernels-batch")
        sh(bed, f"rm -rf {MODULES}/desi/auditpipe")


IMAGES = "/global/common/software/containers/desi"
IMAGE_TAG = "hpchub/test-desi-kernel"
CONTAINER_CODE = ("import numpy, os, socket\n"
                  "cg = [l.split(':', 2)[2].strip() for l in open('/proc/self/cgroup') if ':cpuset:' in l]\n"
                  "print(open('/etc/hpchub-image').read().strip(), numpy.__version__,"
                  " os.path.exists('/opt/hpchub'), socket.gethostname(), os.getcwd(), cg[0])")


def container_spec(testbed, version: str, image: str, python: str = "python3") -> str:
    write(testbed, f"{WORK}/{version}-container.yaml",
          f"collaboration: desi\nversion: \"{version}\"\ndisplay_name: DESI {version} (container)\n"
          f"environment: {{kind: container, runtime: podman, image: {image}, python: {python}}}\n"
          "smoke_imports: [numpy]\n")
    return f"{version}-container.yaml"


@pytest.fixture(scope="module")
def kernel_image(releases) -> str:
    """An example image built with the host's Docker (Debian's Python, ipykernel and numpy),
    saved, copied to login1 and unpacked there by the desi account."""
    bed, archive, image = releases, "/home/desi/desi-kernel.tar", f"{IMAGES}/desi-26.8"
    bed.cli.images.build(path=str(Path(__file__).parent / "images"), tag=IMAGE_TAG, rm=True,
                         dockerfile="desi-kernel.Dockerfile")
    with subprocess.Popen(["docker", "save", IMAGE_TAG], stdout=subprocess.PIPE) as save:
        copy = subprocess.run(["docker", "exec", "-i", bed.container_name("login1"), "runuser",
                               "-u", "desi", "--", "sh", "-c", f"cat > {archive}"],
                              stdin=save.stdout, capture_output=True, text=True)
    assert save.returncode == 0 and copy.returncode == 0, copy.stderr
    assert sh(bed, f"rm -rf {image} && hpchub kernels setup >/dev/null").code == 0
    out = desi(bed, "unpack-image", archive, image)
    assert out.code == 0 and f"image: {image}" in out.output, out.output
    assert sh(bed, f"rm {archive}").code == 0
    return image


def test_a_container_release_runs_inside_its_image_on_shared_and_batch_nodes(users, kernel_image):
    """podman from Debian, rootless, on an image directory the desi account unpacked."""
    alice, bed = users["alice"], users["alice"].testbed
    out = desi(bed, "publish", container_spec(bed, "26.8", kernel_image))
    assert out.code == 0 and "desi-26.8: validation PASSED" in out.output, out.output
    assert "local (login1)" in out.output and "slurm (c" in out.output, out.output
    image_numpy = sh(bed, f"ls {kernel_image}/usr/lib/python3/dist-packages | grep '^numpy-'").output
    for server, node in (("kernels", "login1"), ("kernels-batch", "c")):
        if not alice.server(server):
            alice.start(server, {"profile": "shared" if server == "kernels" else "cpu"})
        words = alice.run_code(server, CONTAINER_CODE, kernel="desi-26.8").split()
        assert words[:2] == ["desi-image", "26.8"], words  # the image's own file
        assert f"numpy-{words[2]}" in image_numpy, (words, image_numpy)  # the image's numpy
        assert words[3] == "False"  # the node's runtime (/opt/hpchub) is not in the image
        assert words[4].startswith(node) and words[5] == "/home/alice", words
        if server == "kernels":  # still in alice's own cgroup: her shared-node limits hold
            assert words[6].endswith("/hpchub/alice"), words
    # The kernel's processes (podman's conmon, the containerised Python) end with it.
    left = sh(bed, f"sleep 2; pgrep -u alice -af '{kernel_image}' || true").output
    assert kernel_image not in left, left


def test_a_kernel_starts_whatever_another_user_left_in_tmp(users, kernel_image):
    """bob makes the folder podman would have used for alice's state in /tmp on login1 first;
    alice's container kernel still starts (its state is not in a place others can take)."""
    alice, bed = users["alice"], users["alice"].testbed
    if "desi-26.8" not in kernel_names(alice, "kernels"):  # run alone: publish it here
        assert desi(bed, "publish", container_spec(bed, "26.8", kernel_image)).code == 0
    squat = "mkdir -p -m 777 /tmp/hpchub-podman-2001 /tmp/podman-run-2001 /tmp/containers-user-2001"
    assert sh(bed, squat, "bob").code == 0
    try:
        printed = alice.run_code("kernels", "print(open('/etc/hpchub-image').read())",
                                 kernel="desi-26.8")
        assert printed.strip() == "desi-image 26.8", printed
    finally:
        sh(bed, "rm -rf /tmp/hpchub-podman-2001 /tmp/podman-run-2001 /tmp/containers-user-2001")


def test_a_missing_image_or_a_runtime_that_refuses_fails_validation_in_words(releases, kernel_image):
    before = registry_snapshot(releases)
    out = desi(releases, "validate", container_spec(releases, "26.9", f"{IMAGES}/desi-26.9"))
    assert out.code != 0 and "is not an image directory made by `hpchub kernels unpack-image` " \
        "(it does not exist)" in out.output, out.output
    out = desi(releases, "validate", container_spec(releases, "26.10", kernel_image, "python9"))
    assert out.code != 0 and "validation FAILED" in out.output, out.output
    assert "the kernel's launcher said" in out.output and "python9" in out.output, out.output
    assert registry_snapshot(releases) == before


@contextlib.contextmanager
def published_with_image_away(users, image: str):
    """desi-26.8 published (by an earlier test, or now), its image moved away meanwhile."""
    alice, bed = users["alice"], users["alice"].testbed
    if "desi-26.8" not in kernel_names(alice, "kernels"):
        assert desi(bed, "publish", container_spec(bed, "26.8", image)).code == 0
    assert sh(bed, f"mv {image} {image}.away", "desi").code == 0
    try:
        yield alice, bed
    finally:
        assert sh(bed, f"mv {image}.away {image}", "desi").code == 0


def test_a_kernel_whose_launcher_fails_in_a_members_server_says_why(users, kernel_image):
    """The image of a published release goes missing: JupyterLab's kernel start fails with the
    launcher's words (not a kernel that silently dies), and works again once it is back."""
    session = {"path": "broken.ipynb", "name": "broken.ipynb", "type": "notebook",
               "kernel": {"name": "desi-26.8"}}
    with published_with_image_away(users, kernel_image) as (alice, _):
        resp = alice.api.post(f"{alice.base}/user/alice/kernels/api/sessions", json=session,
                              timeout=120)
    assert resp.status_code == 500, resp.text
    message = " ".join(resp.json()["message"].split())
    assert message.startswith("DESI 26.8 (container) could not start on login1. Its launcher "
                              f"said: hpchub: the image {kernel_image} of this kernel is missing"), message
    assert "kernel maintainers" in message
    assert alice.run_code("kernels", "print(open('/etc/hpchub-image').read())",
                          kernel="desi-26.8").strip() == "desi-image 26.8"


def test_jupyterlab_shows_why_a_kernel_cannot_start(users, kernel_image):
    """In Chromium: alice opens a notebook with DESI 26.8 while its image is missing."""
    from test_browser import ARTIFACTS, chromium, log_in

    with published_with_image_away(users, kernel_image) as (_, bed), chromium() as page:
        try:
            log_in(page, bed, "alice")
            page.goto(f"{bed.hub_url}/user/alice/kernels/lab?reset")
            page.locator(".jp-Launcher").get_by_text("DESI 26.8 (container)", exact=True).first.click()
            dialog = page.locator(".jp-Dialog")
            expect(dialog).to_contain_text("DESI 26.8 (container) could not start on login1.",
                                           timeout=90_000)
            expect(dialog).to_contain_text(f"the image {kernel_image} of this kernel is missing")
            page.screenshot(path=ARTIFACTS / "kernel-launcher-failed.png")
        finally:
            sh(bed, "rm -f /home/alice/Untitled*.ipynb", "alice")
