"""What a user may ask for at login, checked before anything is submitted.

``parse_request`` takes the untrusted form/API fields and returns a :class:`SpawnRequest`
whose every value was checked against the site config and the user's real Slurm
associations and reservations. Anything else raises :class:`OptionsError` with a message
written for the user; the hub turns it into HTTP 400 and nothing is submitted.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from hpchub.site_configs.schema import Profile, Site
from hpchub.slurm.allocations import Allocation
from hpchub.slurm.jobs import NAME
from hpchub.slurm.times import walltime_minutes, walltime_seconds

MAX_FIELD = 64
DIGITS = re.compile(r"[0-9]{1,9}")


class OptionsError(ValueError):
    """The user's choice is not allowed; the message says what to change."""


@dataclass(frozen=True)
class UserChoices:
    """What Slurm lets this user use: from ``sacctmgr`` associations and ``scontrol`` reservations."""

    accounts: tuple[str, ...]
    default_account: str
    qos_by_account: dict[str, tuple[str, ...]] = field(default_factory=dict)
    reservations: tuple[str, ...] = ()
    groups: tuple[str, ...] = ()
    allocations: dict[str, Allocation] = field(default_factory=dict)  # accounts with a node limit


@dataclass(frozen=True)
class SpawnRequest:
    """A validated request: every field is safe to hand to Slurm as an argv value."""

    profile: str
    kind: str
    partition: str | None = None
    nodes: int = 1
    time: str = "01:00:00"
    account: str | None = None
    qos: str | None = None
    reservation: str | None = None
    gpus_per_node: int = 0
    configurable: bool = False

    def as_options(self) -> dict:
        """The user's choices, as stored in ``user_options`` (and valid input again)."""
        if not self.configurable:
            return {"profile": self.profile}
        return {k: v for k, v in self.__dict__.items() if k in KNOWN_KEYS and v not in (None, "")}

    def fields(self) -> dict:
        return dict(self.__dict__)

    @property
    def node_hours(self) -> float:
        """The most the job may use: nodes × its time limit."""
        return self.nodes * walltime_seconds(self.time) / 3600


def hours(value: float) -> str:
    """4.5 -> "4.5 node-hours" (1 -> "1 node-hour")."""
    text = f"{value:.4g}" if value < 1e4 else f"{value:.0f}"
    return f"{text} node-hour{'' if text == '1' else 's'}"


def check_allocation(request: SpawnRequest, allocation: Allocation | None) -> None:
    """Refuse a job that may use more than its account has left."""
    if allocation is None or request.kind != "slurm":
        return
    left = allocation.left_node_hours
    if request.node_hours > left + 1e-9:
        raise OptionsError(
            f"This job may use up to {hours(request.node_hours)}, but account "
            f"{allocation.account!r} has {hours(left)} left of its "
            f"{hours(allocation.limit_node_hours)} this allocation year. Ask for fewer nodes "
            "or less time, or charge another account.")


def visible_profiles(site: Site, groups: tuple[str, ...] | list[str]) -> list[Profile]:
    """Profiles this user may see: open ones plus those gated on a group they are in."""
    return [p for p in site.profiles if not p.allowed_groups or set(p.allowed_groups) & set(groups)]


def _single(raw: dict, key: str) -> str | None:
    """One string from form data (lists of one) or JSON (plain values)."""
    value = raw.get(key)
    if isinstance(value, list):
        if len(value) != 1:
            raise OptionsError(f"'{key}' was given {len(value)} times; give it once")
        value = value[0]
    if value is None or value == "":
        return None
    if not isinstance(value, str | int) or isinstance(value, bool):
        raise OptionsError(f"'{key}' must be a plain value")
    text = str(value).strip()
    if len(text) > MAX_FIELD:
        raise OptionsError(f"'{key}' is too long (at most {MAX_FIELD} characters)")
    return text


def _int_in(raw: dict, key: str, low: int, high: int, default: int) -> int:
    text = _single(raw, key)
    if text is None:
        return default
    if not DIGITS.fullmatch(text):
        raise OptionsError(f"{key.capitalize()} must be a whole number from {low} to {high}")
    value = int(text)
    if not low <= value <= high:
        raise OptionsError(f"{key.capitalize()} must be from {low} to {high}; you asked for {value}")
    return value


