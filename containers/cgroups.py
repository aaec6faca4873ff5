"""Host-side cgroup directories that node containers manage.

Docker mounts a container's own cgroups read-only. Two kinds of node need to make cgroups:
a shared node one per user (``hpchub-confine``: cpuset and memory), a compute node one per
job (Slurm's ``proctrack/cgroup``: freezer). The testbed makes a directory per node in the
host's cgroup v1 hierarchy of each controller the node needs and bind-mounts it, writable,
at the node's cgroup root. That directory is all the container can change: nothing above it,
no other controller (never ``devices``), no other container's cgroups.
"""

from __future__ import annotations

from pathlib import Path

HOST = Path("/sys/fs/cgroup")
SHARED_NODE = ("cpuset", "memory")
COMPUTE_NODE = ("freezer",)
EVERY_CONTROLLER = ("cpuset", "memory", "freezer")


class CgroupsUnavailable(RuntimeError):
    """The host lacks a writable cgroup v1 hierarchy that a node needs."""


def node_dirs(project: str, node: str, controllers: tuple[str, ...]) -> dict[str, Path]:
    return {c: HOST / c / f"hpchub-{project}-{node}" for c in controllers}


def ensure(project: str, node: str, controllers: tuple[str, ...]) -> dict[str, Path]:
    """Make (or keep) the node's directories; a new cpuset gets all of the host's CPUs."""
    missing = [c for c in controllers if not (HOST / c / "cgroup.procs").exists()]
    if missing:
        raise CgroupsUnavailable(
            f"node {node} needs the host's cgroup v1 {' and '.join(missing)} hierarchy under "
            f"{HOST} (this host has none): shared nodes enforce per-user CPU and memory limits "
            "with cpuset and memory, compute nodes track each job's processes with freezer")
    dirs = node_dirs(project, node, controllers)
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
    for controller in EVERY_CONTROLLER:
        for top in (HOST / controller).glob(f"hpchub-{project}-*"):
            for path in sorted(top.rglob("*"), key=lambda p: -len(p.parts)) + [top]:
                if path.is_dir():
                    try:
                        path.rmdir()
                    except OSError:
                        pass
