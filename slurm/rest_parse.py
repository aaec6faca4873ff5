"""slurmrestd (OpenAPI v0.0.40-v0.0.42) answers -> the same records the ``cli`` backend makes.

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

# A job's state is a list: one base state, then flags. squeue prints the first of these flags
# that is set, else the base state (job_state_string() in Slurm's slurm_protocol_defs.c).
BASE_STATES = frozenset(
    "PENDING RUNNING SUSPENDED COMPLETED CANCELLED FAILED TIMEOUT NODE_FAIL PREEMPTED BOOT_FAIL "
    "DEADLINE OUT_OF_MEMORY".split())
SHOWN_FLAGS = ("COMPLETING", "STAGE_OUT", "CONFIGURING", "RESIZING", "REQUEUED", "REQUEUE_FED",
               "REQUEUE_HOLD", "SPECIAL_EXIT", "STOPPED", "REVOKED", "RESV_DEL_HOLD", "SIGNALING")
STATES = BASE_STATES | frozenset(SHOWN_FLAGS)
UNKNOWN = "UNKNOWN"
NO_CHANGE = "No job changes since update_time"  # the warning of an unchanged job list
ALREADY_DONE = {2017, 2021}  # ESLURM_INVALID_JOB_ID (gone), ESLURM_ALREADY_DONE: nothing to cancel


class BadAnswer(SlurmUnavailable):
    """slurmrestd's answer is not what its API promises (so Slurm is unusable through it)."""


