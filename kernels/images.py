"""Unpack a container image archive into an image directory that podman kernels run read-only.

Rootless podman can't use another user's image store (its layers belong to IDs the member's
single-ID user namespace does not map), so a collaboration's image is kept as a plain directory
tree on the shared software area and run with ``podman run --rootfs``. Runs as the kernel
maintainer, on a login node.
"""

from __future__ import annotations

import os
import shutil
import stat
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

from .release import ReleaseError

# Files and directories podman bind-mounts over on a read-only root; a member cannot create
# them in a tree that belongs to the maintainers.
MOUNTPOINT_FILES = ("etc/hosts", "etc/hostname", "etc/resolv.conf", "run/.containerenv")
MOUNTPOINT_DIRS = ("proc", "sys", "dev", "tmp", "run", "run/hpchub-kernel")
# Inside a kernel's container the connection file's folder is bound here (see launcher.py).
KERNEL_RUNTIME_DIR = "/run/hpchub-kernel"
# How podman runs on nodes without systemd or journald (here and in kernels' launchers).
NODE_FLAGS = ("--cgroup-manager=cgroupfs", "--events-backend=none")


@dataclass
class Unpacked:
    path: Path
    image: str
    files: int
    size: int
    cleared_setid: list[str]


def podman_argv(work: Path, *argv: str) -> list[str]:
    """``podman`` on a private vfs store under ``work``: nothing of the user's own is touched.
    Its run directory is ``work/run``, a link to a short path (podman refuses one over 50
    characters)."""
    return ["podman", "--root", str(work / "root"), "--runroot", os.readlink(work / "run"),
            "--tmpdir", str(work / "tmp"), "--storage-driver", "vfs",
            "--storage-opt", "vfs.ignore_chown_errors=true", *NODE_FLAGS, "--log-level", "error",
            *argv]


def podman_env(work: Path) -> dict[str, str]:
    return {**os.environ, "XDG_RUNTIME_DIR": os.readlink(work / "run")}


def podman(work: Path, *argv: str) -> str:
    done = subprocess.run(podman_argv(work, *argv), capture_output=True, text=True, check=False,
                          env=podman_env(work))
    if done.returncode:
        raise ReleaseError(f"podman {argv[0]} failed: {done.stderr.strip()[-600:]}")
    return done.stdout


def unpack(archive: Path, dest: Path) -> Unpacked:
    """Load ``archive`` (``docker save`` / ``podman save`` output), export its file system into
    ``dest``, made readable by the group and without setuid/setgid bits."""
    if not shutil.which("podman"):
        raise ReleaseError("podman is not installed on this node: unpack images on a login node")
    if not archive.is_file():
        raise ReleaseError(f"{archive} does not exist (make it with `docker save IMAGE -o FILE` "
                           "or `podman save IMAGE -o FILE`)")
    if dest.exists() or dest.is_symlink():
        raise ReleaseError(f"{dest} exists already: images are immutable, unpack under a new name")
    if not os.access(dest.parent, os.W_OK | os.X_OK):
        raise ReleaseError(f"you cannot write to {dest.parent} (is `hpchub kernels setup` done, "
                           "and are you logged in as the collaboration's account?)")
    work = dest.parent / f".{dest.name}.unpacking-{os.getpid()}"
    try:
        work.mkdir()
        for sub in ("root", "tmp"):
            (work / sub).mkdir()
        (work / "run").symlink_to(tempfile.mkdtemp(prefix="hpchub-unpack-"))
        loaded = podman(work, "load", "--quiet", "--input", str(archive))
        images = podman(work, "images", "--quiet", "--no-trunc").split()
        if len(set(images)) != 1:
            raise ReleaseError(f"{archive} holds {len(set(images))} images; save exactly one")
        container = podman(work, "create", images[0], "true").strip()
        rootfs = work / "rootfs"
        rootfs.mkdir()
        with subprocess.Popen(podman_argv(work, "export", container), stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, env=podman_env(work)) as export:
            tar = subprocess.run(["tar", "--extract", "--directory", str(rootfs),
                                  "--no-same-owner", "--exclude", "dev/*"],
                                 stdin=export.stdout, capture_output=True, check=False)
            export.stdout.close()
            said = export.stderr.read() + tar.stderr
        if export.returncode or tar.returncode:
            raise ReleaseError(f"exporting the image failed: {said.decode(errors='replace')[-600:]}")
        cleared = make_shareable(rootfs)
        add_mountpoints(rootfs)
        files, size = tree_size(rootfs)
        rootfs.rename(dest)
        return Unpacked(dest, loaded.strip().removeprefix("Loaded image: "), files, size, cleared)
    finally:
        if (work / "run").is_symlink():
            shutil.rmtree(os.readlink(work / "run"), ignore_errors=True)
        if work.exists():
            for path in work.rglob("*"):  # vfs layers keep the image's read-only modes
                if path.is_dir() and not path.is_symlink():
                    path.chmod(stat.S_IMODE(path.lstat().st_mode) | stat.S_IRWXU)
            shutil.rmtree(work, ignore_errors=True)


def make_shareable(rootfs: Path) -> list[str]:
    """Group gets what the owner has, minus write; setuid/setgid bits are cleared. Returns the
    files whose bits were cleared."""
    cleared = []
    for path in [rootfs, *rootfs.rglob("*")]:
        mode = path.lstat().st_mode
        if stat.S_ISLNK(mode):
            continue
        bits = stat.S_IMODE(mode)
        new = bits & ~(stat.S_ISUID | stat.S_ISGID)
        if stat.S_ISREG(mode) and new != bits:
            cleared.append("/" + str(path.relative_to(rootfs)))
        owner = (bits >> 6) & 0o5
        new |= stat.S_IRUSR | (owner << 3) | (stat.S_IXUSR if stat.S_ISDIR(mode) else 0)
        new |= stat.S_IRGRP | (stat.S_IXGRP if stat.S_ISDIR(mode) else 0)
        if new != bits:
            path.chmod(new)
    return sorted(cleared)


def add_mountpoints(rootfs: Path, home: Path | None = None) -> None:
    """What podman mounts over, and the top directory of home directories (that of ``home``,
    by default the caller's own) where a kernel's launcher binds it."""
    top = (home or Path.home()).parts[1]
    for name in (*MOUNTPOINT_DIRS, top):
        (rootfs / name).mkdir(mode=0o755, exist_ok=True)
    for name in MOUNTPOINT_FILES:
        target = rootfs / name
        if not target.exists() and not target.is_symlink():
            target.parent.mkdir(mode=0o755, parents=True, exist_ok=True)
            target.touch(mode=0o644)
    mtab = rootfs / "etc/mtab"
    if not mtab.exists() and not mtab.is_symlink():
        mtab.symlink_to("../proc/self/mounts")


def tree_size(rootfs: Path) -> tuple[int, int]:
    files = size = 0
    for path in rootfs.rglob("*"):
        st = path.lstat()
        if stat.S_ISREG(st.st_mode):
            files += 1
            size += st.st_size
    return files, size


def looks_unpacked(image: Path) -> bool:
    """Whether ``image`` is a directory this module made."""
    return image.is_dir() and all((image / name).exists() for name in MOUNTPOINT_FILES)
