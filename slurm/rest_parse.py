"""slurmrestd (OpenAPI v0.0.38) answers -> the same records the ``cli`` backend makes.

JSON keeps user text (job names, comments) in its own strings, so nothing can forge a record;
but a broken or unknown answer must still never read as "the job ended". A record without a
usable job id or owner makes the whole answer an error (every server's state is then unknown);
a record whose other fields are not what Slurm sends becomes state ``UNKNOWN`` (neither queued,
running nor ended) and is logged.
"""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Any

from .client import SlurmUnavailable
from .jobs import JOB_ID, NAME, USER, JobInfo, ServerJob

log = logging.getLogger("hpchub.slurm")

# job_state_string() of Slurm 22.05: base states and the flags it prints instead of them.
STATES = frozenset(
    "PENDING RUNNING SUSPENDED COMPLETED CANCELLED FAILED TIMEOUT NODE_FAIL PREEMPTED BOOT_FAIL "
    "DEADLINE OUT_OF_MEMORY COMPLETING CONFIGURING RESIZING RESV_DEL_HOLD REQUEUED REQUEUE_FED "
    "REQUEUE_HOLD SPECIAL_EXIT STOPPED REVOKED SIGNALING STAGE_OUT POWER_UP_NODE UPDATE_DB".split())
UNKNOWN = "UNKNOWN"


class BadAnswer(SlurmUnavailable):
    """slurmrestd's answer is not what its API promises (so Slurm is unusable through it)."""


