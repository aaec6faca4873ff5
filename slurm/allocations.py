"""How much of an account's allocation is left: its ``GrpTRESMins`` node limit (slurmdbd)
less the node-minutes its jobs have used since the allocation period began.

Usage is summed from slurmdbd's job records (a running job counts for the time it has run),
the way centers charge allocations; it equals Slurm's own count where usage does not decay
(``PriorityDecayHalfLife=0``). Both backends read the same records: slurmrestd 22.05 does not
serve slurmctld's usage figures.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime

NODE_LIMIT = re.compile(r"(?:^|,)node=(\d{1,12})(?:,|$)")


@dataclass(frozen=True)
class Allocation:
    """An account's node-minute limit and what its jobs used of it."""

    account: str
    limit_node_minutes: int
    used_node_minutes: float

    @property
    def limit_node_hours(self) -> float:
        return self.limit_node_minutes / 60

    @property
    def left_node_hours(self) -> float:
        return max(0.0, self.limit_node_minutes - self.used_node_minutes) / 60


def node_limit(grp_tres_mins: str) -> int | None:
    """``GrpTRESMins`` as sacctmgr prints it (``cpu=100,node=600``) -> 600 (None: no node limit)."""
    match = NODE_LIMIT.search(grp_tres_mins.strip())
    return int(match.group(1)) if match else None


def period_start(now: float, month_day: str) -> datetime:
    """The last ``MM-DD`` (local time) at or before ``now``: when the allocation year began."""
    month, day = (int(part) for part in month_day.split("-"))
    today = datetime.fromtimestamp(now)
    start = today.replace(month=month, day=day, hour=0, minute=0, second=0, microsecond=0)
    return start if start <= today else start.replace(year=start.year - 1)


def node_minutes(jobs: list[tuple[int, float]]) -> float:
    """Sum of nodes × minutes over (nodes, seconds run) pairs."""
    return sum(max(0, nodes) * max(0.0, seconds) for nodes, seconds in jobs) / 60


def parse_sacct_usage(text: str) -> list[tuple[int, float]]:
    """``sacct -n -P -X -o NNodes,ElapsedRaw`` -> (nodes, seconds) per job."""
    out = []
    for line in text.splitlines():
        nodes, _, seconds = line.strip().partition("|")
        if nodes.isdigit() and seconds.isdigit():
            out.append((int(nodes), float(seconds)))
    return out


def parse_account_limit(text: str) -> int | None:
    """``sacctmgr -n -P show assoc where account=A format=user,grptresmins`` -> the account's
    own row's node limit (the row with no user)."""
    for line in text.splitlines():
        user, _, limits = line.strip().partition("|")
        if not user:
            return node_limit(limits)
    return None


def iso(moment: datetime) -> str:
    """The time format sacct and slurmrestd's ``start_time`` accept."""
    return moment.strftime("%Y-%m-%dT%H:%M:%S")
