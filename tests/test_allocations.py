"""Account allocations: the node-hours left, read from Slurm's limits and job records, and
a request that cannot fit refused before submission."""

from __future__ import annotations

import dataclasses
from datetime import datetime
from importlib.resources import files

import pytest

from hpchub.site_configs import bundled_site
from hpchub.site_configs.loader import parse_site
from hpchub.slurm import rest_parse
from hpchub.slurm.allocations import (
    Allocation,
    node_limit,
    node_minutes,
    parse_account_limit,
    parse_sacct_usage,
    period_start,
)
from hpchub.spawners.options import OptionsError, UserChoices, parse_request

SITE = bundled_site("testbed")
ALICE = UserChoices(
    accounts=("desi", "general"), default_account="general",
    qos_by_account={"desi": ("debug", "interactive", "normal"), "general": ("normal",)},
    groups=("alice", "desi"), allocations={"desi": Allocation("desi", 600, 330.0)},
)


def test_node_limit_is_read_from_sacctmgr_and_slurmrestd():
    assert node_limit("cpu=100,node=600") == 600
    assert node_limit("node=60,billing=5") == 60
    assert node_limit("cpu=100") is None and node_limit("gres/node=5") is None
    assert parse_account_limit("|node=600\nalice|\ncarol|\n") == 600
    assert parse_account_limit("alice|node=5\n") is None  # a user's row is not the account's
    payload = {"associations": [  # the shape Slurm 22.05's slurmrestd answered on the testbed
        {"user": "alice", "account": "desi", "max": {"tres": {"group": {"minutes": []}}}},
        {"user": None, "account": "desi", "max": {"tres": {"group": {"minutes": [
            {"type": "cpu", "count": 99}, {"type": "node", "name": None, "id": 4, "count": 600}]}}}},
    ]}
    assert rest_parse.account_node_limit(payload, "desi") == 600
    assert rest_parse.account_node_limit(payload, "lsst") is None
    odd = {"associations": [{"user": None, "account": "desi", "max": ["not", "an", "object"]}]}
    assert rest_parse.account_node_limit(odd, "desi") is None


def test_usage_counts_nodes_times_time_run_including_running_jobs():
    assert parse_sacct_usage("2|16\n1|3600\n\nx|y\n") == [(2, 16.0), (1, 3600.0)]
    now = 10_000
    records = {"jobs": [
        {"allocation_nodes": 2, "time": {"start": 1000, "end": 1016}},
        {"allocation_nodes": 3, "time": {"start": 9400, "end": 0}},  # running for 600 s
        {"allocation_nodes": 4, "time": {"start": 0, "end": 0}},  # never started
    ]}
    assert rest_parse.node_seconds(records, now) == [(2, 16.0), (3, 600.0)]
    assert node_minutes([(2, 16.0), (3, 600.0)]) == pytest.approx(30.5333, rel=1e-4)
    assert Allocation("desi", 600, 630).left_node_hours == 0  # overdrawn shows none left


def test_the_allocation_year_begins_on_the_sites_day():
    now = datetime(2026, 12, 2, 13, 0).timestamp()
    assert period_start(now, "01-01") == datetime(2026, 1, 1)
    assert period_start(now, "12-15") == datetime(2025, 12, 15)
    assert period_start(now, "12-02") == datetime(2026, 12, 2)
    text = (files("hpchub.site_configs") / "testbed.yaml").read_text()
    with pytest.raises(ValueError, match="allocation_year_starts"):
        parse_site(text + "\nallocation_year_starts: '02-30'\n")


def test_a_job_that_fits_is_accepted_and_one_that_does_not_is_refused_with_the_figures():
    fits = {"profile": "configurable", "nodes": "3", "time": "01:30:00", "account": "desi"}
    assert parse_request(SITE, fits, ALICE).node_hours == 4.5  # 4.5 of the 4.5 left
    too_big = dict(fits, time="02:00:00")
    with pytest.raises(OptionsError) as refused:
        parse_request(SITE, too_big, ALICE)
    assert str(refused.value) == (
        "This job may use up to 6 node-hours, but account 'desi' has 4.5 node-hours left of "
        "its 10 node-hours this allocation year. Ask for fewer nodes or less time, or charge "
        "another account.")
    # The same job charged to an account without a limit, and the shared node, are not refused.
    assert parse_request(SITE, dict(too_big, account="general"), ALICE).account == "general"
    assert parse_request(SITE, {"profile": "shared"}, ALICE).kind == "shared"
    broke = dataclasses.replace(ALICE, default_account="desi",
                                allocations={"desi": Allocation("desi", 600, 600)})
    with pytest.raises(OptionsError, match="has 0 node-hours left"):
        parse_request(SITE, {"profile": "cpu"}, broke)
