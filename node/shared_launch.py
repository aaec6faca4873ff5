"""``hpchub-shared-launch``: runs as the user on a shared node, reached by ``ssh`` from the hub.

``start`` reads ``{"env": {...}, "command": [...], "log": PATH}`` as JSON on stdin, moves
itself into the user's cgroup on this node (``sudo hpchub-confine``: the user's CPUs and
memory, for all their servers and kernels together), starts the server detached in its own
session and prints ``{"pid": P, "port": Q}``. ``status PID`` exits 0 while that
server runs; ``stop PID`` ends its process group.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

from .confine import join
from .contract import JobContract
from .singleuser import add_jupyter_settings, free_port, listen_url

MARK = f"{JobContract.name('shared_server')}=1".encode()  # in a server's /proc/<pid>/environ


def owned_server(pid: int) -> bool:
    """True when ``pid`` is a live process of this user started by this launcher."""
    try:
        with open(f"/proc/{pid}/environ", "rb") as env:
            return MARK in env.read().split(b"\0")
    except OSError:
        return False


def confine() -> None:
    """Join this user's cgroup (the server started next inherits it), or refuse to start."""
    try:
        join()
    except RuntimeError as exc:
        raise SystemExit("this shared node cannot hold your server to your CPU and memory share "
                         f"({exc}); please tell the center's staff") from None


def start(spec: dict) -> dict:
    port = free_port()
    env = {k: str(v) for k, v in spec["env"].items()}
    env["JUPYTERHUB_SERVICE_URL"] = listen_url(env.get("JUPYTERHUB_SERVICE_URL", ""), port)
    env.update(HOME=os.path.expanduser("~"), USER=os.environ.get("USER", ""),
               PATH=os.environ.get("PATH", "/usr/bin:/bin"), **JobContract(shared_server=True).to_env())
    add_jupyter_settings(env)
    confine()
    log = open(os.path.expanduser(spec["log"]), "ab")  # noqa: SIM115 - handed to the child
    command = [sys.executable, "-m", "hpchub.node.fast_start", *map(str, spec["command"])]
    proc = subprocess.Popen(
        command, env=env, cwd=env["HOME"], stdin=subprocess.DEVNULL,
        stdout=log, stderr=log, start_new_session=True,
    )
    time.sleep(0.2)
    if proc.poll() is not None:
        raise SystemExit(f"the server exited at once (code {proc.returncode}); see {spec['log']}")
    return {"pid": proc.pid, "port": port}


def main() -> None:
    action = sys.argv[1] if len(sys.argv) > 1 else ""
    if action == "start":
        print(json.dumps(start(json.load(sys.stdin))), flush=True)
    elif action in ("status", "stop") and len(sys.argv) == 3 and sys.argv[2].isdigit():
        pid = int(sys.argv[2])
        if not owned_server(pid):
            sys.exit(1)
        if action == "stop":
            os.killpg(pid, signal.SIGTERM)
            for _ in range(50):
                if not owned_server(pid):
                    break
                time.sleep(0.1)
            else:
                os.killpg(pid, signal.SIGKILL)
    else:
        sys.exit("usage: hpchub-shared-launch start < spec.json | status PID | stop PID")


if __name__ == "__main__":
    main()
