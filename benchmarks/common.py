"""Helpers shared by the benchmarks: the testbed, statistics, a client run in the hub container."""

from __future__ import annotations

import statistics

from hpchub.containers.testbed import from_site


def testbed():
    bed = from_site("testbed")
    bed.up()
    return bed


def summary(values: list[float]) -> str:
    ordered = sorted(values)
    p90 = ordered[min(len(ordered) - 1, int(0.9 * len(ordered)))]
    return (f"median {statistics.median(ordered):6.2f} s  min {ordered[0]:6.2f} s  "
            f"p90 {p90:6.2f} s  (n={len(ordered)})")
