"""User choices at login: validated against the site and the user's Slurm associations."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hpchub.site_configs import bundled_site
from hpchub.slurm.flags import rest_job, sbatch_flags, server_job
from hpchub.spawners.options import OptionsError, UserChoices, parse_request, visible_profiles
from hpchub.spawners.script import render_script

SITE = bundled_site("testbed")
ALICE = UserChoices(
    accounts=("desi", "general"), default_account="general",
    qos_by_account={"desi": ("debug", "interactive", "normal"), "general": ("normal",)},
    reservations=("desi-hack",), groups=("alice", "desi", "hpcusers"),
)


def test_fixed_profile_takes_defaults_and_first_allowed_qos():
    req = parse_request(SITE, {"profile": ["cpu"]}, ALICE)
    assert (req.partition, req.nodes, req.time, req.account) == ("regular", 1, "04:00:00", "general")
    assert req.qos == "normal"  # 'interactive' is not in general's QOS list
    assert req.as_options() == {"profile": "cpu"}


def test_configurable_profile_validates_each_field():
    raw = {"profile": "configurable", "nodes": "3", "time": "90", "account": "desi",
           "qos": "debug", "reservation": "desi-hack"}
    req = parse_request(SITE, raw, ALICE)
    assert (req.nodes, req.time, req.account, req.qos, req.reservation) == (
        3, "01:30:00", "desi", "debug", "desi-hack")
    assert parse_request(SITE, req.as_options(), ALICE) == req  # stored options re-validate


@pytest.mark.parametrize("raw, message", [
    ({"profile": "configurable", "nodes": "4"}, "Nodes must be from 1 to 3"),
    ({"profile": "configurable", "nodes": "-1"}, "whole number"),
    ({"profile": "configurable", "time": "13:00:00"}, "between 1 minute and 12:00:00"),
    ({"profile": "configurable", "account": "lsst"}, "cannot use account 'lsst'"),
    ({"profile": "configurable", "qos": "premium"}, "cannot use QOS"),
    ({"profile": "configurable", "reservation": "other"}, "cannot use reservation"),
    ({"profile": "cpu", "nodes": "2"}, "fixed resources"),
    ({"profile": "shared", "time": "01:00:00"}, "takes no options"),
    ({"profile": "nosuch"}, "not offered to you"),
    ({"profile": "cpu", "exec_prefix": "rm -rf /"}, "Unknown option"),
    ({"profile": ["cpu", "gpu"]}, "given 2 times"),
    ({"profile": "configurable", "account": "desi\n#SBATCH --uid=0"}, "cannot use account"),
])
def test_bad_choices_are_refused_with_a_clear_message(raw, message):
    with pytest.raises(OptionsError, match=message):
        parse_request(SITE, raw, ALICE)


def test_profiles_gated_by_group():
    site = SITE.model_copy(update={"profiles": (
        *SITE.profiles, SITE.profiles[1].model_copy(update={"name": "desi-only",
                                                            "allowed_groups": ("desi",)}))})
    assert "desi-only" in [p.name for p in visible_profiles(site, ("desi",))]
    assert "desi-only" not in [p.name for p in visible_profiles(site, ("lsst",))]
    with pytest.raises(OptionsError):
        parse_request(site, {"profile": "desi-only"}, UserChoices(("general",), "general"))


hostile = st.one_of(
    st.text(max_size=80),
    st.sampled_from(["\n#SBATCH --uid=0", "$(touch /tmp/x)", "`id`", "'; rm -rf ~ #", "a b",
                     "9" * 40, "-1", "../../etc", "desi\x00", "${HOME}", "1e9", "0x10"]),
)


@settings(max_examples=400, deadline=None)
@given(field=st.sampled_from(["nodes", "time", "account", "qos", "reservation", "profile"]),
       value=hostile)
def test_hostile_values_never_reach_a_request(field, value):
    raw = {"profile": "configurable", field: value}
    try:
        req = parse_request(SITE, raw, ALICE)
    except OptionsError:
        return
    if req.kind == "shared":  # an empty profile falls back to the first offered: shared
        assert field == "profile" and not value.strip()
        return
    # Whatever got through is exactly one of the allowed values.
    assert req.account in ALICE.accounts and req.qos in ("normal", "interactive", "debug")
    assert req.reservation in (None, *ALICE.reservations)
    assert 1 <= req.nodes <= 3
    job = server_job(req, "/home/alice", "hpchub:alice/x")
    for arg in [*sbatch_flags(job), *map(str, rest_job(job, {}, "").values())]:
        assert "\n" not in arg and "$(" not in arg and "`" not in arg


@settings(max_examples=60, deadline=None)
@given(value=st.text(alphabet=st.characters(blacklist_categories=("Cs",),
                                            blacklist_characters="\x00"), max_size=60))
def test_script_values_are_inert_in_bash(tmp_path_factory, value):
    """Any environment value survives bash verbatim: nothing is executed or expanded."""
    script = render_script(user="alice", profile="cpu", env={"JUPYTERHUB_PROBE": value},
                           command=["printenv", "JUPYTERHUB_PROBE"], runtime_bin="/nonexistent",
                           grace_s=120, stop_after_s=3600)
    home = tmp_path_factory.mktemp("home")
    # Its own session: the script's time-limit timer (a background sleep) is killed after.
    run = subprocess.Popen(["bash", "-c", script], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                           env={"HOME": str(home), "PATH": os.environ["PATH"]}, start_new_session=True)
    try:
        out, err = run.communicate(timeout=30)
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(run.pid, signal.SIGKILL)
    assert run.returncode == 0, err
    assert out == (value + "\n").encode()
    assert list(home.iterdir()) == []


def test_server_flags_carry_every_choice():
    req = parse_request(SITE, {"profile": "configurable", "nodes": "2", "account": "desi",
                               "qos": "debug", "reservation": "desi-hack"}, ALICE)
    job = server_job(req, "/home/alice", "hpchub:alice/big")
    argv = sbatch_flags(job)
    assert argv[0] == "--parsable"
    for flag in ["--partition=regular", "--nodes=2", "--account=desi", "--qos=debug",
                 "--reservation=desi-hack", "--no-requeue", "--chdir=/home/alice"]:
        assert flag in argv
    desc = rest_job(job, {"HOME": "/home/alice"}, "#!/bin/sh\n")
    assert {k: desc[k] for k in ("partition", "nodes", "account", "qos", "reservation",
                                 "current_working_directory", "requeue")} == {
        "partition": "regular", "nodes": "2", "account": "desi", "qos": "debug",
        "reservation": "desi-hack", "current_working_directory": "/home/alice",
        "requeue": False}
    gpu = server_job(parse_request(SITE, {"profile": "gpu"}, ALICE), "/home/alice", "c")
    assert "--gpus-per-node=2" in sbatch_flags(gpu)
    assert rest_job(gpu, {}, "")["tres_per_node"] == "gres/gpu:2"


def test_unknown_keys_answer_is_bounded():
    """A 0.7 MB body of unknown keys gets a short answer (and a short log line)."""
    raw = {f"key{i}\n" + "x" * 60: "1" for i in range(10_000)}
    with pytest.raises(OptionsError) as err:
        parse_request(SITE, raw, ALICE)
    assert len(str(err.value)) < 400
    assert "and 9995 more" in str(err.value) and "\n" not in str(err.value)
