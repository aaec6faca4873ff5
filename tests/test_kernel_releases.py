"""Kernel releases without a cluster: spec checks, launcher text, registry state and views."""

from __future__ import annotations

import json
import multiprocessing
import os
import stat
import subprocess
from pathlib import Path

import pytest

from hpchub.kernels.images import add_mountpoints, looks_unpacked, make_shareable
from hpchub.kernels.launcher import launch_script
from hpchub.kernels.registry import Registry
from hpchub.kernels.release import ReleaseError, ReleaseSpec, load_spec
from hpchub.kernels.validate import format_report, preflight
from hpchub.kernels.visible import CollaborationKernelSpecManager, collaboration_kernels

GOOD = """\
collaboration: desi
version: "26.3"
display_name: DESI 26.3
environment: {kind: venv, prefix: PREFIX}
env: {DESI_ROOT: "/global/cfs/cdirs/desi"}
smoke_imports: [json]
"""


def write_spec(tmp_path: Path, text: str = GOOD, name: str = "spec.yaml") -> Path:
    prefix = tmp_path / "env"
    (prefix / "bin").mkdir(parents=True, exist_ok=True)
    python = prefix / "bin" / "python"
    python.write_text("#!/bin/sh\n")
    python.chmod(0o755)
    path = tmp_path / name
    path.write_text(text.replace("PREFIX", str(prefix)))
    return path


@pytest.mark.parametrize("change, message", [
    (("version: \"26.3\"", "version: \"26 3\""), "version"),
    (("kind: venv", "kind: docker"), "environment.kind"),
    (("collaboration: desi", "collaboration: DESI!"), "collaboration"),
    (("DESI_ROOT", "1BAD"), "environment variable name"),
    (("smoke_imports: [json]", "smoke_imports: ['os; rm -rf /']"), "not a Python module name"),
    (("display_name: DESI 26.3", "colour: blue"), "display_name"),
])
def test_bad_specs_name_the_key(tmp_path, change, message):
    path = write_spec(tmp_path, GOOD.replace(*change))
    with pytest.raises(ReleaseError, match=message):
        load_spec(path)


