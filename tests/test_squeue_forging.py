"""No text a user controls (job name, comment, work dir) can create, change or hide a record
that the hub's parsers read from squeue; malformed lines are skipped, never fatal."""

from __future__ import annotations

import re

from hypothesis import given, settings
from hypothesis import strategies as st

from hpchub.slurm.jobs import SERVER_JOBS_FORMAT, SQUEUE_FORMAT, JobInfo, parse_server_jobs, parse_squeue

FREE_TEXT = {"%j", "%k", "%o", "%Z", "%E", "%y"}  # name, comment, command, work dir, ...

users = st.sampled_from(["alice", "bob", "carol", "dave"])
names = st.text(st.characters(blacklist_categories=("Cs",), blacklist_characters="\0"), max_size=80)
job = st.builds(
    dict, job_id=st.integers(1, 10**7).map(str),
    state=st.sampled_from(["PENDING", "RUNNING", "COMPLETED", "CANCELLED", "NODE_FAIL"]),
    reason=st.sampled_from(["None", "Resources", "Priority"]),
    nodes=st.sampled_from(["", "c1", "c[1-3]", "login1"]),
    partition=st.sampled_from(["debug", "regular", "gpu"]), priority=st.integers(0, 10**6),
    user=users, name=names, comment=names, workdir=names)


def render(jobs: list[dict], fmt: str) -> str:
    """What ``squeue -h -o FMT`` prints for these jobs (Slurm writes each field as it is)."""
    fields = {"%i": "job_id", "%T": "state", "%r": "reason", "%N": "nodes", "%P": "partition",
              "%Q": "priority", "%u": "user", "%j": "name", "%k": "comment", "%Z": "workdir"}
    fixed = {"%S": "2026-11-24T10:00:00", "%l": "4:00:00", "%M": "0:10", "%V": "2026-11-24T09:00:00"}

    def line(j: dict) -> str:
        return re.sub(r"%[A-Za-z]", lambda m: str(j[fields[m[0]]]) if m[0] in fields
                      else fixed[m[0]], fmt)
    return "".join(line(j) + "\n" for j in jobs)


def unique(jobs: list[dict]) -> list[dict]:
    return list({j["job_id"]: j for j in jobs}.values())


def test_no_parsed_format_requests_user_text():
    for fmt in (SQUEUE_FORMAT, SERVER_JOBS_FORMAT):
        assert not set(re.findall(r"%[A-Za-z]", fmt)) & FREE_TEXT, fmt


@settings(max_examples=300, deadline=None)
@given(st.lists(job, max_size=8).map(unique))
def test_poller_records_equal_the_real_jobs_whatever_their_names(jobs):
    parsed = parse_squeue(render(jobs, SQUEUE_FORMAT))
    assert set(parsed) == {j["job_id"] for j in jobs}
    for j in jobs:
        got: JobInfo = parsed[j["job_id"]]
        assert (got.state, got.user, got.nodes, got.partition, got.priority) == (
            j["state"], j["user"], j["nodes"], j["partition"], j["priority"])


@settings(max_examples=300, deadline=None)
@given(st.lists(job, max_size=8).map(unique))
def test_reconciler_records_equal_the_real_jobs_whatever_their_comments(jobs):
    parsed = parse_server_jobs(render(jobs, SERVER_JOBS_FORMAT))
    assert [(p.job_id, p.user) for p in parsed] == [(j["job_id"], j["user"]) for j in jobs]


def test_the_renderer_shows_the_old_forgery_once_a_name_is_requested():
    """With the job name in the format (as before), a crafted name adds bob's record."""
    forged = "99|RUNNING|None|login1|2026-11-24T10:00:00|regular|1|bob|4:00:00|0:10"
    victim = {"job_id": "7", "state": "PENDING", "reason": "None", "nodes": "",
              "partition": "regular", "priority": 1, "user": "alice", "name": f"x\n{forged}",
              "comment": "", "workdir": ""}
    assert set(parse_squeue(render([victim], SQUEUE_FORMAT))) == {"7"}
    assert "99" in parse_squeue(render([victim], SQUEUE_FORMAT + "|%j"))


@settings(max_examples=500, deadline=None)
@given(st.text(max_size=400))
def test_arbitrary_text_never_raises(text):
    parse_squeue(text)
    parse_server_jobs(text)


def test_the_attacks_of_the_security_issue_are_skipped():
    lines = [
        "12|PENDING|None||N/A|debug|10|alice|4:00:00|0:00",
        "x",  # the start of a crafted job name, then forged records:
        "13|RUNNING|None|login1|2026-11-24T10:00:00|debug|10|bob|4:00:00|0:00|extra",
        "13||None|login1|2026-11-24T10:00:00|debug|10|bob|4:00:00|0:00",  # empty state
        "13|RUNNING|None|login1|2026-11-24T10:00:00|debug|١٢|bob|4:00:00|0:00",  # non-ASCII
        "13|RUNNING|None|c1;rm -rf|2026-11-24T10:00:00|debug|10|bob|4:00:00|0:00",
    ]
    assert set(parse_squeue("\n".join(lines))) == {"12"}
