"""Pure Slurm adapters: argv lists and scripts from a request, parsers for command output.

No I/O here; every function is unit-tested on canned text.
"""

from __future__ import annotations

import logging
import re
import shlex
from dataclasses import dataclass
from datetime import datetime
from importlib import resources

import jinja2

from .options import SpawnRequest

log = logging.getLogger("hpchub.slurm")

JOB_NAME = "hpchub-spawner"
# Only fields Slurm itself sets: never a job name (%j), comment (%k), command (%o) or work dir
# (%Z), which users control and which may hold "|" and newlines (a forged record).
SQUEUE_FORMAT = "%i|%T|%r|%N|%S|%P|%Q|%u|%l|%M"
# What each field of SQUEUE_FORMAT may look like; a line that does not match is skipped.
SQUEUE_FIELDS = (
    re.compile(r"[0-9]{1,12}(?:_[0-9]{1,9}|_\[[0-9,%\-]{1,200}\]|\+[0-9]{1,6})?"),  # job id
    re.compile(r"[A-Z][A-Z_]{1,30}(?: by [0-9]{1,10})?\+?"),  # state
    re.compile(r"[A-Za-z0-9_(),.:'\[\]=/ -]{0,200}"),  # reason (an enum of Slurm's)
    re.compile(r"[A-Za-z0-9\[\],._-]{0,4000}"),  # nodes (hostlist)
    re.compile(r"(?:[0-9T:-]{19}|N/A|Unknown|NONE)?"),  # start
    re.compile(r"[A-Za-z0-9_.,-]{1,400}"),  # partition(s)
    re.compile(r"[0-9]{1,12}"),  # priority
    re.compile(r"[A-Za-z0-9_.$-]{1,64}"),  # user
    re.compile(r"[0-9:-]{1,16}|UNLIMITED|INVALID|NOT_SET|N/A|Partition_Limit"),  # time limit
    re.compile(r"[0-9:-]{1,16}|INVALID|N/A"),  # time used
)
PENDING = {"PENDING", "CONFIGURING", "REQUEUED", "REQUEUE_HOLD", "REQUEUE_FED", "RESV_DEL_HOLD",
           "SUSPENDED", "RESIZING"}
RUNNING = {"RUNNING"}
ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
RESERVATION_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}")

REASONS = {
    "Resources": "waiting for nodes to become free",
    "Priority": "other jobs are ahead of yours",
    "QOSMaxJobsPerUserLimit": "you already run the most jobs this QOS allows",
    "ReqNodeNotAvail": "the nodes it needs are down or reserved",
    "Reservation": "waiting for the reservation to start",
    "PartitionTimeLimit": "its time limit is longer than the partition allows",
    "AssocGrpCpuLimit": "your account is at its CPU limit",
    "BeginTime": "its start time has not come yet",
    "JobHeldUser": "it is held (by you)",
    "JobHeldAdmin": "it is held by the center's staff",
    "None": "being scheduled",
}
ENDINGS = {
    "COMPLETED": "the server exited",
    "CANCELLED": "the job was cancelled",
    "FAILED": "the job failed (see its log in your home directory)",
    "TIMEOUT": "the job reached its time limit",
    "NODE_FAIL": "the node it ran on failed",
    "OUT_OF_MEMORY": "the job ran out of memory",
    "PREEMPTED": "the job was preempted by a higher-priority job",
    "BOOT_FAIL": "the node failed to boot",
    "DEADLINE": "the job missed its deadline",
    "COMPLETING": "the job is ending",
    "REQUEUED": "Slurm put the job back in the queue (its node failed)",
}


@dataclass(frozen=True)
class JobInfo:
    """One line of ``squeue``."""

    job_id: str
    state: str
    reason: str
    nodes: str
    start: str
    partition: str
    priority: int
    user: str
    limit_s: int | None = None  # time limit
    elapsed_s: int | None = None  # time used so far (or in all, once ended)

    @property
    def pending(self) -> bool:
        return self.state in PENDING

    @property
    def running(self) -> bool:
        return self.state in RUNNING

    @property
    def ended(self) -> bool:
        return not (self.pending or self.running)


def squeue_argv() -> list[str]:
    """One call that lists every job (all users, all states still in memory)."""
    return ["squeue", "-h", "-a", "-t", "all", "-o", SQUEUE_FORMAT]