def test_malformed_yaml_and_missing_file_are_clear(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("collaboration: [desi\n")
    with pytest.raises(ReleaseError, match="not valid YAML"):
        load_spec(bad)
    with pytest.raises(ReleaseError, match="cannot read release spec"):
        load_spec(tmp_path / "nope.yaml")


def test_missing_prefix_fails_before_any_kernel_starts(tmp_path):
    loaded = load_spec(write_spec(tmp_path, GOOD.replace("PREFIX", "/nonexistent/env")))
    with pytest.raises(ReleaseError, match="/nonexistent/env does not exist"):
        preflight(loaded)


def test_suite_globs_and_exclusions(tmp_path):
    (tmp_path / "nb").mkdir()
    for name in ("a.ipynb", "b.ipynb", "slow_c.ipynb", "notes.txt"):
        (tmp_path / "nb" / name).write_text("{}")
    text = GOOD + "suite: {notebooks: ['nb/*'], exclude: ['nb/slow_*'], timeout_s: 60}\n"
    loaded = load_spec(write_spec(tmp_path, text))
    assert [Path(p).name for p in preflight(loaded)] == ["a.ipynb", "b.ipynb"]
    text = GOOD + "suite: {notebooks: ['none/*.ipynb']}\n"
    with pytest.raises(ReleaseError, match="no notebook matches"):
        preflight(load_spec(write_spec(tmp_path, text, "s2.yaml")))


HOSTILE = "$(touch /tmp/pwned) `id` \"quoted\" 'single' ; && |"


@pytest.mark.parametrize("kind, extra", [
    ("venv", {"prefix": "/opt/env"}),
    ("conda", {"prefix": "/opt/conda"}),
    ("modules", {"modules": ["python/3.11", "desiconda/26.3"]}),
    ("container", {"image": "/images/desi.sif", "runtime": "apptainer"}),
    ("container", {"image": "registry.nersc.gov/desi:26.3", "runtime": "podman-hpc"}),
    ("container", {"image": "docker:desi/desi:26.3", "runtime": "shifter"}),
])
def test_launcher_is_valid_sh_and_quotes_every_value(tmp_path, kind, extra):
    spec = ReleaseSpec(collaboration="desi", version="26.3", display_name="DESI",
                       environment={"kind": kind, **extra}, env={"EVIL": HOSTILE})
    script = launch_script(spec, ("/mods/desi",))
    path = tmp_path / "launch.sh"
    path.write_text(script)
    assert subprocess.run(["sh", "-n", str(path)]).returncode == 0
    assert script.rstrip().splitlines()[-1].startswith("exec ")
    assert '-m ipykernel_launcher -f "$1"' in script
    # The hostile value is exported verbatim, never evaluated: check with the real shell.
    probe = script.replace(script.rstrip().splitlines()[-1], 'printf %s "$EVIL"')
    # (no environment modules here: a `module` that does nothing stands in for Lmod's)
    path.write_text(probe.replace("set -e", "set -e\nmodule() { :; }", 1))
    out = subprocess.run(["sh", str(path), "x"], capture_output=True, text=True)
    assert out.stdout == HOSTILE
    assert not Path("/tmp/pwned").exists()


def test_podman_launcher_binds_home_and_connection_file_and_starts_in_the_notebook_folder(tmp_path):
    """The argv podman gets, seen by a stand-in ``podman`` on PATH that prints it."""
    image = tmp_path / f"desi {HOSTILE}"
    spec = ReleaseSpec(collaboration="desi", version="26.8", display_name="DESI",
                       environment={"kind": "container", "runtime": "podman", "image": str(image)},
                       env={"EVIL": HOSTILE})
    home, runtime, bindir = tmp_path / "home", tmp_path / "run/user/5000/jupyter", tmp_path / "bin"
    top = "/" + home.parts[1]  # bound whole: the image has a mount point for it
    for d in (home / "project", runtime, bindir, image / top.lstrip("/")):
        d.mkdir(parents=True, exist_ok=True)
    (bindir / "podman").write_text('#!/bin/sh\nfor a in "$@"; do printf "%s\\n" "$a"; done\n')
    (bindir / "podman").chmod(0o755)
    (tmp_path / "launch.sh").write_text(launch_script(spec))

    def launch(cwd: Path, home: Path = home) -> subprocess.CompletedProcess:
        return subprocess.run(["sh", str(tmp_path / "launch.sh"), str(runtime / "kernel-1.json")],
                              cwd=cwd, capture_output=True, text=True,
                              env={"PATH": f"{bindir}:/usr/bin:/bin", "HOME": str(home)})

    def argv(cwd: Path) -> list[str]:
        return launch(cwd).stdout.splitlines()

    args = argv(home / "project")
    pairs = set(zip(args, args[1:], strict=False))
    assert ("--volume", f"{top}:{top}") in pairs
    assert ("--volume", f"{runtime}:/run/hpchub-kernel") in pairs
    assert ("--workdir", str(home / "project")) in pairs
    assert ("--rootfs", str(image)) in pairs
    assert ("--env", "EVIL") in pairs  # passed by name: its value never reaches podman's argv
    assert args[-2:] == ["-f", "/run/hpchub-kernel/kernel-1.json"]
    outside = argv(tmp_path)  # a notebook outside the home directory: the kernel starts at home
    assert ("--workdir", str(home)) in set(zip(outside, outside[1:], strict=False))
    elsewhere = launch(tmp_path, Path("/srv/homes/alice"))  # the image has no /srv to bind
    assert elsewhere.returncode == 1 and "has no /srv to mount your home directory on" in elsewhere.stderr
    assert not Path("/tmp/pwned").exists()


def registry(tmp_path: Path) -> Registry:
    root = tmp_path / "kernels"
    (root / "desi").mkdir(parents=True)
    return Registry(root, "desi", "DESI", "/opt/hpchub/venv/bin/python")


def publish(reg: Registry, tmp_path: Path, version: str) -> None:
    spec = write_spec(tmp_path, GOOD.replace("26.3", version), f"{version}.yaml")
    report = {"passed": True, "at": "now", "kernel": f"desi-{version}",
              "targets": [{"target": "local", "host": "h", "smoke": {"passed": True}, "suite": []}]}
    reg.publish(load_spec(spec), report, None)


def kernels(reg: Registry) -> dict[str, dict]:
    kdir = reg.current / "kernels"
    return {p.name: json.loads((p / "kernel.json").read_text()) for p in kdir.iterdir()}


def test_lifecycle_publish_promote_deprecate_retire_rollback(tmp_path):
    reg = registry(tmp_path)
    publish(reg, tmp_path, "26.1")
    assert kernels(reg)["desi-current"]["display_name"] == "DESI (current: DESI 26.1)"
    publish(reg, tmp_path, "26.3")
    assert reg.load()["default"] == "26.1"
    with pytest.raises(ReleaseError, match="already published"):
        publish(reg, tmp_path, "26.3")
    reg.promote("26.3")
    ks = kernels(reg)
    assert ks["desi-current"]["argv"][1].endswith("releases/26.3/launch.sh")
    with pytest.raises(ReleaseError, match="is the default"):
        reg.retire("26.3")
    reg.deprecate("26.1", None)
    assert kernels(reg)["desi-26.1"]["display_name"] == "DESI 26.1 (deprecated: use DESI 26.3)"
    assert reg.rollback() == "26.1"
    assert kernels(reg)["desi-current"]["argv"][1].endswith("releases/26.1/launch.sh")
    with pytest.raises(ReleaseError, match="no earlier default"):
        reg.rollback()
    publish(reg, tmp_path, "26.4")
    with pytest.raises(ReleaseError, match="only a published release"):
        reg.promote("26.1")
    reg.promote("26.4")
    reg.retire("26.1")
    retired = kernels(reg)["desi-26.1"]
    assert retired["display_name"] == "DESI 26.1 (retired)"
    assert "hpchub.kernels.tombstone" in retired["argv"]
    assert "Use DESI 26.3" in retired["argv"][-1] or "Use DESI 26.4" in retired["argv"][-1]
    actions = [e["action"] for e in reg.load()["history"]]
    assert actions == ["publish", "publish", "promote", "deprecate", "rollback", "publish",
                       "promote", "retire"]
    with pytest.raises(ReleaseError, match="no release '9.9'"):
        reg.promote("9.9")


def test_views_swap_atomically_and_old_views_are_pruned(tmp_path):
    reg = registry(tmp_path)
    for version in ("1", "2", "3", "4", "5"):
        publish(reg, tmp_path, version)
    assert reg.current.is_symlink()
    views = sorted(int(p.name) for p in (reg.dir / "views").iterdir())
    assert len(views) == 3 and os.readlink(reg.current) == f"views/{views[-1]}"
    assert set(kernels(reg)) == {f"desi-{v}" for v in "12345"} | {"desi-current"}


def _publish_in_child(args: tuple[str, str, int]) -> str:
    tmp, version, attempt = args
    try:  # each attempt writes its spec in its own folder, as each maintainer has their own
        publish(registry_at(Path(tmp)), Path(tmp) / f"w{attempt}", version)
        return "ok"
    except ReleaseError as exc:
        return str(exc)


def registry_at(tmp: Path) -> Registry:
    return Registry(tmp / "kernels", "desi", "DESI", "/opt/hpchub/venv/bin/python")


def test_concurrent_publishes_do_not_corrupt_the_registry(tmp_path):
    (tmp_path / "kernels" / "desi").mkdir(parents=True)
    versions = [str(v) for v in range(1, 9)] + ["8"] * 3  # three try to publish "8" again
    for attempt in range(len(versions)):
        (tmp_path / f"w{attempt}").mkdir()
    with multiprocessing.get_context("fork").Pool(6) as pool:
        results = pool.map(_publish_in_child, [(str(tmp_path), v, i) for i, v in enumerate(versions)])
    assert results.count("ok") == 8
    assert all("already published" in r for r in results if r != "ok")
    state = registry_at(tmp_path).load()
    assert sorted(state["releases"], key=int) == [str(v) for v in range(1, 9)]
    assert len(state["history"]) == 8
    assert set(kernels(registry_at(tmp_path))) == {f"desi-{v}" for v in range(1, 9)} | {"desi-current"}


def test_visible_kernels_follow_readability(tmp_path):
    reg = registry(tmp_path)
    publish(reg, tmp_path, "1")
    (tmp_path / "kernels" / "lsst").mkdir()  # no view yet: nothing listed
    assert collaboration_kernels(tmp_path / "kernels") == {
        "desi-1": str(reg.current / "kernels" / "desi-1"),
        "desi-current": str(reg.current / "kernels" / "desi-current")}
    assert collaboration_kernels(tmp_path / "missing") == {}


def test_a_view_yields_only_its_own_collaborations_kernels(tmp_path):
    """A maintainer who plants another collaboration's kernel names, or anything that is not a
    kernel, in their view changes nothing for members of both."""
    root = tmp_path / "kernels"
    for collab in ("desi", "desi-y1", "lsst"):
        kernels = root / collab / "current" / "kernels"
        for name in (f"{collab}-current", "lsst-current", "desi-y1-1", "python3"):
            (kernels / name).mkdir(parents=True, exist_ok=True)
            (kernels / name / "kernel.json").write_text(json.dumps(
                {"argv": ["x"], "display_name": f"{name} from {collab}", "language": "python"}))
        (root / collab / "current" / "labextensions" / "evil").mkdir(parents=True)
    found = collaboration_kernels(root)
    assert found == {"desi-current": str(root / "desi/current/kernels/desi-current"),
                     "desi-y1-1": str(root / "desi-y1/current/kernels/desi-y1-1"),
                     "desi-y1-current": str(root / "desi-y1/current/kernels/desi-y1-current"),
                     "lsst-current": str(root / "lsst/current/kernels/lsst-current")}
    manager = CollaborationKernelSpecManager(kernel_root=str(root), kernel_dirs=[])
    assert manager.get_kernel_spec("lsst-current").display_name == "lsst-current from lsst"
    assert set(manager.find_kernel_specs()) >= set(found)


def test_report_table_shows_each_notebook():
    report = {"kernel": "desi-26.3", "passed": False, "targets": [
        {"target": "slurm", "host": "c2", "smoke": {"passed": True, "seconds": 1.5, "version": "3.11",
                                                     "modules": {"numpy": "1.26"}},
         "suite": [{"notebook": "/x/a.ipynb", "passed": True, "seconds": 2.0},
                   {"notebook": "/x/b.ipynb", "passed": False, "seconds": 1.0,
                    "detail": "ZeroDivisionError: division by zero"}]}]}
    table = format_report(report)
    assert "a.ipynb" in table and "passed" in table
    assert [line.split()[3] for line in table.splitlines()[2:4]] == ["passed", "FAILED"]
    assert "ZeroDivisionError" in table and "validation FAILED" in table
    assert "numpy 1.26" in table


def test_logo_travels_with_the_release_into_the_view(tmp_path):
    reg = registry(tmp_path)
    png = b"\x89PNG\r\n\x1a\n" + b"\x00" * 32
    (tmp_path / "logo.png").write_bytes(png)
    spec = write_spec(tmp_path, GOOD + "logo: logo.png\n", "with-logo.yaml")
    reg.publish(load_spec(spec), {"passed": True, "targets": []}, None)
    for name in ("desi-26.3", "desi-current"):
        assert (reg.current / "kernels" / name / "logo-64x64.png").read_bytes() == png


def test_a_dead_kernels_launcher_is_quoted_by_its_error_paragraph_and_last_line():
    import io

    from hpchub.kernels.check import launcher_said

    lmod = (b'Lmod has detected the following error: The following module(s) are unknown:\n'
            b'"desiconda/26.6"\n\nPlease check the spelling or version number.\n\n'
            b'[IPKernelApp] WARNING | not this\n'
            b'hpchub: module load desiconda/26.6 failed (see above); this kernel cannot start\n')
    assert launcher_said(io.BytesIO(lmod)) == (
        'Lmod has detected the following error: The following module(s) are unknown: '
        '"desiconda/26.6" | hpchub: module load desiconda/26.6 failed (see above); '
        'this kernel cannot start')
    assert launcher_said(io.BytesIO(b"")) == ""


def test_an_unpacked_image_is_group_readable_without_setuid_and_has_podmans_mount_points(tmp_path):
    root = tmp_path / "rootfs"
    (root / "usr/bin").mkdir(parents=True)
    (root / "root").mkdir(mode=0o700)
    tool = root / "usr/bin/chsh"
    tool.write_text("")
    tool.chmod(0o4755)
    secret = root / "root/notes"
    secret.write_text("")
    secret.chmod(0o600)
    assert not looks_unpacked(root)
    assert make_shareable(root) == ["/usr/bin/chsh"]
    add_mountpoints(root)
    assert stat.S_IMODE(tool.stat().st_mode) == 0o755
    assert stat.S_IMODE((root / "root").stat().st_mode) & 0o050 == 0o050
    assert stat.S_IMODE(secret.stat().st_mode) & 0o040
    assert os.readlink(root / "etc/mtab") == "../proc/self/mounts"
    assert (root / "run/hpchub-kernel").is_dir() and looks_unpacked(root)


def test_a_podman_image_must_be_a_path():
    with pytest.raises(ValueError, match="absolute path"):
        ReleaseSpec(collaboration="desi", version="26.8", display_name="DESI",
                    environment={"kind": "container", "runtime": "podman", "image": "desi:26.8"})