def _int(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _number(value: Any) -> int | None:
    """An integer Slurm may leave unset or infinite: ``{"set": true, "infinite": false,
    "number": N}`` -> N; unset or infinite -> None (a bare integer is taken as it is)."""
    if isinstance(value, dict):
        if value.get("set") is True and value.get("infinite") is False:
            return _int(value.get("number"))
        return None
    return _int(value)


def _known(value: Any) -> bool:
    """True for a well-formed number object (set, unset or infinite) or integer."""
    return _int(value) is not None or (
        isinstance(value, dict) and isinstance(value.get("set"), bool)
        and isinstance(value.get("infinite"), bool) and _int(value.get("number")) is not None)


def state_of(value: Any) -> str | None:
    """The one word squeue prints for a job's state list; None when it is not one Slurm sends."""
    if not isinstance(value, list) or not all(isinstance(s, str) for s in value):
        return None
    base = [s for s in value if s in BASE_STATES]
    if len(base) != 1:
        return None
    return next((flag for flag in SHOWN_FLAGS if flag in value), base[0])


def unchanged(payload: Any) -> bool:
    """slurmrestd's answer to a job list asked with ``update_time`` when no job changed since:
    no jobs and the warning that says so (an empty cluster answers without it)."""
    warnings = payload.get("warnings") if isinstance(payload, dict) else None
    return (isinstance(payload, dict) and payload.get("jobs") == [] and isinstance(warnings, list)
            and any(isinstance(w, dict) and str(w.get("description", "")).startswith(NO_CHANGE)
                    for w in warnings))


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
    state = state_of(record.get("job_state"))
    reason = _str(record.get("state_reason"), 200)
    nodes = _str(record.get("nodes"))
    partition = _str(record.get("partition"), 400)
    fields = [record.get(k) for k in ("start_time", "end_time", "priority", "time_limit")]
    fields_ok = (state is not None and reason is not None and nodes is not None
                 and partition is not None and all(_known(f) for f in fields))
    if not fields_ok:
        log.error("slurmrestd sent job %s with unexpected fields (state %r): its state is "
                  "unknown until Slurm answers properly", job_id, str(record.get("job_state"))[:60])
        return JobInfo(job_id, UNKNOWN, "", "", "", "", 0, user)
    start, end, priority, limit = (_number(f) for f in fields)
    start, end = start or 0, end or 0
    running = state in ("RUNNING", "SUSPENDED", "COMPLETING")
    elapsed = None
    if start and start <= now:
        elapsed = int((now if running or not end else end) - start)
    return JobInfo(job_id, state, reason, nodes, _timestamp(start), partition,
                   priority or 0, user, limit * 60 if limit is not None else None, elapsed)


def parse_jobs(payload: Any, now: float) -> dict[str, JobInfo]:
    """Jobs by id from ``GET /slurm/<v>/jobs``; :class:`BadAnswer` if unusable."""
    return {info.job_id: info for info in (job_info(r, now) for r in job_list(payload))}


def server_jobs(payload: Any, name: str, live: set[str]) -> list[ServerJob]:
    """Live jobs named ``name``, with owner and submit time."""
    found = []
    for record in job_list(payload):
        job_id, user = _identity(record)
        submitted = _number(record.get("submit_time"))
        if record.get("name") == name and state_of(record.get("job_state")) in live and submitted:
            found.append(ServerJob(job_id, user, float(submitted)))
    return found


def job_ids_named(payload: Any, user: str, name: str, live: set[str]) -> list[str]:
    """Ids of ``user``'s live jobs named ``name``."""
    ids = []
    for record in job_list(payload):
        job_id, owner = _identity(record)
        if owner == user and record.get("name") == name and \
                state_of(record.get("job_state")) in live:
            ids.append(job_id)
    return ids


def job_ids_commented(payload: Any, user: str, text: str, live: set[str]) -> list[str]:
    """Ids of ``user``'s live jobs whose whole comment is ``text``."""
    return [str(r["job_id"]) for r in job_list(payload) if _identity(r)[1] == user
            and r.get("comment") == text and state_of(r.get("job_state")) in live]


def comment(payload: Any, job_id: str) -> str:
    """One job's comment as the cli backend prints it (with its newline)."""
    for record in job_list(payload):
        if str(_int(record.get("job_id"))) == job_id:
            return (_str(record.get("comment"), 10000) or "") + "\n"
    raise BadAnswer(f"slurmrestd did not return job {job_id}")


def associations(payload: Any) -> dict[str, tuple[str, ...]]:
    """``GET /slurmdb/<v>/associations?user=U`` -> {account: QOS names}."""
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
    """``GET /slurmdb/<v>/associations?account=A`` -> the account's own (user-less) row's
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
    """``GET /slurmdb/<v>/jobs`` -> (nodes, seconds run so far) of each job record."""
    out = []
    for record in job_list(payload):
        times = record.get("time") if isinstance(record.get("time"), dict) else {}
        start, end = _number(times.get("start")) or 0, _number(times.get("end")) or 0
        nodes = _number(record.get("allocation_nodes")) or 0
        if start > 0:
            out.append((nodes, float(max(0, (end or int(now)) - start))))
    return out


def reservations(payload: Any, now: float) -> list[dict[str, str]]:
    """``GET /slurm/<v>/reservations`` -> the fields ``accounts.usable_reservations`` reads
    (as ``scontrol show reservation`` names them)."""
    rows = payload.get("reservations") if isinstance(payload, dict) else None
    if not isinstance(rows, list):
        raise BadAnswer("slurmrestd's reservations answer has no 'reservations' array")
    out = []
    for row in rows:
        if not isinstance(row, dict):
            continue
        start, end = _number(row.get("start_time")) or 0, _number(row.get("end_time")) or 0
        out.append({
            "ReservationName": _str(row.get("name"), 64) or "",
            "State": "ACTIVE" if start <= now < end else "INACTIVE",
            "Users": _str(row.get("users")) or "(null)",
            "Accounts": _str(row.get("accounts")) or "(null)",
            "Groups": _str(row.get("groups")) or "(null)",
        })
    return out


def job_id_of(payload: Any) -> str:
    """The new job's id from ``POST /slurm/<v>/job/submit``."""
    job_id = _int(payload.get("job_id")) if isinstance(payload, dict) else None
    if job_id is None or not JOB_ID.fullmatch(str(job_id)):
        raise BadAnswer(f"slurmrestd returned no job id: {str(payload)[:200]!r}")
    return str(job_id)


def cancel_refusals(payload: Any) -> str:
    """Slurm's words for a cancel it refused, from ``DELETE /slurm/<v>/job/<id>`` (answered 200
    whatever happened to the job); "" when it was cancelled or had already ended."""
    statuses = payload.get("status") if isinstance(payload, dict) else None
    words = []
    for status in statuses if isinstance(statuses, list) else []:
        error = status.get("error") if isinstance(status, dict) else None
        code = _int(error.get("code")) if isinstance(error, dict) else None
        if code and code not in ALREADY_DONE:
            words.append(_str(error.get("message"), 300) or _str(error.get("string"), 300)
                         or f"error {code}")
    return "; ".join(words)
