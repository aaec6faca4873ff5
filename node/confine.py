"""``hpchub-confine``: put the calling user's process into their own cgroup on a shared node.

Runs as root through one sudoers rule on shared nodes (no arguments allowed)::

    ALL ALL=(root) NOPASSWD: /opt/hpchub/venv/bin/hpchub-confine ""

``hpchub-shared-launch`` calls it before it starts a server, so the server and every kernel
and terminal it starts share one per-user cgroup: the user's ``max_cpus_per_user`` CPUs (a
CPU set of their own, distinct from other users' where the node has enough CPUs) and
``max_memory_mb_per_user`` for all their processes together. The limits come from the site
config installed on the node, never from the caller; the process moved is the nearest
ancestor that belongs to the caller (sudo's ``SUDO_UID``). Leaving the cgroup, or widening
the CPU set with ``taskset``, needs root.

Layout under the node's ``cgroup_root``: cgroup v1 ``cpuset/hpchub/<user>`` and
``memory/hpchub/<user>``; cgroup v2 ``hpchub/<user>`` (``cpuset.cpus``, ``memory.max``).
"""

from __future__ import annotations

import fcntl
import os
import pwd
import socket
import sys
from collections import Counter
from pathlib import Path

from hpchub.site_configs import installed_site

PARENT = "hpchub"


def parse_cpus(text: str) -> list[int]:
    """``0-2,5`` -> [0, 1, 2, 5]."""
    cpus: list[int] = []
    for part in text.strip().split(","):
        if part:
            low, _, high = part.partition("-")
            cpus.extend(range(int(low), int(high or low) + 1))
    return cpus


def choose_cpus(available: list[int], taken: list[list[int]], n: int) -> list[int]:
    """The ``n`` CPUs fewest other users hold (lowest numbers first among equals).

    >>> choose_cpus([0, 1, 2, 3], [[0, 1]], 2), choose_cpus([0, 1], [[0], [1]], 1)
    ([2, 3], [0])
    """
    use = Counter(cpu for cpus in taken for cpu in cpus)
    return sorted(sorted(available, key=lambda c: (use[c], c))[: max(1, min(n, len(available)))])


def format_cpus(cpus: list[int]) -> str:
    return ",".join(str(c) for c in cpus)


class Cgroups:
    """The per-user cgroups below ``root`` (v1 cpuset + memory controllers, or v2)."""

    def __init__(self, root: Path):
        self.root = root
        self.v2 = (root / "cgroup.controllers").exists()

    def dirs(self, name: str) -> dict[str, Path]:
        if self.v2:
            return {"unified": self.root / PARENT / name}
        return {c: self.root / c / PARENT / name for c in ("cpuset", "memory")}

    def cpuset_dir(self, name: str) -> Path:
        return self.dirs(name)["unified" if self.v2 else "cpuset"]

    def prepare_parent(self) -> None:
        if self.v2:
            parent = self.root / PARENT
            parent.mkdir(exist_ok=True)
            for d in (self.root, parent):
                (d / "cgroup.subtree_control").write_text("+cpuset +memory")
            return
        cpuset = self.root / "cpuset" / PARENT
        cpuset.mkdir(exist_ok=True)
        for key in ("cpus", "mems"):
            if not (cpuset / f"cpuset.{key}").read_text().strip():
                (cpuset / f"cpuset.{key}").write_text(
                    (self.root / "cpuset" / f"cpuset.effective_{key}").read_text())
        (self.root / "memory" / PARENT).mkdir(exist_ok=True)

    def available_cpus(self) -> list[int]:
        if self.v2:
            return parse_cpus((self.root / PARENT / "cpuset.cpus.effective").read_text())
        return parse_cpus((self.root / "cpuset" / PARENT / "cpuset.cpus").read_text())

    def held_by_others(self, user: str) -> list[list[int]]:
        """CPU sets of other users' cgroups that still hold processes."""
        parent = self.cpuset_dir(user).parent
        taken = []
        for other in parent.iterdir():
            if other.is_dir() and other.name != user and (other / "cgroup.procs").read_text().strip():
                taken.append(parse_cpus((other / "cpuset.cpus").read_text()))
        return taken

    def confine(self, user: str, pid: int, cpus: int, memory_mb: int) -> list[int]:
        """Move ``pid`` into ``user``'s cgroup (made on first use); returns its CPUs."""
        self.prepare_parent()
        cpuset = self.cpuset_dir(user)
        busy = cpuset.exists() and (cpuset / "cgroup.procs").read_text().strip()
        chosen = (parse_cpus((cpuset / "cpuset.cpus").read_text()) if busy else
                  choose_cpus(self.available_cpus(), self.held_by_others(user), cpus))
        limit = str(memory_mb * 1024 * 1024)
        for controller, path in self.dirs(user).items():
            path.mkdir(exist_ok=True)
            if controller in ("cpuset", "unified"):
                if not self.v2:
                    (path / "cpuset.mems").write_text((path.parent / "cpuset.mems").read_text())
                (path / "cpuset.cpus").write_text(format_cpus(chosen))
            if controller == "memory":
                (path / "memory.limit_in_bytes").write_text(limit)
                if (path / "memory.memsw.limit_in_bytes").exists():  # no escape into swap
                    (path / "memory.memsw.limit_in_bytes").write_text(limit)
            if controller == "unified":
                (path / "memory.max").write_text(limit)
                (path / "memory.swap.max").write_text("0")
        for path in self.dirs(user).values():
            (path / "cgroup.procs").write_text(str(pid))
        return chosen


