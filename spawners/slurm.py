"""JupyterLab as a Slurm batch job, submitted as the user, watched by the shared poller.

A JupyterHub ``Spawner`` of its own. It used to extend ``batchspawner.SlurmSpawner`` but had
come to replace every method of it, and inherited ~35 settings (``req_*``, ``batch_*``,
``exec_prefix``...) that mean nothing here; what differs from batchspawner 1.3, and why:

- commands are argv lists run without a shell (upstream uses ``create_subprocess_shell``);
  options are ``sbatch`` flags and the script is rendered with every value shell-quoted
  (upstream merges raw ``user_options`` into the template);
- one job-list read per interval for all servers (upstream: one ``squeue`` per spawner per
  poll), through :mod:`hpchub.slurm` (``sbatch``/``squeue`` or slurmrestd);
- a failed read never means "stopped" (upstream batchspawner#315): only Slurm reporting the
  job ended does;
- a job that dies before reporting its port fails the spawn at once with Slurm's reason
  (upstream batchspawner#253 hangs until the start timeout);
- the job may report only its port (see :mod:`hpchub.spawners.api`); the host comes from
  Slurm's record of where the job runs.

Its state keeps batchspawner's ``job_id`` key.
"""

from __future__ import annotations

import asyncio
import dataclasses
import hashlib
import pwd
import re
import time
from collections.abc import Callable

from jupyterhub.spawner import Spawner
from tornado import web
from traitlets import Dict, Float, Instance, Integer, TraitError, Unicode, validate

from hpchub.node.contract import PREFIX as CONTRACT_PREFIX
from hpchub.node.contract import JobContract
from hpchub.site_configs import Site
from hpchub.slurm.client import CommandTimeout, SlurmError, SlurmUnavailable, slurm
from hpchub.slurm.flags import server_job
from hpchub.slurm.hostlist import first_host
from hpchub.slurm.jobs import JobInfo, server_comment
from hpchub.slurm.messages import ended_by_time_limit, explain_end, explain_reason, pending_message
from hpchub.slurm.times import walltime_minutes, walltime_seconds

from . import certs, metrics
from .options import SpawnRequest
from .poller import poller
from .script import render_script

ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")


def clean_log(text: str, lines: int = 15, width: int = 300) -> str:
    """The last ``lines`` lines of a job's log as plain text (terminal colours and other
    control characters removed, long lines cut): it is shown on the user's progress page."""
    kept = [ANSI.sub("", line) for line in text.splitlines()[-lines:]]
    return "\n".join("".join(ch for ch in line if ch == "\t" or ch.isprintable())[:width]
                     for line in kept)


async def cancel_notebook_jobs(user: str, server_name: str, log) -> None:  # noqa: ANN001
    """A stopping server's notebook jobs go with it (both spawners call this)."""
    try:
        await slurm().cancel_notebook_jobs(user, server_name)
    except (SlurmError, CommandTimeout) as exc:
        log.warning("cancelling the notebook jobs of %s/%s: %s", user, server_name, exc)


class SpawnFailed(web.HTTPError):
    """A spawn that cannot succeed; the message is shown to the user as it is, on the progress
    page and, when the spawn request is still waiting, as its answer with ``status`` (503:
    the scheduler is unavailable): JupyterHub answers a plain exception with a bare 500."""

    def __init__(self, message: str, status: int = 500):
        super().__init__(status)
        self.jupyterhub_message = message  # what JupyterHub shows (API answer, progress event)

    def __str__(self) -> str:
        return self.jupyterhub_message


