"""What the hub hands a server's job, and what the job adds: every ``HPCHUB_*`` variable.

The hub (``hpchub.hub``, the spawners) writes a :class:`JobContract` into the server's
environment with :meth:`JobContract.to_env`; code in the job and in its kernels reads it back
with :meth:`JobContract.from_env`. The variable names live here and nowhere else (tests aside).

What code in a job learns, and from where: the server, as it starts, learns from the contract
only (the two site roots it needs ride along, because loading the site config would add about
0.2 s, its validation library's import, to every server start). Code that runs later in the
job, the launchers and the command-line tools, reads the node's installed site config
(:func:`hpchub.site_configs.installed_site`).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, fields

PREFIX = "HPCHUB_"
# Outside the server's job: the site YAML a command reads, the testbed's state folder, and what
# the hub hands its idle-culler service.
SITE = "HPCHUB_SITE"
TESTBED_STATE = "HPCHUB_TESTBED_STATE"
SERVICE_SITE_CONFIG = "HPCHUB_SITE_CONFIG"
SERVICE_STATE_DIR = "HPCHUB_STATE_DIR"

# The failure report a job sends the hub (the end of its log): the hub keeps up to this many
# characters; the job sends fewer so that its JSON framing fits too.
REPORT_MAX_CHARS = 8000
REPORT_SENT_CHARS = 7000


@dataclass(frozen=True)
class JobContract:
    """The server's facts from the hub (and ``job_started``, set in the job). Empty or ``None``
    fields are not in the environment."""

    kernel_root: str = ""  # the kernel registry: the collaborations' published kernels
    notebook_root: str = ""  # the read-only notebook collections linked into the home
    time_limit_s: int | None = None  # the job's time limit (batch servers)
    shutdown_grace_s: int | None = None  # Slurm signals the server this long before the limit
    memory_mb: int | None = None  # a shared-node server: the user's memory share
    shared_server: bool = False  # started by the shared-node launcher
    job_output: str = ""  # the job's log file (the failure report reads its end)
    job_started: float | None = None  # epoch seconds, set by hpchub-singleuser as the job starts
    ssl_key: str = ""  # internal SSL: the server's key, certificate and the hub's CA, as PEM
    ssl_cert: str = ""
    ssl_ca: str = ""

    @staticmethod
    def name(field: str) -> str:
        """The environment variable of a field (``time_limit_s`` -> ``HPCHUB_TIME_LIMIT_S``)."""
        return PREFIX + field.upper()

    def to_env(self) -> dict[str, str]:
        env = {}
        for f in fields(self):
            value = getattr(self, f.name)
            if value in ("", None, False):
                continue
            env[self.name(f.name)] = "1" if value is True else str(value)
        return env

    @classmethod
    def from_env(cls, env: Mapping[str, str] = os.environ) -> JobContract:
        """The contract in ``env``; a malformed number reads as absent."""
        values: dict = {}
        for f in fields(cls):
            raw = env.get(cls.name(f.name))
            if raw is None:
                continue
            try:
                values[f.name] = PARSERS.get(f.name, str)(raw)
            except ValueError:
                continue
        return cls(**values)


PARSERS = {"time_limit_s": int, "shutdown_grace_s": int, "memory_mb": int, "job_started": float,
           "shared_server": lambda raw: raw == "1"}
PEM_FIELDS = {"key": "ssl_key", "cert": "ssl_cert", "ca": "ssl_ca"}
PEM_ENV = {part: JobContract.name(field) for part, field in PEM_FIELDS.items()}
