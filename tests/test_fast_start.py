"""The in-job launcher: which commands run in-process, and a failed port report is explained."""

from __future__ import annotations

import subprocess
import sys
import textwrap

from hpchub.node.fast_start import runs_here
from hpchub.node.singleuser import PortReport


def test_only_this_environments_singleuser_runs_in_process(tmp_path):
    other = tmp_path / "jupyterhub-singleuser"  # another environment's server: exec'd
    other.write_text("#!/bin/sh\n")
    other.chmod(0o755)
    assert not runs_here(str(other))
    assert not runs_here("/bin/true")
    assert not runs_here("no-such-program-anywhere")


def test_other_commands_are_execd_after_the_hook(tmp_path):
    marker = tmp_path / "hook"
    code = textwrap.dedent(f"""
        from hpchub.node.fast_start import run_server
        run_server(["/bin/echo", "server", "ran"],
                   before=lambda: open({str(marker)!r}, "w").write("called"))
    """)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout == "server ran\n"
    assert marker.read_text() == "called"


def test_a_port_report_the_hub_refuses_stops_the_server_with_a_reason(monkeypatch):
    monkeypatch.setenv("JUPYTERHUB_API_URL", "http://127.0.0.1:9/hub/api")  # nothing listens
    monkeypatch.setenv("JUPYTERHUB_API_TOKEN", "t")
    report = PortReport(12345, patience_s=3)  # tries again for 3 s (a hub restarting)
    report.start()
    try:
        report.check()
    except SystemExit as exc:
        assert "could not tell the hub the port" in str(exc)
        assert "Connection refused" in str(exc)
    else:
        raise AssertionError("check() returned although the report failed")


def test_a_servers_port_is_free_and_outside_the_range_of_outgoing_connections():
    import socket
    from pathlib import Path

    from hpchub.node.singleuser import free_port

    low = int(Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()[0])
    ports = {free_port() for _ in range(20)}
    assert all(10000 <= p < max(11000, low) for p in ports)
    for port in ports:  # each one can be bound by the server
        with socket.socket() as sock:
            sock.bind(("", port))
