"""Say where a notebook's jobs are while their engines/workers queue and register."""

from __future__ import annotations

from hpchub.slurm.client import CommandTimeout, SlurmError, slurm
from hpchub.slurm.jobs import JobInfo
from hpchub.slurm.messages import pending_message


def jobs_now() -> dict[str, JobInfo] | None:
    """Every job in the queue (positions need the others), or None when Slurm did not answer."""
    try:
        return slurm().jobs_sync()
    except (SlurmError, CommandTimeout):
        return None


def describe(job_ids: list[str], jobs: dict[str, JobInfo], registered: int, wanted: int,
             what: str) -> str:
    """One line: queue position/reason of pending jobs, or where they run and how many joined."""
    parts = []
    for job_id in job_ids:
        job = jobs.get(job_id)
        if job is None:
            continue
        if job.pending:
            parts.append(f"job {job_id}: {pending_message(job, jobs)}")
        elif job.running:
            parts.append(f"job {job_id}: running on {job.nodes}")
        else:
            parts.append(f"job {job_id}: {job.state}")
    return "; ".join(parts + [f"{registered}/{wanted} {what} ready"])


class Reporter:
    """Shows one updating line in a notebook (or prints changes elsewhere)."""

    def __init__(self) -> None:
        self.last = ""
        self.handle = None
        try:
            from IPython import get_ipython
            from IPython.display import display

            if get_ipython() is not None and getattr(get_ipython(), "kernel", None) is not None:
                self.handle = display({"text/plain": ""}, raw=True, display_id=True)
        except ImportError:
            pass

    def __call__(self, line: str) -> None:
        if line == self.last:
            return
        self.last = line
        if self.handle is not None:
            self.handle.update({"text/plain": line}, raw=True)
        else:
            print(line, flush=True)
