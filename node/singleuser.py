"""``hpchub-singleuser``: run inside the job; pick a port, tell the hub, run the server.

The port report travels while the server imports (one thread), and JupyterHub's single-user
server runs in this process with :mod:`hpchub.node.fast_start`'s start-up fix.
"""

from __future__ import annotations

import json
import os
import random
import socket
import sys
import threading
import time
import traceback
import urllib.error
import urllib.request
from pathlib import Path
from urllib.parse import urlparse, urlunparse

from . import server_certs
from .contract import REPORT_SENT_CHARS, JobContract
from .fast_start import run_server


def free_port(low: int = 10000) -> int:
    """A port nothing listens on, below the kernel's range for outgoing connections: a port
    from that range (``bind(("", 0))``) can be handed to another process before the server
    binds it (one stand-in of 1,000 on three nodes failed so, benchmarks/scale.py)."""
    try:
        high = int(Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()[0])
    except (OSError, ValueError, IndexError):
        high = 32768
    pick = random.SystemRandom()
    for _ in range(50):
        port = pick.randrange(low, max(low + 1000, high))
        with socket.socket() as sock:
            try:
                sock.bind(("", port))
            except OSError:
                continue
            return port
    with socket.socket() as sock:
        sock.bind(("", 0))
        return sock.getsockname()[1]


def listen_url(service_url: str, port: int) -> str:
    """JupyterHub's service URL with the address every interface and the chosen port.

    >>> listen_url("http://127.0.0.1:0/user/bob/", 8888)
    'http://0.0.0.0:8888/user/bob/'
    """
    parsed = urlparse(service_url or "http://0.0.0.0:0/")
    return urlunparse(parsed._replace(netloc=f"0.0.0.0:{port}"))


def report_port(port: int, patience_s: float = 180) -> None:
    """POST the port to the hub; while the hub is away (a restart), try again for a while."""
    deadline = time.monotonic() + patience_s
    while True:
        try:
            return _post({"port": port})
        except (urllib.error.URLError, ConnectionError, TimeoutError) as exc:
            status = getattr(exc, "code", None)
            if (status is not None and status < 500 and status != 403) or (
                    time.monotonic() > deadline):
                raise
            time.sleep(2)  # 403: a restarted hub may not know this server's spawner yet


def _post(report: dict, timeout: float = 30) -> None:
    url = os.environ["JUPYTERHUB_API_URL"].rstrip("/") + "/hpchub/port"
    request = urllib.request.Request(
        url, data=json.dumps(report).encode(), method="POST",
        headers={"Authorization": f"token {os.environ['JUPYTERHUB_API_TOKEN']}",
                 "Content-Type": "application/json"},
    )
    context = server_certs.hub_client_context(os.environ)  # internal SSL: this server's certificate
    with urllib.request.urlopen(request, timeout=timeout, context=context) as resp:  # noqa: S310
        resp.read()


def log_tail(path: str, max_bytes: int = 6000) -> str:
    """The end of this job's own log (Slurm's --output; ``%j`` is the job id), or ""."""
    path = path.replace("%j", os.environ.get("SLURM_JOB_ID", ""))
    try:
        with open(path, "rb") as log:
            log.seek(max(0, os.fstat(log.fileno()).st_size - max_bytes))
            return log.read().decode(errors="replace")
    except OSError:
        return ""


def report_failure(exc: BaseException) -> None:
    """Tell the hub that the server stopped before serving, with the end of the log (and the
    traceback, which Python prints only after this). Best effort: the hub also sees the job end."""
    sys.stdout.flush()
    sys.stderr.flush()
    text = log_tail(JobContract.from_env().job_output)
    if not isinstance(exc, SystemExit):
        text += "".join(traceback.format_exception(exc))[-3000:]
    try:
        _post({"failed": text[-REPORT_SENT_CHARS:] or repr(exc)[:500]}, timeout=10)
    except (OSError, ValueError):
        pass  # 409: the server had started (a later failure is not a failed start)


class PortReport(threading.Thread):
    """``report_port`` in the background; :meth:`check` waits and re-raises its error."""

    def __init__(self, port: int, patience_s: float = 180):
        super().__init__(name="hpchub-port-report", daemon=True)
        self.port, self.patience_s = port, patience_s
        self.error: BaseException | None = None

    def run(self) -> None:
        try:
            report_port(self.port, self.patience_s)
        except BaseException as exc:  # noqa: BLE001 - handed to the main thread
            self.error = exc

    def check(self) -> None:
        self.join()
        if self.error is not None:
            sys.exit(f"hpchub-singleuser: could not tell the hub the port: {self.error}")


HERE = Path(__file__).parent


def add_jupyter_settings(env: os._Environ | dict) -> None:
    """hpchub's Jupyter files, shipped in the package: the walltime server extension and its
    JupyterLab plug-in, and ``jupyter_lab_config.json`` (no news feed or update check, which
    would call the internet from compute nodes)."""
    for variable, path in (("JUPYTER_PATH", HERE / "jupyter_data"),
                           ("JUPYTER_CONFIG_PATH", HERE / "jupyter_config")):
        existing = [p for p in env.get(variable, "").split(os.pathsep) if p]
        env[variable] = os.pathsep.join([*existing, str(path)])


def main() -> None:
    if len(sys.argv) < 2:
        sys.exit("usage: hpchub-singleuser jupyterhub-singleuser [ARGS...]")
    server_certs.write_from_env(os.environ)
    add_jupyter_settings(os.environ)
    os.environ.update(JobContract(job_started=time.time()).to_env())  # the job started now
    port = free_port()
    os.environ["JUPYTERHUB_SERVICE_URL"] = listen_url(os.environ.get("JUPYTERHUB_SERVICE_URL", ""), port)
    report = PortReport(port)
    report.start()
    try:
        run_server(sys.argv[1:], before=report.check)
    except BaseException as exc:
        if not (isinstance(exc, SystemExit) and exc.code in (0, None)):
            report_failure(exc)
        raise


if __name__ == "__main__":
    main()
