"""ipyparallel on Slurm from a notebook: engines as one Slurm job (or steps of the server's own
job), the controller on this node's cluster interface, progress while they queue.

Thin glue over ipyparallel's own ``Cluster`` and ``SlurmEngineSetLauncher``: what hpchub adds is
the site defaults, the checks before submitting, sbatch flags as argv (not template text),
``srun --mpi=pmix`` for MPI engines, honest progress and a job name the hub can clean up by.
"""

from __future__ import annotations

import asyncio
import logging
import os
import time

import ipyparallel as ipp
from ipyparallel.cluster.launcher import MPIEngineSetLauncher, SlurmEngineSetLauncher
from traitlets import Bool, Integer, List, Unicode, default
from traitlets.config import Config

from hpchub.site_configs import Site, installed_site
from hpchub.slurm.cli import sbatch, srun
from hpchub.slurm.flags import job_flags, step_flags

from .netinfo import interface_address
from .progress import Reporter, describe, jobs_now
from .request import JobRequest, JobRequestError, check, notebook_job_name, user_associations


class SlurmEngines(SlurmEngineSetLauncher):
    """All engines in one ``sbatch`` job; each Slurm task is one engine (``srun``)."""

    sbatch_flags = List(Unicode(), config=True, help="checked sbatch flags (argv)")
    mpi = Bool(False, config=True, help="start the tasks with srun --mpi=pmix")

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        # ipyparallel 9.2 writes the script to the kernel's working directory ('.' is hard-coded
        # in Cluster), which may be read-only (or /): keep it with the cluster's logs instead.
        log_dir = os.path.join(self.profile_dir, "log")
        os.makedirs(log_dir, exist_ok=True)
        self.batch_file = os.path.join(log_dir, f"{self.identifier}.sbatch")

    def stop(self):  # noqa: ANN201
        # ipyparallel 9.2 runs `scancel ''` (and raises) when sbatch itself failed.
        if not self.job_id:
            self.notify_stop({"job_id": "", "output": "never submitted"})
            return ""
        return super().stop()

    @default("submit_command")
    def _submit_command(self) -> list[str]:
        return sbatch(["--parsable", f"--output={self.output_file}",
                       f"--chdir={os.path.expanduser('~')}", *self.sbatch_flags])

    @default("default_template")
    def _batch_template(self) -> str:
        launch = " ".join(srun(["--mpi=pmix"] if self.mpi else []))
        return ("#!/bin/sh\n# ipyparallel engines started by hpchub.jobs\n"
                f"exec {launch} {{program_and_args}}\n")


class NotebookCluster(ipp.Cluster):
    """``ipp.Cluster`` that reports queue position and registration while it starts."""

    queue_timeout = Integer(600, config=True, help="give up (and cancel) after this long queued")
    register_timeout = Integer(180, config=True, help="once running, engines must join by then")

    async def start_and_connect(self, n=None, activate=False):  # noqa: ANN001, ANN201
        if n is None:
            n = self.n
        await self.start_cluster(n=n)
        client = await self.connect_client()
        try:
            await self.wait_for_engines(client, n)
        except BaseException:
            client.close()
            await self.stop_cluster()
            raise
        if activate:
            view = client[:]
            view.block = True
            view.activate()
        return client

    async def wait_for_engines(self, client: ipp.Client, n: int) -> None:
        """Return once ``n`` engines joined; say where the job is meanwhile (squeue every 2 s)."""
        report = Reporter()
        job_ids = [s.job_id for s in self.engines.values() if getattr(s, "job_id", "")]
        queued_since = running_since = time.monotonic()
        asked = 0.0
        nodes = ""
        while len(client.ids) < n:
            if job_ids and time.monotonic() - asked >= 2:
                asked = time.monotonic()
                jobs = await asyncio.to_thread(jobs_now)
                if jobs is not None:
                    report(describe(job_ids, jobs, len(client.ids), n, "engines"))
                    states = [jobs.get(j) for j in job_ids]
                    nodes = ",".join(s.nodes for s in states if s and s.running)
                    if any(s is None or s.ended for s in states) and len(client.ids) < n:
                        log = next(iter(self.engines.values())).output_file
                        raise RuntimeError(f"the engine job ended before all engines joined; see {log}")
                    if any(s.pending for s in states):
                        running_since = time.monotonic()
                        if time.monotonic() - queued_since > self.queue_timeout:
                            raise TimeoutError(f"engines still queued after {self.queue_timeout} s; "
                                               "cancelled. Ask for fewer nodes or another partition.")
            if time.monotonic() - running_since > self.register_timeout:
                raise TimeoutError(f"only {len(client.ids)} of {n} engines joined within "
                                   f"{self.register_timeout} s of starting")
            await asyncio.sleep(0.1)
        report(f"{n} engines ready" + (f" on {nodes}" if nodes else ""))


def ipyparallel_cluster(nodes: int = 1, tasks_per_node: int = 1, *, mpi: bool = False,
                        cpus_per_task: int = 1, gpus_per_task: int = 0,
                        partition: str | None = None, account: str | None = None,
                        qos: str | None = None, time: str = "00:30:00",
                        in_allocation: bool = False, site: Site | None = None,
                        **cluster_kwargs) -> NotebookCluster:
    """An ipyparallel cluster for this site; start it with ``cluster.start_and_connect_sync()``.

    Engines run as one Slurm job of ``nodes`` x ``tasks_per_node`` tasks (one engine each), or
    with ``in_allocation=True`` as ``srun`` steps inside the job this server already runs in.
    Everything is checked against the site and your Slurm associations before submitting;
    a :class:`JobRequestError` says what is allowed instead.
    """
    site = site or installed_site()
    req = JobRequest(nodes, tasks_per_node, cpus_per_task, gpus_per_task, partition, account, qos, time)
    config = Config()
    address = interface_address(site.network.interface)
    if in_allocation:
        if "SLURM_JOB_ID" not in os.environ:
            raise JobRequestError("in_allocation=True needs a server running in a Slurm job "
                                  "(not the shared node): start one with the 'Configurable job' profile")
        allocated = int(os.environ.get("SLURM_JOB_NUM_NODES", "1"))
        if nodes > allocated:
            raise JobRequestError(f"this server's job has {allocated} node(s); you asked for {nodes}")
        config.MPIEngineSetLauncher.mpi_cmd = srun(
            step_flags(nodes, tasks_per_node, cpus_per_task, gpus_per_task, mpi))
        launcher = MPIEngineSetLauncher
    else:
        req = check(req, site, user_associations())
        config.SlurmEngines.sbatch_flags = job_flags(req, notebook_job_name())
        config.SlurmEngines.mpi = mpi
        launcher = SlurmEngines
    if mpi:
        config.EngineLauncher.engine_args = ["--mpi"]  # engine id = MPI rank
    cluster_kwargs.setdefault("engine_timeout", 180)
    cluster_kwargs.setdefault("log_level", logging.WARNING)  # our progress line says what happens
    return NotebookCluster(engine_launcher_class=launcher, n=req.tasks, controller_ip=address,
                           controller_location=address, config=config, **cluster_kwargs)
