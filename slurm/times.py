"""Slurm durations: ``[D-]HH:MM:SS`` (what time limits are written as) and squeue's shorter
``MM:SS`` forms."""

from __future__ import annotations

import re

_DURATION = re.compile(r"(?:([0-9]{1,5})-)?(?:([0-9]{1,2}):)?([0-9]{1,2}):([0-9]{2})")
_WALLTIME = re.compile(r"(?:[0-9]{1,3}-)?[0-9]{1,2}:[0-9]{2}:[0-9]{2}")


def duration_s(text: str) -> int | None:
    """Seconds in a Slurm duration, or None (``UNLIMITED``, ``N/A``, anything else).

    >>> duration_s("1-00:00:10"), duration_s("1:30"), duration_s("UNLIMITED")
    (86410, 90, None)
    """
    match = _DURATION.fullmatch(text.strip())
    if not match:
        return None
    days, hours, minutes, seconds = (int(g or 0) for g in match.groups())
    return ((days * 24 + hours) * 60 + minutes) * 60 + seconds


def walltime_seconds(value: str) -> int:
    """Seconds in a time limit ``[D-]HH:MM:SS``; ValueError for any other form.

    >>> walltime_seconds("1-00:30:05")
    88205
    """
    seconds = duration_s(value) if _WALLTIME.fullmatch(value) else None
    if seconds is None:
        raise ValueError(f"walltime {value!r} is not of the form [D-]HH:MM:SS")
    return seconds


def walltime_minutes(value: str) -> int:
    """Minutes in a time limit, a started minute counting as one.

    >>> walltime_minutes("1-00:30:00")
    1470
    """
    return -(-walltime_seconds(value) // 60)
