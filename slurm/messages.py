"""Slurm's states and pending reasons in the user's words (Slurm's own word is kept too)."""

from __future__ import annotations

from datetime import datetime

from .jobs import JobInfo, queue_position

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