def callers_process(uid: int) -> int:
    """The nearest ancestor of this process that runs wholly as ``uid`` (sudo's caller; sudo
    itself has that real uid but runs as root, and is skipped)."""
    pid = os.getppid()
    while pid > 1:
        status = Path(f"/proc/{pid}/status").read_text()
        fields = dict(line.split(":", 1) for line in status.splitlines() if ":" in line)
        if {int(u) for u in fields["Uid"].split()} == {uid}:
            return pid
        pid = int(fields["PPid"])
    raise RuntimeError("no process of the calling user above this one")


def join() -> None:
    """The caller's side: move this process (and what it starts next) into the caller's own
    cgroup on this shared node, through the sudoers rule; ``RuntimeError`` says why not."""
    import subprocess

    helper = os.path.join(os.path.dirname(sys.executable), "hpchub-confine")
    done = subprocess.run(["sudo", "-n", helper], capture_output=True, text=True, timeout=30)
    if done.returncode:
        raise RuntimeError(done.stderr.strip()[-300:] or "hpchub-confine failed")


def on_shared_node() -> bool:
    return any(n.name == socket.gethostname() for n in installed_site().shared_nodes)


def main() -> None:
    if os.geteuid() != 0 or "SUDO_UID" not in os.environ or len(sys.argv) > 1:
        sys.exit("usage: sudo hpchub-confine (no arguments; run by hpchub-shared-launch)")
    uid = int(os.environ["SUDO_UID"])
    user = pwd.getpwuid(uid).pw_name
    site = installed_site()
    node = next((n for n in site.shared_nodes if n.name == socket.gethostname()), None)
    if node is None:
        sys.exit(f"hpchub-confine: {socket.gethostname()} is not a shared node of {site.name}")
    cgroups = Cgroups(Path(node.cgroup_root))
    lock = open("/run/hpchub-confine.lock", "w")  # noqa: SIM115 - held until exit
    fcntl.flock(lock, fcntl.LOCK_EX)
    try:
        cpus = cgroups.confine(user, callers_process(uid), node.max_cpus_per_user,
                               node.max_memory_mb_per_user)
    except OSError as exc:
        sys.exit(f"hpchub-confine: cannot use the cgroups under {node.cgroup_root}: {exc}")
    print(f"confined {user} to CPUs {format_cpus(cpus)} and {node.max_memory_mb_per_user} MB")


if __name__ == "__main__":
    main()
