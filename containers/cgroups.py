"""Host-side cgroup directories that shared-node containers manage for their users.

Docker mounts a container's own cgroups read-only. A shared node needs to make one cgroup per
user (``hpchub-confine``), so the testbed makes a directory per shared node in the host's
cgroup v1 ``cpuset`` and ``memory`` hierarchies and bind-mounts it, writable, at the node's
``cgroup_root``. That directory is all the container can change: nothing above it, no other
controller, no other container's cgroups.
"""

from __future__ import annotations

from pathlib import Path

HOST = Path("/sys/fs/cgroup")
CONTROLLERS = ("cpuset", "memory")


class CgroupsUnavailable(RuntimeError):
    """The host has no writable cgroup v1 cpuset and memory hierarchies."""


def node_dirs(project: str, node: str) -> dict[str, Path]:
    return {c: HOST / c / f"hpchub-{project}-{node}" for c in CONTROLLERS}


def ensure(project: str, node: str) -> dict[str, Path]:
    """Make (or keep) the node's directories; a new cpuset gets all of the host's CPUs."""
    if not all((HOST / c / "cgroup.procs").exists() for c in CONTROLLERS):
        raise CgroupsUnavailable(
            f"shared nodes need the host's cgroup v1 cpuset and memory hierarchies under {HOST} "
            "(this host has none): per-user CPU and memory limits cannot be enforced")
    dirs = node_dirs(project, node)
    for controller, path in dirs.items():
        path.mkdir(exist_ok=True)
        if controller == "cpuset":
            for key in ("cpus", "mems"):
                if not (path / f"cpuset.{key}").read_text().strip():
                    (path / f"cpuset.{key}").write_text((HOST / "cpuset" / f"cpuset.{key}").read_text())
    return dirs


def remove(project: str) -> None:
    """Remove every directory of the project's nodes (children first; their processes are
    gone with the containers)."""
    for controller in CONTROLLERS:
        for top in (HOST / controller).glob(f"hpchub-{project}-*"):
            for path in sorted(top.rglob("*"), key=lambda p: -len(p.parts)) + [top]:
                if path.is_dir():
                    try:
                        path.rmdir()
                    except OSError:
                        pass
