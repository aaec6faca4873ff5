"""Parsers and messages for Slurm output, on canned text."""

from __future__ import annotations

import dataclasses

import pytest
from tornado import web

from hpchub.node.contract import REPORT_MAX_CHARS
from hpchub.slurm.accounts import parse_associations, reservation_fields, usable_reservations
from hpchub.slurm.hostlist import first_host
from hpchub.slurm.jobs import (
    is_server_comment,
    parse_job_id,
    parse_server_jobs,
    parse_squeue,
    queue_position,
    server_comment,
)
from hpchub.slurm.messages import ended_by_time_limit, pending_message
from hpchub.spawners.api import parse_report

SQUEUE = """\
10|RUNNING|None|c1|2026-11-24T10:00:00|regular|100|dave|4:00:00|1:02
11|PENDING|Resources|||gpu|500|bob|4:00:00|0:00
12|PENDING|Priority||2026-11-24T10:42:00|gpu|300|alice|4:00:00|0:00
13|PENDING|Resources||N/A|regular|900|carol|UNLIMITED|0:00
14|CANCELLED by 2001|None|c2|2026-11-24T09:00:00|debug|0|alice|30:00|5:00
15|NODE_FAIL|NodeDown|c3|2026-11-24T09:00:00|debug|0|bob|30:00|1:00
16|COMPLETED|None|c1|2026-11-24T09:00:00|debug|0|bob|2:00|1:24
bogus line
"""


def test_parse_squeue_states():
    jobs = parse_squeue(SQUEUE)
    assert set(jobs) == {"10", "11", "12", "13", "14", "15", "16"}
    assert (jobs["10"].limit_s, jobs["10"].elapsed_s, jobs["13"].limit_s) == (14400, 62, None)
    assert jobs["10"].running and jobs["11"].pending
    assert jobs["14"].state == "CANCELLED" and jobs["14"].ended
    assert jobs["15"].ended and jobs["15"].reason == "NodeDown"


def test_time_limit_endings():
    jobs = parse_squeue(SQUEUE)
    assert ended_by_time_limit(jobs["16"], grace_s=30)  # stopped cleanly at the SIGTERM warning
    assert not ended_by_time_limit(jobs["14"], grace_s=30)
    assert ended_by_time_limit(dataclasses.replace(jobs["14"], state="TIMEOUT"), grace_s=30)


def test_queue_position_and_message():
    jobs = parse_squeue(SQUEUE)
    assert queue_position(jobs["12"], jobs) == (2, 2)
    assert queue_position(jobs["11"], jobs) == (1, 2)
    message = pending_message(jobs["12"], jobs)
    assert message == ("Queued: position 2 of 2 in gpu, reason Priority (other jobs are ahead of "
                       "yours), estimated start 10:42")
    assert "estimated" not in pending_message(jobs["13"], jobs)


def test_job_id_and_hosts():
    assert parse_job_id("42\n") == "42"
    assert parse_job_id("warning: x\n43;hpchub\n") == "43"
    with pytest.raises(ValueError, match="no job id"):
        parse_job_id("sbatch: error: Batch job submission failed")
    assert first_host("c[2-3]") == "c2"
    assert first_host("g1") == "g1"


def usable(text: str, user: str, accounts: tuple[str, ...], groups: tuple[str, ...]):
    return usable_reservations(reservation_fields(text), user, accounts, groups)


def test_associations_and_reservations():
    assert parse_associations("desi|debug,normal\ngeneral|normal\n") == {
        "desi": ("debug", "normal"), "general": ("normal",)}
    res = ("ReservationName=hack StartTime=x Nodes=c1 Users=alice Groups=(null) "
           "Accounts=(null) State=ACTIVE\n"
           "ReservationName=desi-day Users=(null) Accounts=desi State=INACTIVE\n"
           "ReservationName=lsst-only Users=(null) Accounts=lsst Groups=(null) State=ACTIVE\n")
    assert usable(res, "alice", ("desi", "general"), ()) == ("hack", "desi-day")
    assert usable(res, "bob", ("lsst",), ()) == ("lsst-only",)


def test_reservation_exclusions_are_read_as_slurm_does():
    res = ("ReservationName=not-alice Users=-alice Accounts=(null) Groups=(null) State=ACTIVE\n"
           "ReservationName=not-desi Users=(null) Accounts=-desi State=ACTIVE\n"
           "ReservationName=both Users=bob Accounts=lsst State=ACTIVE\n")
    assert usable(res, "alice", ("desi",), ()) == ()
    assert usable(res, "bob", ("lsst",), ()) == ("not-alice", "not-desi", "both")
    assert usable(res, "carol", ("desi", "lsst"), ()) == ("not-alice", "not-desi")
    sneaky = "ReservationName=x Users=bob State=ACTIVE Comment=a Users=alice\n"
    assert usable(sneaky, "alice", (), ()) == ()


@pytest.mark.parametrize("body", [b'{"port": 8888, "ip": "10.0.0.1"}', b'{"exec_prefix": "x"}',
                                  b'{"port": "8888"}', b'{"port": 80}', b'{"port": true}',
                                  b"not json", b"[8888]", b'{"port": 8888, "failed": "x"}',
                                  b'{"failed": 3}', b'{"failed": ["x"]}',
                                  b'{"failed": "%s"}' % (b"x" * (REPORT_MAX_CHARS + 1))])
def test_a_job_reports_only_a_port_or_a_failure(body):
    with pytest.raises(web.HTTPError) as err:
        parse_report(body)
    assert err.value.status_code == 400


def test_port_and_failure_reports_ok():
    assert parse_report(b'{"port": 8888}') == ("port", 8888)
    assert parse_report(b'{"failed": "Bad config"}') == ("failed", "Bad config")