def duration_s(text: str) -> int | None:
    """Seconds in a Slurm duration: ``1-02:03:04``, ``2:03:04``, ``3:04``, ``UNLIMITED``.

    >>> duration_s("1-00:00:10"), duration_s("1:30"), duration_s("UNLIMITED")
    (86410, 90, None)
    """
    match = re.fullmatch(r"(?:([0-9]+)-)?(?:([0-9]+):)?([0-9]+):([0-9]+)", text.strip())
    if not match:
        return None
    days, hours, minutes, seconds = (int(g or 0) for g in match.groups())
    return ((days * 24 + hours) * 60 + minutes) * 60 + seconds


def parse_squeue_line(line: str) -> JobInfo | None:
    """One line of ``SQUEUE_FORMAT``, or None unless every field is what Slurm writes there."""
    parts = line.split("|")
    if len(parts) != len(SQUEUE_FIELDS) or not all(
            pattern.fullmatch(part) for pattern, part in zip(SQUEUE_FIELDS, parts, strict=True)):
        return None
    job_id, state, reason, nodes, start, part, prio, user, limit, used = parts
    state = state.split()[0].rstrip("+")  # "CANCELLED by 2001" -> CANCELLED
    return JobInfo(job_id, state, reason, nodes, start, part, int(prio), user,
                   duration_s(limit), duration_s(used))


def parse_squeue(text: str) -> dict[str, JobInfo]:
    """Jobs by id; malformed lines are logged and skipped, never fatal."""
    jobs: dict[str, JobInfo] = {}
    skipped = 0
    for line in text.splitlines():
        job = parse_squeue_line(line)
        if job is None or job.job_id in jobs:
            skipped += bool(line.strip())
            continue
        jobs[job.job_id] = job
    if skipped:
        log.warning("skipped %d malformed squeue line(s)", skipped)
    return jobs


def queue_position(job: JobInfo, jobs: dict[str, JobInfo]) -> tuple[int, int]:
    """(position, total) of a pending job among pending jobs of its partition, by priority."""
    peers = [j for j in jobs.values() if j.pending and j.partition == job.partition]
    peers.sort(key=lambda j: (-j.priority, int(j.job_id) if j.job_id.isdigit() else 0))
    ids = [j.job_id for j in peers]
    return (ids.index(job.job_id) + 1 if job.job_id in ids else 0, len(ids))


def explain_reason(reason: str) -> str:
    """Slurm's pending reason in plain words (Slurm's own word is kept by callers)."""
    key = reason.split(",")[0].strip("() ")
    return REASONS.get(key, "waiting in the queue")


def explain_end(state: str) -> str:
    return ENDINGS.get(state, f"the job ended ({state})")


def ended_by_time_limit(job: JobInfo, grace_s: int) -> bool:
    """True when the job ended within its shutdown warning of the time limit.

    Slurm may send ``--signal`` up to 60 s before the requested time (its event resolution).
    """
    if job.state == "TIMEOUT":
        return True
    if job.limit_s is None or job.elapsed_s is None:
        return False
    return job.elapsed_s >= job.limit_s - grace_s - 65


def start_estimate(job: JobInfo) -> str | None:
    """``HH:MM`` of Slurm's expected start, when Slurm has one."""
    try:
        return datetime.fromisoformat(job.start).strftime("%H:%M")
    except ValueError:
        return None


def pending_message(job: JobInfo, jobs: dict[str, JobInfo]) -> str:
    position, total = queue_position(job, jobs)
    text = f"Queued: position {position} of {total} in {job.partition}" if position else "Queued"
    text += f", reason {job.reason} ({explain_reason(job.reason)})"
    estimate = start_estimate(job)
    return text + (f", estimated start {estimate}" if estimate else "")


def first_host(nodelist: str) -> str:
    """The node a batch script runs on: the first of the allocation."""
    from hpchub.site_configs.hostlist import expand_hostlist

    return expand_hostlist(nodelist)[0]


def server_label(server_name: str) -> str:
    """A server's name as Slurm may carry it (job names, comments): no spaces, "|" or newlines.

    >>> server_label(""), server_label("my gpu|x")
    ('default', 'my_gpu_x')
    """
    return re.sub(r"[^A-Za-z0-9_.-]", "_", server_name)[:40] or "default"