class SlurmSpawner(Spawner):
    """A node-profile server on Slurm. Configured per profile by :class:`ProfilesSpawner`."""

    job_id = Unicode("", help="The server's Slurm job, once submitted (kept in the state).")
    # The job's server listens on the node's interfaces; the hub reaches it by the node's name.
    ip = Unicode("0.0.0.0", help="The address the server job listens on").tag(config=True)

    # From ProfilesSpawner, as for every child (see hpchub.spawners.profiles); the request is
    # stored in the wrapper's state, the site and the profile's timeouts are not stored.
    site = Instance(Site, help="The center's site config")
    hpchub_request = Dict(help="The validated SpawnRequest fields for this server.")
    pending_timeout = Integer(600, help="Cancel a job still queued after this many seconds")
    shutdown_grace = Integer(120, help="Seconds before the time limit that Slurm asks the "
                             "server to stop cleanly (SIGTERM)").tag(config=True)
    submit_timeout = Float(60.0, help="Seconds the hub waits for Slurm to accept a server's job "
                           "(never retried: a late job is cancelled by the reconciler)").tag(config=True)
    job_output = Unicode("~/.hpchub-jupyter-%j.log", help="""The server job's log (Slurm's
        ``--output``): ``~`` is the user's home, ``%j`` the job id. It must be writable by the
        user on the compute nodes; users are pointed to it when a server fails to start."""
                         ).tag(config=True)

    @validate("job_output")
    def _absolute_output(self, proposal):
        value = proposal["value"]
        if not value.startswith(("/", "~/")) or any(ch in value for ch in "\n\r\0"):
            raise TraitError(f"SlurmSpawner.job_output must be an absolute path or start with ~/: "
                             f"{value!r}")
        return value

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.messages: list[str] = []  # this spawn's progress, replayed to every reader
        self._said = asyncio.Event()
        self._known_since = 0.0  # from then on, squeue must list the job while it exists
        self._port_reported = asyncio.Event()
        self._starting = False  # between submission and serving: a failure report is taken
        self._failure_log = ""  # the end of the job's log, as the job reported it
        self._start_failed = asyncio.Event()
        self._log_path = ""
        self._progress_sent = 0  # messages the progress stream has yielded
        self.end_reason = ""  # why Slurm ended the job, in words (kept in the wrapper's state)
        self.submitted_at = 0.0  # epoch of the submission (stored while the server starts)
        self.token_sha256 = ""  # the job's API token, hashed: found again after a hub restart
        # Set by ProfilesSpawner: saves the wrapper's state now (the job id must survive a hub
        # restart during the start, which JupyterHub would only store once start() returns).
        self.persist: Callable[[], None] | None = None

    # --------------------------------------------------------------- state
    def get_state(self) -> dict:
        state = super().get_state()
        if self.job_id:
            state["job_id"] = self.job_id
        if self.job_id and self.port:
            state["port"] = self.port
        elif self.job_id:  # still starting
            state.update(submitted=self.submitted_at, token_sha256=self.token_sha256)
        return state

    def load_state(self, state: dict) -> None:
        super().load_state(state)
        self.job_id = state.get("job_id", "")
        self.port = int(state.get("port", 0))
        self.submitted_at = float(state.get("submitted", 0))
        self.token_sha256 = state.get("token_sha256", "")
        if self.job_id:
            self._known_since = time.monotonic()  # re-attached after a hub restart
            poller().watch()

    def clear_state(self) -> None:
        super().clear_state()
        self.job_id = ""
        self.port = 0
        self.submitted_at, self.token_sha256 = 0.0, ""

    @property
    def request(self) -> SpawnRequest:
        return SpawnRequest(**self.hpchub_request)

    def _own(self, jobs: dict[str, JobInfo], job_id: str | None = None) -> JobInfo | None:
        """This server's job in a snapshot. Listed with another owner (Slurm shows a bare uid
        while the directory does not answer), its state is UNKNOWN: never used as running,
        never taken for ended."""
        job = jobs.get(job_id or self.job_id)
        if job is not None and job.user != self.user.name:
            self.log.warning("Job %s is listed as %s's, not %s's: its state is unknown for now",
                             job.job_id, job.user, self.user.name)
            return dataclasses.replace(job, state="UNKNOWN", nodes="")
        return job

    def say(self, message: str) -> None:
        if not self.messages or self.messages[-1] != message:
            self.messages.append(message)
            self._said.set()

    def report_port(self, port: int) -> None:
        """Called by the authenticated job (only) with the port it listens on."""
        self.port = port
        self._port_reported.set()
        if self.persist:  # a hub restarted from here on finds the server by its port
            self.persist()
        poller().hurry(id(self))  # the job runs: learn its node now, not at the next squeue

    def report_failure(self, text: str) -> bool:
        """Called by the authenticated job (only) when JupyterLab exits before serving, with the
        end of its log; False when this server is not starting (the report is ignored)."""
        if not self._starting:
            return False
        self._failure_log = clean_log(text)
        self._start_failed.set()
        return True

    async def _failed_to_start(self) -> SpawnFailed:
        """The progress page gets the end of the job's log, line by line (the failure is raised
        once the progress stream has sent them: JupyterHub stops it when the spawn ends); the
        error names the last line."""
        lines = self._failure_log.splitlines()
        log_path = self._log_path.replace("%j", self.job_id)
        self.say(f"JupyterLab stopped while starting. The end of its log ({log_path}):")
        for line in lines:
            self.messages.append(f"  {line}")  # every line, repeated ones too
        self._said.set()
        for _ in range(20):
            if self._progress_sent >= len(self.messages):
                break
            await asyncio.sleep(0.1)
        last = next((line.strip() for line in reversed(lines) if line.strip()), "no output")
        self.end_reason = f"JupyterLab failed to start: {last[:300]} (job {self.job_id}; its log: {log_path})"
        return SpawnFailed(f"JupyterLab failed to start: {last[:300]} (job {self.job_id}; the end "
                           f"of its log is on the progress page, all of it in {log_path}). "
                           "If the cause is in your own Jupyter settings (~/.jupyter), fix them "
                           "and start again.")

    # --------------------------------------------------------------- start
    def job_env(self) -> dict[str, str]:
        """The server's environment: JupyterHub's variables and admin-set ``environment``."""
        env = self.get_env()
        # For the walltime warning in JupyterLab (hpchub.node.walltime).
        env.update(JobContract(shutdown_grace_s=self.grace(),
                               time_limit_s=walltime_seconds(self.request.time)).to_env())
        env = {k: str(v) for k, v in env.items() if k.startswith(("JUPYTERHUB_", CONTRACT_PREFIX))
               or k in self.environment}
        return certs.env_with_pems(env, self.cert_paths.get("pems"))

    def job_command(self) -> list[str]:
        return [f"{self.site.runtime_prefix}/bin/hpchub-singleuser", *self.cmd, *self.get_args()]

    def grace(self) -> int:
        """Seconds of SIGTERM warning before the time limit: at most a quarter of the job."""
        return max(10, min(self.shutdown_grace, walltime_minutes(self.request.time) * 15))

    async def submit(self) -> str:
        req = self.request
        home = pwd.getpwnam(self.user.name).pw_dir
        job = server_job(req, home, server_comment(self.user.name, self.name), self.job_output)
        self._log_path = job.output
        env = {**self.job_env(), **JobContract(job_output=job.output).to_env()}  # %j: the job's own
        script = render_script(
            user=self.user.name, profile=req.profile, env=env,
            command=self.job_command(), runtime_bin=f"{self.site.runtime_prefix}/bin",
            grace_s=self.grace(), stop_after_s=walltime_seconds(req.time) - self.grace(),
        )
        try:
            return await slurm().submit(self.user.name, job, script, timeout=self.submit_timeout)
        except CommandTimeout:
            raise SpawnFailed(f"Slurm did not accept the job within {self.submit_timeout:.0f} s "
                              "(the controller may be "
                              "busy or down). If it was queued anyway, hpchub cancels it; "
                              "please try again.", 503) from None
        except SlurmUnavailable as exc:
            raise SpawnFailed(f"The scheduler is not answering ({exc}). Nothing was started; "
                              "please try again in a few minutes.", 503) from None
        except (SlurmError, ValueError) as exc:
            raise SpawnFailed(f"Slurm refused the job: {exc}") from None

    async def start(self):
        """Submit, wait in the queue, wait for the port report and the server to listen."""
        self._starting = True  # until start ends, however: a failure report is taken meanwhile
        try:
            return await self._start()
        finally:
            self._starting = False

    async def _start(self):
        self.port = 0
        self._port_reported.clear()
        self._start_failed.clear()
        req = self.request
        self.messages = []
        self._progress_sent = 0
        self.say(f"Submitting a job to partition {req.partition}")
        submitted = time.monotonic()
        submission = asyncio.ensure_future(self.submit())
        try:
            # Shielded: a spawn cancelled during sbatch must still learn (and cancel) its job.
            self.job_id = await asyncio.shield(submission)
        except asyncio.CancelledError:
            submission.add_done_callback(self._cancel_orphan)
            raise
        self._known_since = time.monotonic()
        self.submitted_at = time.time()
        self.token_sha256 = hashlib.sha256(self.api_token.encode()).hexdigest()
        if self.persist:
            self.persist()
        self.log.info("Submitted job %s for %s (%s)", self.job_id, self._log_name, req.profile)
        self.say(f"Submitted job {self.job_id} to {req.partition}")
        poller().watch()
        poller().hurry(id(self))
        try:
            host = await self._wait_running(submitted)
            metrics.QUEUE_WAIT.labels(req.profile).observe(time.monotonic() - submitted)
            self.say(f"Running on {host}, starting JupyterLab")
            await self._wait_port(submitted)
            await self._wait_listening(host, submitted)
        except BaseException as exc:
            # Cancelled: by a user's stop (JupyterHub then calls stop(), which cancels the job)
            # or by the hub shutting down (the job, in the stored state, carries on: get_url).
            outcome = "cancelled" if isinstance(exc, asyncio.CancelledError) else "failed"
            metrics.SPAWN_OUTCOMES.labels(req.profile, outcome).inc()
            raise
        finally:
            poller().relax(id(self))
        metrics.SPAWN_OUTCOMES.labels(req.profile, "started").inc()
        self.ip = host
        self.db.commit()
        return host, self.port

    async def _wait_running(self, submitted: float) -> str:
        seen = submitted
        while True:
            snap = await poller().newer_than(seen, timeout=30)
            seen = snap.started
            job = self._own(snap.jobs)
            if job is None:
                # Only a squeue that began after sbatch returned must list the job (under a
                # burst of spawns, one that began during our sbatch does not: not "vanished").
                if snap.ok and snap.started > self._known_since:
                    raise SpawnFailed(f"Job {self.job_id} vanished from Slurm before starting.")
                continue
            if job.running:
                return first_host(job.nodes)
            if job.ended:
                self.job_id = ""
                raise SpawnFailed(f"Job ended before JupyterLab started: {explain_end(job.state)}"
                                  f" (Slurm state {job.state}, reason {job.reason}).")
            self.say(pending_message(job, snap.jobs))
            waited = time.monotonic() - submitted
            if waited > self.pending_timeout:
                await self.cancel()
                metrics.SPAWN_OUTCOMES.labels(self.request.profile, "pending_timeout").inc()
                raise SpawnFailed(
                    f"Job waited {waited / 60:.0f} min in the queue of {job.partition} and was "
                    f"cancelled. Slurm's reason: {job.reason} ({explain_reason(job.reason)}). "
                    "Try the shared node, fewer nodes, or a shorter time."
                )

    async def _wait_port(self, submitted: float) -> None:
        """Wait for the job's port report, failing at once if the job dies first."""
        seen = submitted
        while not self._port_reported.is_set():
            waiter = asyncio.ensure_future(self._port_reported.wait())
            failed = asyncio.ensure_future(self._start_failed.wait())
            checker = asyncio.ensure_future(poller().newer_than(seen, timeout=30))
            done, _ = await asyncio.wait({waiter, failed, checker},
                                         return_when=asyncio.FIRST_COMPLETED)
            waiter.cancel()
            failed.cancel()
            if self._start_failed.is_set():
                checker.cancel()
                raise await self._failed_to_start()
            if checker in done:
                snap = checker.result()
                seen = snap.started
                job = self._own(snap.jobs)
                if job is not None and job.ended:
                    self.job_id = ""
                    raise SpawnFailed(f"JupyterLab did not start: {explain_end(job.state)} "
                                      f"(Slurm state {job.state}). See "
                                      f"{self.job_output.replace('%j', job.job_id)}.")
            else:
                checker.cancel()

    async def _wait_listening(self, host: str, submitted: float) -> None:
        """Return once the server accepts connections, so that JupyterHub's first HTTP check
        succeeds instead of backing off exponentially (seconds lost per spawn)."""
        deadline = time.monotonic() + self.http_timeout
        while time.monotonic() < deadline:
            if self._start_failed.is_set():
                raise await self._failed_to_start()
            try:
                async with asyncio.timeout(2):
                    _, writer = await asyncio.open_connection(host, self.port)
                writer.close()
                return
            except (TimeoutError, OSError):
                await asyncio.sleep(0.1)
            job = self._own(poller().last_good.jobs)
            if job is not None and job.ended and poller().last_good.started > submitted:
                raise SpawnFailed(f"JupyterLab exited while starting: {explain_end(job.state)}.")

    async def get_url(self) -> str:
        """The server's URL. Asked by JupyterHub after a restart for servers that poll() says
        are alive: one that was still queued or starting carries on here (queue, port report,
        listening), instead of being taken for dead at the URL it did not have yet."""
        if self.port or not self.job_id:
            return await super().get_url()
        waited = max(0.0, time.time() - self.submitted_at)
        left = max(30.0, self.start_timeout - waited)
        self.log.info("Job %s of %s was starting when the hub stopped; waiting for it (at most "
                      "%.0f s more)", self.job_id, self._log_name, left)
        submitted = time.monotonic() - waited
        poller().hurry(id(self))
        try:
            # Bounded: JupyterHub waits for every server's get_url before it checks routes, so
            # one job that never reports (it reported to the hub that stopped) would hold all.
            async with asyncio.timeout(left):
                host = await self._wait_running(submitted)
                await self._wait_port(submitted)
                await self._wait_listening(host, submitted)
        except (SpawnFailed, TimeoutError) as exc:
            self.log.warning("Job %s of %s did not start: %s", self.job_id, self._log_name,
                             exc or f"no port report within {self.start_timeout} s of submission")
            return await super().get_url()  # JupyterHub finds nothing there and stops it
        finally:
            poller().relax(id(self))
        self.ip = host
        if self.persist:
            self.persist()
        return f"{'https' if self.internal_ssl else 'http'}://{host}:{self.port}"

    async def progress(self):
        # JupyterHub stops reading once the spawn is done: yield each message as it is said.
        sent = 0
        while True:
            self._said.clear()
            for message in self.messages[sent:]:
                sent += 1
                yield {"message": message, "progress": min(90, 10 * sent)}
                self._progress_sent = sent
            if not self._starting and sent == len(self.messages):
                return
            try:
                async with asyncio.timeout(0.5):
                    await self._said.wait()
            except TimeoutError:
                pass

    # --------------------------------------------------------------- poll / stop
    async def poll(self):
        """None while Slurm says the job is queued or running; 1 once Slurm says it ended."""
        if not self.job_id:
            return 0
        poller().watch()
        snap = poller().last_good
        if snap.started <= self._known_since:
            snap = await poller().newer_than(self._known_since)
        if not snap.ok or snap.started <= self._known_since:
            return None  # Slurm not answering: never a reason to call the server stopped
        job = self._own(snap.jobs)
        if job is not None and job.pending and self.port:
            job = dataclasses.replace(job, state="REQUEUED")  # its server is gone
        if job is None or job.ended or job.state == "REQUEUED":
            state = job.state if job else "unknown (no longer known to Slurm)"
            reason = explain_end(job.state) if job else "the job is gone"
            if job is not None and ended_by_time_limit(job, self.grace()):
                reason = "it reached its time limit and was stopped cleanly"
            self.end_reason = f"{reason} (Slurm: {state})"
            self.log.info("Job %s of %s ended: %s", self.job_id, self._log_name, state)
            self.job_id = ""
            return 1
        return None

    def _cancel_orphan(self, submission: asyncio.Future) -> None:
        """The spawn was cancelled while sbatch ran: cancel the job it created."""
        if not submission.cancelled() and submission.exception() is None:
            asyncio.ensure_future(self.cancel(submission.result()))

    async def cancel(self, job_id: str | None = None) -> None:
        job_id = job_id or self.job_id
        if not job_id:
            return
        try:
            await slurm().cancel(self.user.name, job_id)
        except (SlurmError, CommandTimeout) as exc:
            self.log.warning("cancelling job %s: %s", job_id, exc)

    async def stop(self, now: bool = False):
        self.log.info("Stopping job %s of %s", self.job_id, self._log_name)
        self.port = 0
        job_id = self.job_id
        await cancel_notebook_jobs(self.user.name, self.name, self.log)
        await self.cancel()
        if now or not job_id:
            return
        deadline = time.monotonic() + 15
        moment = time.monotonic()
        poller().hurry(id(self))
        try:
            while time.monotonic() < deadline:
                snap = await poller().newer_than(moment, timeout=10)
                moment = snap.started
                job = self._own(snap.jobs, job_id)
                if snap.ok and (job is None or job.ended):
                    return
        finally:
            poller().relax(id(self))
        self.log.warning("Job %s still listed as running after scancel", job_id)