def test_walltime_remaining_counts_to_the_stop_signal():
    from hpchub.node.walltime import remaining

    assert remaining(end=1000.0, grace_s=60, now=300.0) == 640
    assert remaining(end=1000.0, grace_s=60, now=990.0) == 0


def test_walltime_reply_from_the_jobs_environment():
    from hpchub.node.walltime import walltime_reply

    env = {"SLURM_JOB_ID": "7", "HPCHUB_JOB_STARTED": "1000", "HPCHUB_TIME_LIMIT_S": "240",
           "HPCHUB_SHUTDOWN_GRACE_S": "60", "SLURM_JOB_NODELIST": "c[1-2]",
           "SLURM_JOB_PARTITION": "debug", "SLURM_JOB_ACCOUNT": "desi", "SLURM_JOB_QOS": "normal"}
    reply = walltime_reply(env, now=1030.0)
    assert (reply["job_id"], reply["remaining_s"], reply["stops_at"]) == ("7", 150, 1180.0)
    assert (reply["nodes"], reply["partition"], reply["account"], reply["qos"], reply["shared"]) == (
        "c[1-2]", "debug", "desi", "normal", False)
    shared = walltime_reply({"HPCHUB_SHARED_SERVER": "1", "HPCHUB_MEMORY_MB": "1536"}, now=0)
    assert shared["remaining_s"] is None and shared["shared"] and shared["memory_mb"] == 1536
    assert shared["nodes"] and shared["cpus"] >= 1  # this host, this process's CPUs


def test_walltime_assets_ship_in_the_package():
    import json
    from importlib import resources
    from pathlib import Path

    # The extensions are built (scripts/build-labextensions) where the package ships them.
    sources = Path(__file__).parent.parent / "node" / "labextensions"
    for name in ("hpchub-walltime", "hpchub-notebooks"):
        pkg = json.loads((sources / name / "package.json").read_text())
        built = (sources / name / pkg["jupyterlab"]["outputDir"]).resolve()
        assert built == (sources.parent / "jupyter_data" / "labextensions" / name).resolve()
    base = resources.files("hpchub.node")
    conf_file = base.joinpath("jupyter_config/jupyter_server_config.d/hpchub-walltime.json")
    conf = json.loads(conf_file.read_text())
    assert conf["ServerApp"]["jpserver_extensions"] == {"hpchub.node.walltime": True}


def test_orphans_are_old_server_jobs_no_hub_server_holds():
    from hpchub.spawners.reconcile import job_ids_in, known_job_ids, orphans

    text = ("11|alice|2026-11-24T10:00:00\n"
            "12|bob|2026-11-24T10:00:00\n"
            "13|bob|2026-11-24T10:09:50\n"
            "hpchub:alice/x\n"  # the rest of a comment or name: not a record
            "14|dave|2026-11-24T10:00:00|extra\n")
    jobs = parse_server_jobs(text)
    assert [j.job_id for j in jobs] == ["11", "12", "13"]
    users = [{"name": "alice", "servers": {"cpu": {"ready": True, "pending": None,
                                                   "state": {"child_state": {"job_id": "11"}}}}},
             {"name": "bob", "servers": {"gpu": {"ready": False, "pending": None,  # stopped
                                                 "state": {"child_state": {"job_id": "12"}}}}}]
    assert known_job_ids(users) == {"11"}
    now = jobs[0].submitted + 600
    assert [j.job_id for j in orphans(jobs, known_job_ids(users), now, min_age=300)] == ["12"]
    assert job_ids_in({"a": [1], "child_state": {"job_id": ""}}) == set()


@pytest.mark.parametrize("output, user, expected", [
    ("hpchub:bob/cpu\n", "bob", True),
    ("hpchub:bob/default", "bob", True),
    ("hpchub:bob/cpu\n", "alice", False),  # someone else's label on alice's job
    ("hpchub:alice/g\n123|bob|hpchub:bob/x\n", "alice", False),  # a comment with a newline
    ("hpchub:bob/\n", "bob", False),
    ("(null)\n", "bob", False),
    ("hpchub:bob/a b\n", "bob", False),
])
def test_only_a_whole_server_comment_of_the_owner_proves_a_server_job(output, user, expected):
    assert is_server_comment(output, user) is expected


def test_server_comments_and_job_names_carry_no_separator():
    assert server_comment("bob", "x\n9|RUNNING") == "hpchub:bob/x_9_RUNNING"
    assert server_comment("bob", "") == "hpchub:bob/default"


def test_a_failed_start_shows_the_end_of_the_log_as_plain_text():
    from hpchub.spawners.slurm import clean_log

    log = "\n".join(f"line {i}" for i in range(40)) + "\n\x1b[31m[C 12:00 ServerApp] Bad config\x1b[0m\x07"
    shown = clean_log(log).splitlines()
    assert len(shown) == 15 and shown[0] == "line 26"
    assert shown[-1] == "[C 12:00 ServerApp] Bad config"
    assert clean_log("x" * 1000).splitlines() == ["x" * 300]


def test_the_job_reads_the_end_of_its_own_log(tmp_path, monkeypatch):
    from hpchub.node.singleuser import log_tail

    monkeypatch.setenv("SLURM_JOB_ID", "42")
    (tmp_path / "job-42.log").write_text("start\n" + "x" * 10000 + "\nBad config: no such directory\n")
    tail = log_tail(str(tmp_path / "job-%j.log"))
    assert tail.endswith("Bad config: no such directory\n") and len(tail) == 6000
    assert log_tail(str(tmp_path / "missing-%j.log")) == ""