def server_comment(user: str, server_name: str) -> str:
    """The comment of a server job; the reconciler cancels only jobs whose whole comment is this."""
    return f"hpchub:{user}/{server_label(server_name)}"


def sbatch_argv(req: SpawnRequest, home: str, comment: str, grace_s: int) -> list[str]:
    """``sbatch`` flags for a validated request; the script comes on stdin."""
    argv = ["sbatch", "--parsable", f"--job-name={JOB_NAME}", f"--partition={req.partition}",
            f"--nodes={req.nodes}", f"--time={req.time}", f"--chdir={home}",
            f"--output={home}/.hpchub-jupyter-%j.log", f"--comment={comment}",
            f"--signal=B:TERM@{grace_s}",
            # A server that lost its node is gone: never restart it silently elsewhere.
            "--no-requeue"]
    if req.account:
        argv.append(f"--account={req.account}")
    if req.qos:
        argv.append(f"--qos={req.qos}")
    if req.reservation:
        argv.append(f"--reservation={req.reservation}")
    if req.gpus_per_node:
        argv.append(f"--gpus-per-node={req.gpus_per_node}")
    return argv


def parse_job_id(output: str) -> str:
    """``sbatch --parsable`` prints ``123`` or ``123;cluster``."""
    last = output.strip().splitlines()[-1] if output.strip() else ""
    job_id = last.split(";")[0]
    if not job_id.isdigit():
        raise ValueError(f"sbatch printed no job id: {output.strip()[:200]!r}")
    return job_id


_ENV = jinja2.Environment(undefined=jinja2.StrictUndefined, autoescape=False,
                          keep_trailing_newline=True, trim_blocks=True, lstrip_blocks=True)
_ENV.filters["shquote"] = lambda value: shlex.quote(str(value))


def render_script(*, user: str, profile: str, env: dict[str, str], command: list[str],
                  runtime_bin: str, grace_s: int, template: str | None = None) -> str:
    """The batch script: exported environment and the server command, all shell-quoted."""
    bad = [k for k in env if not ENV_NAME.match(k)]
    if bad:
        raise ValueError(f"invalid environment variable names: {bad}")
    text = template or resources.files("hpchub.spawners").joinpath(
        "templates/singleuser.sh.j2").read_text()
    return _ENV.from_string(text).render(user=user, profile=profile, env=env, command=command,
                                         runtime_bin=runtime_bin, grace_s=grace_s)


def parse_associations(text: str) -> dict[str, tuple[str, ...]]:
    """``sacctmgr -n -P show assoc where user=U format=account,qos`` -> {account: qos}."""
    out: dict[str, tuple[str, ...]] = {}
    for line in text.splitlines():
        account, _, qos = line.strip().partition("|")
        if account:
            out[account] = tuple(q for q in qos.split(",") if q)
    return out


def _allows(fields: dict[str, str], key: str, names: set[str]) -> bool | None:
    """Whether a reservation's ``Users=``/``Accounts=``/``Groups=`` list admits any of ``names``
    (None when the list is not set). ``-a,b`` means everyone except a and b."""
    value = fields.get(key, "(null)")
    if value in ("(null)", ""):
        return None
    excluded = value.startswith("-")
    listed = set(value.lstrip("-").split(","))
    return bool(names - listed) if excluded else bool(names & listed)


def parse_reservations(text: str, user: str, accounts: tuple[str, ...],
                       groups: tuple[str, ...]) -> tuple[str, ...]:
    """Names of reservations from ``scontrol -o show res`` that ``user`` may use.

    As Slurm decides: every list the reservation sets must admit the user (a job must match
    both ``Users`` and ``Accounts`` when both are set)."""
    names = []
    for line in text.splitlines():
        fields: dict[str, str] = {}
        for key, value in re.findall(r"(\w+)=(\S*)", line):
            fields.setdefault(key, value)  # a later "Users=" inside a comment changes nothing
        name = fields.get("ReservationName", "")
        if not RESERVATION_NAME.fullmatch(name) or fields.get("State") not in ("ACTIVE", "INACTIVE"):
            continue
        checks = [_allows(fields, "Users", {user}), _allows(fields, "Accounts", set(accounts)),
                  _allows(fields, "Groups", set(groups))]
        given = [c for c in checks if c is not None]
        if given and all(given):
            names.append(name)
    return tuple(names)
