"""hpchub-confine's choices, on a directory laid out like a cgroup v1 tree (the real kernel
interface is exercised on the testbed's shared node, tests/testbed/test_security.py)."""

from __future__ import annotations

from hpchub.node.confine import Cgroups, choose_cpus, parse_cpus


def test_cpu_lists():
    assert parse_cpus("0-2,5\n") == [0, 1, 2, 5]
    assert choose_cpus([0, 1, 2, 3], [[0, 1]], 2) == [2, 3]
    assert choose_cpus([0, 1], [[0], [1]], 1) == [0]  # shared only when the node runs out
    assert choose_cpus([0, 1], [], 8) == [0, 1]


def fake_v1(root):
    for controller in ("cpuset", "memory"):
        (root / controller).mkdir(parents=True)
    (root / "cpuset" / "cpuset.effective_cpus").write_text("0-3\n")
    (root / "cpuset" / "cpuset.effective_mems").write_text("0\n")
    return root


class FakeCgroups(Cgroups):
    """Plain files stand in for the kernel's: a new directory starts with empty ones."""

    def confine(self, user, pid, cpus, memory_mb):
        for path in [self.root / "cpuset" / "hpchub", *self.dirs(user).values()]:
            path.mkdir(parents=True, exist_ok=True)
            for name in ("cpuset.cpus", "cpuset.mems", "cgroup.procs"):
                if not (path / name).exists():
                    (path / name).write_text("")
        return super().confine(user, pid, cpus, memory_mb)


def test_users_get_distinct_cpus_and_their_memory_share(tmp_path):
    groups = FakeCgroups(fake_v1(tmp_path))
    assert groups.confine("alice", 100, 2, 1024) == [0, 1]
    assert groups.confine("bob", 200, 2, 1024) == [2, 3]
    assert groups.confine("alice", 101, 2, 1024) == [0, 1]  # all of alice's servers share hers
    bob = tmp_path / "memory" / "hpchub" / "bob"
    assert (bob / "memory.limit_in_bytes").read_text() == str(1024 * 2**20)
    assert (bob / "cgroup.procs").read_text() == "200"
