"""A restarted hub stops its leftover proxy, and nothing else that has the recorded pid."""

import subprocess
import sys
import threading

from jupyterhub.proxy import ConfigurableHTTPProxy

from hpchub.hub.proxy import HubProxy


def start(argv: list[str]) -> subprocess.Popen:
    """A process reaped as soon as it ends, as a pid file's process would be."""
    process = subprocess.Popen(argv)
    threading.Thread(target=process.wait, daemon=True).start()
    return process


def start_stranger() -> subprocess.Popen:
    return start([sys.executable, "-c", "import time; time.sleep(60)"])


def leftover_check(proxy_class, pid: int, tmp_path) -> None:
    pid_file = tmp_path / "proxy.pid"
    pid_file.write_text(str(pid))
    proxy = proxy_class(pid_file=str(pid_file), auth_token="x",
                        public_url="http://127.0.0.1:8000/", api_url="http://127.0.0.1:8001/")
    proxy._check_previous_process()
    assert not pid_file.exists()


def test_a_process_that_reused_the_proxys_pid_is_left_running(tmp_path):
    stranger = start_stranger()
    try:
        leftover_check(HubProxy, stranger.pid, tmp_path)
        assert stranger.poll() is None  # JupyterHub 6.1's own class sends it SIGTERM
    finally:
        stranger.kill()


def test_upstreams_check_alone_kills_the_stranger(tmp_path):
    """What HubProxy guards against still happens upstream (drop HubProxy when this fails)."""
    stranger = start_stranger()
    try:
        leftover_check(ConfigurableHTTPProxy, stranger.pid, tmp_path)
        assert stranger.wait(timeout=5) is not None
    finally:
        stranger.kill()


def test_a_leftover_proxy_is_still_stopped(tmp_path):
    leftover = start(["sh", "-c", "exec -a configurable-http-proxy sleep 60"])
    try:
        leftover_check(HubProxy, leftover.pid, tmp_path)
        assert leftover.wait(timeout=5) is not None
    finally:
        leftover.kill()