def _walltime(raw: dict, limit: str, default: str) -> str:
    """Accept ``HH:MM:SS``, ``HH:MM`` or minutes; reject anything over the profile's limit."""
    text = _single(raw, "time")
    if text is None:
        return default
    if DIGITS.fullmatch(text):
        minutes = int(text)
        text = f"{minutes // 60:02d}:{minutes % 60:02d}:00"
    elif re.fullmatch(r"[0-9]{1,2}:[0-9]{2}", text):
        text += ":00"
    try:
        minutes = walltime_minutes(text)
    except ValueError:
        raise OptionsError("Time must look like 01:30:00 (hours:minutes:seconds)") from None
    if minutes < 1 or minutes > walltime_minutes(limit):
        raise OptionsError(f"Time must be between 1 minute and {limit}; you asked for {text}")
    return text


def _choice(raw: dict, key: str, allowed: tuple[str, ...], default: str | None,
            what: str) -> str | None:
    text = _single(raw, key)
    if text is None:
        return default
    if not NAME.fullmatch(text) or text not in allowed:
        shown = ", ".join(allowed) if allowed else "none"
        raise OptionsError(f"You cannot use {what} {text[:40]!r}. Yours: {shown}")
    return text


KNOWN_KEYS = {"profile", "nodes", "time", "account", "qos", "reservation"}


def parse_request(site: Site, raw: dict, choices: UserChoices) -> SpawnRequest:
    """Validate untrusted ``raw`` options into a :class:`SpawnRequest`."""
    unknown = sorted(set(raw) - KNOWN_KEYS)
    if unknown:
        shown = ", ".join(repr(str(k)[:30]) for k in unknown[:5])
        more = f" and {len(unknown) - 5} more" if len(unknown) > 5 else ""
        raise OptionsError(f"Unknown option(s): {shown}{more}. "
                           f"Known options: {', '.join(sorted(KNOWN_KEYS))}")
    profiles = {p.name: p for p in visible_profiles(site, choices.groups)}
    name = _single(raw, "profile") or next(iter(profiles), None)
    if name not in profiles:
        raise OptionsError(f"Profile {str(name)[:40]!r} is not offered to you. "
                           f"Choose one of: {', '.join(profiles)}")
    prof = profiles[name]
    if prof.kind == "shared":
        extra = sorted(k for k in raw if k != "profile" and _single(raw, k) is not None)
        if extra:
            raise OptionsError(f"The shared node takes no options ({', '.join(extra)})")
        return SpawnRequest(profile=prof.name, kind="shared")
    account = choices.default_account
    qos = prof.qos[0] if prof.qos else None
    nodes, time, reservation = prof.nodes, prof.time, None
    if prof.configurable:
        limit = site.partition(prof.partition).max_time
        nodes = _int_in(raw, "nodes", 1, prof.max_nodes or prof.nodes, prof.nodes)
        time = _walltime(raw, limit, prof.time)
        account = _choice(raw, "account", choices.accounts, account, "account")
        allowed_qos = tuple(q for q in prof.qos if q in choices.qos_by_account.get(account, ()))
        qos = _choice(raw, "qos", allowed_qos, allowed_qos[0] if allowed_qos else None, "QOS")
        reservation = _choice(raw, "reservation", choices.reservations, None, "reservation")
    else:
        fixed = sorted(k for k in raw if k != "profile" and _single(raw, k) is not None)
        if fixed:
            raise OptionsError(f"Profile {prof.display_name!r} has fixed resources; "
                               f"choose 'Configurable job' to set {', '.join(fixed)}")
        allowed_qos = choices.qos_by_account.get(account, ())
        qos = next((q for q in prof.qos if q in allowed_qos), None) if prof.qos else None
    if prof.qos and qos is None:
        raise OptionsError(f"Your account {account!r} may not use the QOS of {prof.display_name!r}")
    request = SpawnRequest(
        profile=prof.name, kind="slurm", partition=prof.partition, nodes=nodes, time=time,
        account=account, qos=qos, reservation=reservation, gpus_per_node=prof.gpus_per_node,
        configurable=prof.configurable,
    )
    check_allocation(request, choices.allocations.get(account or ""))
    return request
