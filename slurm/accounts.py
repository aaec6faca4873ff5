"""What Slurm lets a user use: accounts and QOS (associations), and reservations."""

from __future__ import annotations

import re
import time

from .jobs import NAME

ASSOCIATIONS_TTL_S = 60.0


def parse_associations(text: str) -> dict[str, tuple[str, ...]]:
    """``sacctmgr -n -P show assoc where user=U format=account,qos`` -> {account: qos}."""
    out: dict[str, tuple[str, ...]] = {}
    for line in text.splitlines():
        account, _, qos = line.strip().partition("|")
        if NAME.fullmatch(account):
            out[account] = tuple(q for q in qos.split(",") if NAME.fullmatch(q))
    return out


def _allows(fields: dict[str, str], key: str, names: set[str]) -> bool | None:
    """Whether a reservation's ``Users=``/``Accounts=``/``Groups=`` list admits any of ``names``
    (None when the list is not set). ``-a,b`` means everyone except a and b."""
    value = fields.get(key, "(null)")
    if value in ("(null)", ""):
        return None
    excluded = value.startswith("-")
    listed = set(value.lstrip("-").split(","))
    return bool(names - listed) if excluded else bool(names & listed)


def reservation_fields(text: str) -> list[dict[str, str]]:
    """Each line of ``scontrol -o show reservation`` as {key: value}."""
    rows = []
    for line in text.splitlines():
        fields: dict[str, str] = {}
        for key, value in re.findall(r"(\w+)=(\S*)", line):
            fields.setdefault(key, value)  # a later "Users=" inside a comment changes nothing
        rows.append(fields)
    return rows


def usable_reservations(rows: list[dict[str, str]], user: str, accounts: tuple[str, ...],
                        groups: tuple[str, ...]) -> tuple[str, ...]:
    """Names of the reservations (``scontrol``'s field names) that ``user`` may use.

    As Slurm decides: every list the reservation sets must admit the user (a job must match
    both ``Users`` and ``Accounts`` when both are set)."""
    names = []
    for fields in rows:
        name = fields.get("ReservationName", "")
        if not NAME.fullmatch(name) or fields.get("State") not in ("ACTIVE", "INACTIVE"):
            continue
        checks = [_allows(fields, "Users", {user}), _allows(fields, "Accounts", set(accounts)),
                  _allows(fields, "Groups", set(groups))]
        given = [c for c in checks if c is not None]
        if given and all(given):
            names.append(name)
    return tuple(names)


class AssociationCache:
    """Answers kept ``ttl`` seconds by key (a user's associations, an account's allocation):
    the one cache every caller shares."""

    def __init__(self, ttl: float = ASSOCIATIONS_TTL_S):
        self.ttl = ttl
        self._entries: dict[str, tuple[float, dict[str, tuple[str, ...]]]] = {}

    def get(self, user: str) -> dict[str, tuple[str, ...]] | None:
        entry = self._entries.get(user)
        return entry[1] if entry and time.monotonic() - entry[0] < self.ttl else None

    def put(self, user: str, associations: dict[str, tuple[str, ...]]) -> None:
        self._entries[user] = (time.monotonic(), associations)
