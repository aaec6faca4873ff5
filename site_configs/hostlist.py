"""Slurm hostlist expressions: ``c[1-3]``, ``nid[001000-001003,001010]``, ``login1``."""

from __future__ import annotations

import re

_BRACKET = re.compile(r"^([A-Za-z][A-Za-z0-9-]*)\[([0-9,\-]+)\]([A-Za-z0-9-]*)$")
_PLAIN = re.compile(r"^[A-Za-z][A-Za-z0-9-]*$")


def split_top_level(expr: str) -> list[str]:
    """Split on commas outside brackets."""
    parts, depth, start = [], 0, 0
    for i, char in enumerate(expr):
        depth += {"[": 1, "]": -1}.get(char, 0)
        if char == "," and depth == 0:
            parts.append(expr[start:i])
            start = i + 1
    parts.append(expr[start:])
    return [p.strip() for p in parts if p.strip()]


def expand_hostlist(expr: str) -> list[str]:
    """Expand a hostlist into names, keeping zero padding.

    >>> expand_hostlist("c[1-3],g1")
    ['c1', 'c2', 'c3', 'g1']
    >>> expand_hostlist("nid[0009-0011]")
    ['nid0009', 'nid0010', 'nid0011']
    """
    hosts: list[str] = []
    for part in split_top_level(expr):
        if _PLAIN.match(part):
            hosts.append(part)
            continue
        match = _BRACKET.match(part)
        if not match:
            raise ValueError(f"{part!r} is not a hostlist like 'c[1-3]'")
        prefix, ranges, suffix = match.groups()
        for chunk in ranges.split(","):
            low, _, high = chunk.partition("-")
            high = high or low
            if int(high) < int(low) or int(high) - int(low) > 100_000:
                raise ValueError(f"range {chunk!r} in {part!r} is empty or too large")
            width = len(low) if low.startswith("0") else 0
            hosts.extend(f"{prefix}{n:0{width}d}{suffix}" for n in range(int(low), int(high) + 1))
    if not hosts:
        raise ValueError("empty hostlist")
    return hosts
