"""Slurm host lists (``c[1-3]``, ``nid[001000-001003,001010]``), read with python-hostlist."""

from __future__ import annotations

import hostlist as _hostlist


def expand_hostlist(expr: str) -> list[str]:
    """Every host of a host list, zero padding kept; ValueError when it is not one.

    >>> expand_hostlist("c[1-3],g1"), expand_hostlist("nid[0009-0010]")
    (['c1', 'c2', 'c3', 'g1'], ['nid0009', 'nid0010'])
    """
    try:
        hosts = _hostlist.expand_hostlist(expr)
    except _hostlist.BadHostlist as exc:
        raise ValueError(f"{expr!r} is not a host list like 'c[1-3]': {exc}") from None
    if not hosts:
        raise ValueError("empty host list")
    return hosts


def first_host(nodelist: str) -> str:
    """The node a batch script runs on: the first of the allocation."""
    return expand_hostlist(nodelist)[0]
