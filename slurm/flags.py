"""What hpchub asks Slurm for, as ``sbatch``/``srun`` flags (argv values, never script text).

Every value here was checked before (``hpchub.spawners.options`` for servers,
``hpchub.jobs.request.check`` for notebook jobs); the builders only spell the flags.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from .jobs import SERVER_JOB_NAME
from .times import walltime_minutes


class ServerRequest(Protocol):
    """The fields of a validated server request (``hpchub.spawners.options.SpawnRequest``)."""

    partition: str | None
    nodes: int
    time: str
    account: str | None
    qos: str | None
    reservation: str | None
    gpus_per_node: int


@dataclass(frozen=True)
class JobRequest:
    """Resources for one batch of notebook engines or workers (a single Slurm job)."""

    nodes: int = 1
    tasks_per_node: int = 1
    cpus_per_task: int = 1
    gpus_per_task: int = 0
    partition: str | None = None
    account: str | None = None
    qos: str | None = None
    time: str = "00:30:00"

    @property
    def tasks(self) -> int:
        return self.nodes * self.tasks_per_node


def _optional(**flags: object) -> list[str]:
    return [f"--{name.replace('_', '-')}={value}" for name, value in flags.items() if value]


@dataclass(frozen=True)
class BatchJob:
    """One server job as hpchub submits it; each backend spells it its own way (``sbatch``
    flags, slurmrestd's job description)."""

    name: str
    partition: str | None
    nodes: int
    time: str
    workdir: str
    output: str  # with Slurm's %j
    comment: str
    account: str | None = None
    qos: str | None = None
    reservation: str | None = None
    gpus_per_node: int = 0


def server_job(req: ServerRequest, home: str, comment: str,
               output: str = "~/.hpchub-jupyter-%j.log") -> BatchJob:
    """The job of a server (``output``: its log, ``~`` being ``home``). Its script stops the
    server before the time limit by itself, the same way with either backend."""
    if output.startswith("~/"):
        output = f"{home}/{output[2:]}"
    return BatchJob(name=SERVER_JOB_NAME, partition=req.partition, nodes=req.nodes,
                    time=req.time, workdir=home, output=output,
                    comment=comment, account=req.account, qos=req.qos,
                    reservation=req.reservation, gpus_per_node=req.gpus_per_node)


def sbatch_flags(job: BatchJob) -> list[str]:
    """``sbatch`` flags of a server job; the script comes on stdin."""
    return ["--parsable", f"--job-name={job.name}", f"--partition={job.partition}",
            f"--nodes={job.nodes}", f"--time={job.time}", f"--chdir={job.workdir}",
            f"--output={job.output}", f"--comment={job.comment}",
            # A server that lost its node is gone: never restart it silently elsewhere.
            "--no-requeue",
            *_optional(account=job.account, qos=job.qos, reservation=job.reservation,
                       gpus_per_node=job.gpus_per_node)]


def rest_job(job: BatchJob, environment: dict[str, str], script: str) -> dict[str, object]:
    """slurmrestd's (v0.0.40-v0.0.42) job description of a server job: sbatch's options under
    the API's names (minutes for the time limit, GPUs as a TRES per node)."""
    desc: dict[str, object] = {
        "script": script, "name": job.name, "partition": job.partition, "nodes": str(job.nodes),
        "time_limit": walltime_minutes(job.time), "current_working_directory": job.workdir,
        "standard_output": job.output, "comment": job.comment, "requeue": False,
        "environment": [f"{key}={value}" for key, value in environment.items()],
    }
    optional = {"account": job.account, "qos": job.qos, "reservation": job.reservation,
                "tres_per_node": f"gres/gpu:{job.gpus_per_node}" if job.gpus_per_node else None}
    return {**desc, **{key: value for key, value in optional.items() if value}}


def job_flags(req: JobRequest, job_name: str) -> list[str]:
    """Flags of a checked notebook job (engines or workers)."""
    argv = [f"--job-name={job_name}", f"--partition={req.partition}", f"--nodes={req.nodes}",
            f"--ntasks-per-node={req.tasks_per_node}", f"--cpus-per-task={req.cpus_per_task}",
            f"--time={req.time}", f"--account={req.account}", "--no-requeue",
            *_optional(qos=req.qos)]
    return argv + gpu_flags(req.gpus_per_task)


def gpu_flags(gpus_per_task: int) -> list[str]:
    """One GPU set per task, bound to it (``CUDA_VISIBLE_DEVICES`` per task)."""
    if not gpus_per_task:
        return []
    return [f"--gpus-per-task={gpus_per_task}", f"--gpu-bind=per_task:{gpus_per_task}"]


def step_flags(nodes: int, tasks_per_node: int, cpus_per_task: int, gpus_per_task: int,
               mpi: bool) -> list[str]:
    """Flags of job steps inside the allocation the caller already runs in."""
    return [*(["--mpi=pmix"] if mpi else []), "--overlap", f"--nodes={nodes}",
            f"--ntasks-per-node={tasks_per_node}", f"--cpus-per-task={cpus_per_task}",
            *gpu_flags(gpus_per_task)]


def validation_flags(partition: str, time: str, account: str, qos: str | None,
                     job_name: str) -> list[str]:
    """Flags of the one-node step that checks a kernel release on a compute node."""
    return ["--quiet", "-N1", "-n1", "-c2", f"--partition={partition}", f"--time={time}",
            f"--account={account}", f"--job-name={job_name}", *_optional(qos=qos)]
