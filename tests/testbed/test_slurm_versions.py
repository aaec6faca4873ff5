"""The hub's REST client against the testbed's real slurmrestd (Slurm 24.11), once per API
version it serves (v0.0.40, v0.0.41, v0.0.42): the whole client as the hub uses it, off the
cluster, with the hub's own key. And the version check, as an admin runs it."""

from __future__ import annotations

import json
import time

import pytest

PROBE = r'''
import asyncio, json, sys, time
from datetime import datetime, timedelta
from hpchub.slurm.flags import BatchJob
from hpchub.slurm.rest import SlurmREST

async def quiet(c):
    """Until a round in which no job of the testbed's changed (10 s slack): 24.11's answer."""
    await c.jobs()
    for _ in range(40):
        await c.jobs()
        if c.unchanged:
            break
        await asyncio.sleep(1)
    return c.unchanged

async def use(c, version, out):
    job = BatchJob(name="hpchub-api-check", partition="debug", nodes=1, time="00:05:00",
                   workdir="/home/alice", output="/dev/null", comment=f"hpchub:alice/api-{version}")
    job_id = await c.submit("alice", job, "#!/bin/sh\nsleep 120\n")
    for _ in range(40):
        info = (await c.jobs()).get(job_id)
        if info and info.running:
            break
        await asyncio.sleep(0.5)
    out.update(state=info.state, user=info.user, limit_s=info.limit_s, nodes=info.nodes)
    out["comment"] = (await c.comment(job_id)).strip()
    out["servers_named"] = [j.job_id for j in await c.server_jobs()]
    out["associations"] = sorted(await c.associations("alice"))
    allocation = await c.allocation("desi", datetime.now() - timedelta(days=400), "alice")
    out["allocation_limit"] = allocation.limit_node_minutes if allocation else None
    out["reservations"] = [r["ReservationName"] for r in await c.reservations()]
    await c.cancel("alice", job_id)
    for _ in range(40):
        info = (await c.jobs()).get(job_id)
        if info is None or info.ended:
            break
        await asyncio.sleep(0.5)
    out["after_cancel"] = info.state if info else "gone"

async def each(versions):
    """Every version at once, in two steps: first the quiet rounds (so that no version's own
    job changes what another one waits to see unchanged), then each one's job."""
    clients = {v: SlurmREST("http://slurmrestd:6820", "/etc/hpchub/slurm-jwt.key", "jupyterhub",
                            cache_s=0, spoken=(v,)) for v in versions}
    out = {}
    for v, c in clients.items():
        out[v] = {"about": str(await c.about()), "api": (await c.about()).api}
    for v, unchanged in zip(versions, await asyncio.gather(*(quiet(clients[v]) for v in versions))):
        out[v]["unchanged"] = unchanged
    await asyncio.gather(*(use(clients[v], v, out[v]) for v in versions))
    print("RESULT", json.dumps(out))

asyncio.run(each(sys.argv[1:]))
'''
VERSIONS = ["v0.0.42", "v0.0.41", "v0.0.40"]


@pytest.fixture(scope="module")
def probed(testbed) -> dict[str, dict]:
    """The whole client run once per API version against the testbed's slurmrestd."""
    done = testbed.exec("hub", "python3", "-c", PROBE, *VERSIONS, user="jupyterhub")
    line = next((x for x in done.output.splitlines() if x.startswith("RESULT ")), None)
    assert line, done.output[-3000:]
    return json.loads(line[7:])


@pytest.mark.parametrize("version", VERSIONS)
def test_the_rest_client_speaks_each_api_version_slurm_24_11_serves(probed, version):
    got = probed[version]
    assert got["api"] == version and "Slurm 24.11" in got["about"], got
    assert got["unchanged"] == 1, got  # 24.11's "no job changes since update_time"
    assert (got["state"], got["user"], got["limit_s"]) == ("RUNNING", "alice", 300), got
    assert got["nodes"].startswith("c") and got["comment"] == f"hpchub:alice/api-{version}"
    assert {"desi", "general"} <= set(got["associations"]), got
    assert got["allocation_limit"] == 600, got  # desi's GrpTRESMins=node=600
    assert got["after_cancel"] in ("CANCELLED", "COMPLETING", "gone"), got


def test_the_site_says_which_slurm_it_talks_to_and_refuses_one_it_cannot(testbed):
    site = "/etc/hpchub/generated/site.yaml"
    ok = testbed.exec("hub", "hpchub", "site", "validate", site, "--slurm", user="jupyterhub")
    assert ok.ok, ok.output
    assert "Slurm (rest): Slurm 24.11.5 through slurmrestd, REST API v0.0.42 (served: v0.0.42, " \
           "v0.0.41, v0.0.40): supported" in ok.output
    cli = testbed.exec("login1", "hpchub", "site", "validate", site, "--slurm", "--slurm-access", "cli")
    assert cli.ok and "Slurm (cli): Slurm 24.11.5 through its commands: supported" in cli.output, cli.output
    assert "hpchub: Slurm 24.11.5 through slurmrestd, REST API v0.0.42" in \
        testbed.container("hub").logs().decode()  # the hub said it as it started
    # A second slurmrestd serving no API version hpchub can use (the accounting plugin alone).
    start = ("SLURM_JWT=daemon SLURMRESTD_SECURITY=disable_unshare_sysv,disable_unshare_files "
             "setsid slurmrestd -a rest_auth/jwt -u slurmrestd -g slurmrestd -s openapi/slurmdbd "
             "0.0.0.0:6821 > /tmp/restd-6821.log 2>&1 &")
    assert testbed.exec("slurmrestd", "sh", "-c", start).ok
    try:
        other = "/tmp/site-6821.yaml"
        testbed.exec("hub", "sh", "-c", f"sed 's#http://slurmrestd:6820#http://slurmrestd:6821#' "
                     f"{site} > {other}", user="jupyterhub")
        refused = testbed.exec("hub", "hpchub", "site", "validate", other, "--slurm",
                               "--slurm-access", "rest", user="jupyterhub")
        for _ in range(20):  # until the second slurmrestd listens
            if "not reachable" not in refused.output:
                break
            time.sleep(0.5)
            refused = testbed.exec("hub", "hpchub", "site", "validate", other, "--slurm",
                                   "--slurm-access", "rest", user="jupyterhub")
        assert not refused.ok, refused.output
        assert "serves REST API versions none (is the openapi/slurmctld and openapi/slurmdbd " \
               "pair loaded?); hpchub speaks v0.0.42, v0.0.41, v0.0.40" in refused.output, refused.output
    finally:
        testbed.exec("slurmrestd", "pkill", "-f", "0.0.0.0:6821")
