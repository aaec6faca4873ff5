"""Job records read from ``squeue``, and how hpchub names its own jobs.

Only fields Slurm itself sets are ever requested: never a job name (``%j``), comment (``%k``),
command (``%o``) or work dir (``%Z``), which users control and which may hold ``|`` and
newlines (a forged record). Every field must look like what Slurm writes there; any other
line is logged and skipped, never fatal. See docs/security.md.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from datetime import datetime

from .times import duration_s

log = logging.getLogger("hpchub.slurm")

SERVER_JOB_NAME = "hpchub-spawner"
NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}", re.ASCII)  # accounts, QOS, partitions...

JOB_ID = re.compile(r"[0-9]{1,12}(?:_[0-9]{1,9}|_\[[0-9,%\-]{1,200}\]|\+[0-9]{1,6})?")
USER = re.compile(r"[A-Za-z0-9_.$-]{1,64}")
ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")  # variables set in job scripts and kernel specs
TIMESTAMP = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}")

SQUEUE_FORMAT = "%i|%T|%r|%N|%S|%P|%Q|%u|%l|%M"
SQUEUE_FIELDS = (
    JOB_ID,
    re.compile(r"[A-Z][A-Z_]{1,30}(?: by [0-9]{1,10})?\+?"),  # state
    re.compile(r"[A-Za-z0-9_(),.:'\[\]=/ -]{0,200}"),  # reason (an enum of Slurm's)
    re.compile(r"[A-Za-z0-9\[\],._-]{0,4000}"),  # nodes (host list)
    re.compile(r"(?:[0-9T:-]{19}|N/A|Unknown|NONE)?"),  # start
    re.compile(r"[A-Za-z0-9_.,-]{1,400}"),  # partition(s)
    re.compile(r"[0-9]{1,12}"),  # priority
    USER,
    re.compile(r"[0-9:-]{1,16}|UNLIMITED|INVALID|NOT_SET|N/A|Partition_Limit"),  # time limit
    re.compile(r"[0-9:-]{1,16}|INVALID|N/A"),  # time used
)
# Server jobs for the reconciler: id, owner and submit time (the comment is read per job).
SERVER_JOBS_FORMAT = "%i|%u|%V"
LIVE_STATES = "PENDING,RUNNING,CONFIGURING,SUSPENDED"
PENDING = {"PENDING", "CONFIGURING", "REQUEUED", "REQUEUE_HOLD", "REQUEUE_FED", "RESV_DEL_HOLD",
           "SUSPENDED", "RESIZING"}
RUNNING = {"RUNNING"}


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
    def unknown(self) -> bool:
        """Slurm's record could not be read: neither queued, running nor ended."""
        return self.state == "UNKNOWN"

    @property
    def ended(self) -> bool:
        return not (self.pending or self.running or self.unknown)


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


def parse_job_id(output: str) -> str:
    """``sbatch --parsable`` prints ``123`` or ``123;cluster``."""
    last = output.strip().splitlines()[-1] if output.strip() else ""
    job_id = last.split(";")[0]
    if not job_id.isdigit():
        raise ValueError(f"Slurm printed no job id: {output.strip()[:200]!r}")
    return job_id


# ------------------------------------------------------------------ hpchub's own jobs
def server_label(server_name: str) -> str:
    """A server's name as Slurm may carry it (job names, comments): no spaces, "|" or newlines.

    >>> server_label(""), server_label("my gpu|x")
    ('default', 'my_gpu_x')
    """
    return re.sub(r"[^A-Za-z0-9_.-]", "_", server_name)[:40] or "default"


def server_comment(user: str, server_name: str) -> str:
    """The comment of a server job; the reconciler cancels only jobs whose whole comment is this."""
    return f"hpchub:{user}/{server_label(server_name)}"


def is_server_comment(output: str, user: str) -> bool:
    """True when the comment of one job (as printed, maybe with a newline) is exactly
    ``hpchub:<user>/<server>``."""
    return re.fullmatch(rf"hpchub:{re.escape(user)}/[A-Za-z0-9._-]{{1,64}}\n?", output) is not None


def notebook_job_name(server_name: str) -> str:
    """The job name of every job a server's notebooks start; the hub cancels them by it when
    the server stops."""
    return "hpchub-nb-" + server_label(server_name)


@dataclass(frozen=True)
class ServerJob:
    job_id: str
    user: str
    submitted: float  # epoch seconds


def parse_server_jobs(text: str) -> list[ServerJob]:
    """``SERVER_JOBS_FORMAT`` lines; any line that is not exactly what Slurm writes is skipped."""
    jobs = []
    for line in text.splitlines():
        parts = line.split("|")
        if (len(parts) != 3 or not JOB_ID.fullmatch(parts[0]) or not USER.fullmatch(parts[1])
                or not TIMESTAMP.fullmatch(parts[2])):
            if line.strip():
                log.warning("skipped a malformed squeue line")
            continue
        jobs.append(ServerJob(parts[0], parts[1], datetime.fromisoformat(parts[2]).timestamp()))
    return jobs
