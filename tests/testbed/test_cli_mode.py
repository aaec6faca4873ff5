"""The ``cli`` mode (a hub on a submit host: Slurm's commands, sudo, host-based SSH) still works:
spawn, stop, restart re-attach and a controller outage, with the hub switched to it."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))
from hubclient import HubUser  # noqa: E402
from test_spawners import hpchub_jobs, restart_hub, wait_poll_rounds, wait_until  # noqa: E402


@pytest.fixture(scope="module")
def cli_hub(testbed):
    from hpchub.containers.testbed import from_site

    from_site(testbed.site_path, project=testbed.project, hub_mode="cli").up(build=False)
    user = HubUser(testbed, "carol")
    yield user
    for name in list(user.model().get("servers", {})):
        user.stop(name)
    testbed.up(build=False)  # back to the site's mode (rest)


def test_cli_hub_spawns_both_kinds_and_stops_cleanly(testbed, cli_hub):
    assert testbed.exec("hub", "sh", "-c", "command -v sbatch && test -f /etc/sudoers.d/hpchub").ok
    cli_hub.start("cpu", {"profile": "cpu"})
    cli_hub.start("shared", {"profile": "shared"})
    assert cli_hub.run_code("cpu", "import socket; print(socket.gethostname())").strip() in (
        "c1", "c2", "c3")
    assert cli_hub.run_code("shared", "import socket; print(socket.gethostname())").strip() == (
        "login1")
    assert len(hpchub_jobs(testbed, "carol")) == 1


def test_cli_hub_restart_reattaches_and_outage_stops_nothing(testbed, cli_hub):
    jobs = hpchub_jobs(testbed, "carol")
    carol = restart_hub(testbed, "carol", ("cpu", "shared"))
    testbed.stop_slurmctld()
    try:
        wait_poll_rounds(testbed, 1, failed=True)
        assert carol.server("cpu")["ready"], "a controller outage marked the server stopped"
    finally:
        testbed.start_slurmctld()
    testbed.wait_slurm_ready()
    assert carol.run_code("cpu", "print('still here')").strip() == "still here"
    assert hpchub_jobs(testbed, "carol") == jobs
    carol.stop("cpu")
    wait_until(lambda: not hpchub_jobs(testbed, "carol"), 30, "the job outlived its server")
    cli_hub.token, cli_hub.api = carol.token, carol.api