def _int(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _str(value: Any, limit: int = 4000) -> str | None:
    return value if isinstance(value, str) and len(value) <= limit else None


def _at(value: Any, *keys: str) -> Any:
    """``value[k1][k2]...``, or None where a step is missing or not an object."""
    for key in keys:
        value = value.get(key) if isinstance(value, dict) else None
    return value


def job_list(payload: Any) -> list[dict]:
    jobs = payload.get("jobs") if isinstance(payload, dict) else None
    if not isinstance(jobs, list) or not all(isinstance(j, dict) for j in jobs):
        raise BadAnswer("slurmrestd's job list has no 'jobs' array of records")
    return jobs


def _identity(record: dict) -> tuple[str, str]:
    job_id, user = _int(record.get("job_id")), _str(record.get("user_name"), 64)
    if job_id is None or user is None or not USER.fullmatch(user):
        raise BadAnswer(f"a job record without a job id or owner ({str(record)[:120]!r})")
    return str(job_id), user


def _timestamp(epoch: int | None) -> str:
    return datetime.fromtimestamp(epoch).isoformat(timespec="seconds") if epoch else "N/A"


def job_info(record: dict, now: float) -> JobInfo:
    job_id, user = _identity(record)
    state = _str(record.get("job_state"), 40)
    reason = _str(record.get("state_reason"), 200)
    nodes = _str(record.get("nodes"))
    partition = _str(record.get("partition"), 400)
    start, end = _int(record.get("start_time")), _int(record.get("end_time"))
    priority, limit = record.get("priority"), record.get("time_limit")
    fields_ok = (state in STATES and reason is not None and nodes is not None
                 and partition is not None and start is not None and end is not None
                 and (priority is None or _int(priority) is not None)
                 and (limit is None or _int(limit) is not None))
    if not fields_ok:
        log.error("slurmrestd sent job %s with unexpected fields (state %r): its state is "
                  "unknown until Slurm answers properly", job_id, str(state)[:40])
        return JobInfo(job_id, UNKNOWN, "", "", "", "", 0, user)
    running = state in ("RUNNING", "SUSPENDED", "COMPLETING")
    elapsed = None
    if start and start <= now:
        elapsed = int((now if running or not end else end) - start)
    return JobInfo(job_id, state, reason, nodes, _timestamp(start), partition,
                   priority or 0, user, limit * 60 if limit is not None else None, elapsed)


def parse_jobs(payload: Any, now: float) -> dict[str, JobInfo]:
    """Jobs by id from ``GET /slurm/v0.0.38/jobs``; :class:`BadAnswer` if unusable."""
    return {info.job_id: info for info in (job_info(r, now) for r in job_list(payload))}


def server_jobs(payload: Any, name: str, live: set[str]) -> list[ServerJob]:
    """Live jobs named ``name``, with owner and submit time."""
    found = []
    for record in job_list(payload):
        job_id, user = _identity(record)
        submitted = _int(record.get("submit_time"))
        if record.get("name") == name and record.get("job_state") in live and submitted:
            found.append(ServerJob(job_id, user, float(submitted)))
    return found


def job_ids_named(payload: Any, user: str, name: str, live: set[str]) -> list[str]:
    """Ids of ``user``'s live jobs named ``name``."""
    ids = []
    for record in job_list(payload):
        job_id, owner = _identity(record)
        if owner == user and record.get("name") == name and record.get("job_state") in live:
            ids.append(job_id)
    return ids


def job_ids_commented(payload: Any, user: str, text: str, live: set[str]) -> list[str]:
    """Ids of ``user``'s live jobs whose whole comment is ``text``."""
    return [str(r["job_id"]) for r in job_list(payload) if _identity(r)[1] == user
            and r.get("comment") == text and r.get("job_state") in live]


def comment(payload: Any, job_id: str) -> str:
    """One job's comment as the cli backend prints it (with its newline)."""
    for record in job_list(payload):
        if str(_int(record.get("job_id"))) == job_id:
            return (_str(record.get("comment"), 10000) or "") + "\n"
    raise BadAnswer(f"slurmrestd did not return job {job_id}")


def associations(payload: Any) -> dict[str, tuple[str, ...]]:
    """``GET /slurmdb/v0.0.38/associations?user=U`` -> {account: QOS names}."""
    rows = payload.get("associations") if isinstance(payload, dict) else None
    if not isinstance(rows, list):
        raise BadAnswer("slurmrestd's associations answer has no 'associations' array")
    out: dict[str, tuple[str, ...]] = {}
    for row in rows:
        account = _str(row.get("account"), 64) if isinstance(row, dict) else None
        if account and NAME.fullmatch(account):
            qos = row.get("qos") if isinstance(row.get("qos"), list) else []
            out[account] = tuple(q for q in qos if isinstance(q, str) and NAME.fullmatch(q))
    return out


def account_node_limit(payload: Any, account: str) -> int | None:
    """``GET /slurmdb/v0.0.38/associations?account=A`` -> the account's own (user-less) row's
    ``GrpTRESMins`` node-minutes, None when it sets none."""
    rows = payload.get("associations") if isinstance(payload, dict) else None
    if not isinstance(rows, list):
        raise BadAnswer("slurmrestd's associations answer has no 'associations' array")
    for row in rows:
        if isinstance(row, dict) and row.get("account") == account and not row.get("user"):
            minutes = _at(row, "max", "tres", "group", "minutes")
            for tres in minutes if isinstance(minutes, list) else []:
                if isinstance(tres, dict) and tres.get("type") == "node":
                    count = _int(tres.get("count"))
                    return count if count is not None and count >= 0 else None
    return None


def node_seconds(payload: Any, now: float) -> list[tuple[int, float]]:
    """``GET /slurmdb/v0.0.38/jobs`` -> (nodes, seconds run so far) of each job record."""
    out = []
    for record in job_list(payload):
        times = record.get("time") if isinstance(record.get("time"), dict) else {}
        start, end = _int(times.get("start")) or 0, _int(times.get("end")) or 0
        nodes = _int(record.get("allocation_nodes")) or 0
        if start > 0:
            out.append((nodes, float(max(0, (end or int(now)) - start))))
    return out


def reservations(payload: Any, now: float) -> list[dict[str, str]]:
    """``GET /slurm/v0.0.38/reservations`` -> the fields ``accounts.usable_reservations`` reads
    (as ``scontrol show reservation`` names them)."""
    rows = payload.get("reservations") if isinstance(payload, dict) else None
    if not isinstance(rows, list):
        raise BadAnswer("slurmrestd's reservations answer has no 'reservations' array")
    out = []
    for row in rows:
        if not isinstance(row, dict):
            continue
        start, end = _int(row.get("start_time")) or 0, _int(row.get("end_time")) or 0
        out.append({
            "ReservationName": _str(row.get("name"), 64) or "",
            "State": "ACTIVE" if start <= now < end else "INACTIVE",
            "Users": _str(row.get("users")) or "(null)",
            "Accounts": _str(row.get("accounts")) or "(null)",
            "Groups": _str(row.get("groups")) or "(null)",
        })
    return out


def job_id_of(payload: Any) -> str:
    """The new job's id from ``POST /slurm/v0.0.38/job/submit``."""
    job_id = _int(payload.get("job_id")) if isinstance(payload, dict) else None
    if job_id is None or not JOB_ID.fullmatch(str(job_id)):
        raise BadAnswer(f"slurmrestd returned no job id: {str(payload)[:200]!r}")
    return str(job_id)
