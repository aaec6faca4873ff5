"""The hub off the cluster (the testbed's default, as NERSC runs it): no Slurm client on the
hub, slurmrestd with per-user tokens, shared nodes reached with short-lived certificates."""

from __future__ import annotations

import sys
import time
from pathlib import Path

from playwright.sync_api import expect

from hpchub.spawners.home import UNANSWERED

sys.path.insert(0, str(Path(__file__).parent))
from test_browser import ARTIFACTS, chromium, log_in  # noqa: E402
from test_spawners import ensure_running, hpchub_jobs, wait_poll_rounds, wait_until  # noqa: E402

SLURM_PROGRAMS = ["sbatch", "squeue", "scancel", "scontrol", "sacctmgr", "srun", "sinfo",
                  "salloc", "munge", "munged", "sudo"]


def test_hub_container_has_no_slurm_munge_or_sudo(testbed):
    found = testbed.exec("hub", "sh", "-c", "ls -d /etc/slurm /etc/slurm-llnl /etc/munge "
                         "/usr/lib/x86_64-linux-gnu/slurm-wlm /etc/sudoers 2>/dev/null; for p in "
                         + " ".join(SLURM_PROGRAMS) + "; do command -v $p; done; "
                         "find / -xdev \\( -name 'libslurm*' -o -name 'munge.key' "
                         "-o -name slurm.conf \\) 2>/dev/null").output
    assert found.strip() == "", found
    # JupyterHub runs as its own account; only that account can read its two keys.
    assert testbed.exec("hub", "ps", "-o", "user=", "-C", "jupyterhub").output.split() == [
        "jupyterhub"]
    keys = testbed.exec("hub", "stat", "-c", "%a %U", "/etc/hpchub/slurm-jwt.key",
                        "/etc/hpchub/ssh-user-ca").output.split("\n")
    assert [k for k in keys if k] == ["400 jupyterhub", "400 jupyterhub"]
    assert not testbed.exec("hub", "cat", "/etc/hpchub/slurm-jwt.key", user="alice").ok


def test_shared_node_login_is_a_short_lived_certificate_for_that_user(testbed, alice):
    ensure_running(alice, "shared")
    cert = testbed.exec("hub", "ssh-keygen", "-L", "-f",
                        "/srv/hpchub/ssh-certificates/alice-cert.pub", user="jupyterhub").output
    assert "Principals: \n                alice\n" in cert, cert
    valid = cert.split("Valid: from ")[1].split()[0:3]  # from T1 to T2
    minutes = (time.mktime(time.strptime(valid[2], "%Y-%m-%dT%H:%M:%S"))
               - time.mktime(time.strptime(valid[0], "%Y-%m-%dT%H:%M:%S"))) / 60
    assert minutes <= 10, cert  # minutes, not days
    assert "permit-port-forwarding" not in cert and "permit-pty" not in cert
    # The certificate names alice: it does not log in as bob.
    as_bob = testbed.exec("hub", "ssh", "-F", "/dev/null", "-o", "BatchMode=yes",
                          "-o", "IdentitiesOnly=yes",
                          "-o", "IdentityFile=/srv/hpchub/ssh-certificates/alice",
                          "-o", "CertificateFile=/srv/hpchub/ssh-certificates/alice-cert.pub",
                          "-o", "GlobalKnownHostsFile=/etc/ssh/ssh_known_hosts",
                          "-o", "UserKnownHostsFile=/dev/null", "-l", "bob", "login1", "id",
                          user="jupyterhub")
    assert not as_bob.ok and "Permission denied" in as_bob.output, as_bob.output


def test_slurmrestd_outage_marks_nothing_stopped_and_submits_nothing(testbed, alice):
    ensure_running(alice, "cpu")
    before = hpchub_jobs(testbed)
    testbed.container("slurmrestd").stop(timeout=5)
    try:
        wait_poll_rounds(testbed, 1, failed=True)
        assert alice.server("cpu")["ready"], "a slurmrestd outage marked the server stopped"
        assert alice.run_code("cpu", "print(1)").strip() == "1"
        # Her home page says so, in words: the card keeps its last state, nothing breaks.
        with chromium() as page:
            log_in(page, testbed, "alice")
            page.goto(f"{testbed.hub_url}/hub/home")
            card = page.locator("[data-server=cpu]")
            expect(card.locator(".note")).to_have_text(UNANSWERED, timeout=30_000)
            expect(card.locator(".state")).to_contain_text("Running")
            expect(page.locator("#stop-cpu")).to_be_visible()
            page.screenshot(path=ARTIFACTS / "home-scheduler-not-answering.png", full_page=True)
        alice.stop("down")
        resp = alice.spawn("down", {"profile": "debug"})
        if resp.status_code in (201, 202):
            events = alice.progress("down", timeout=120)
            said = events[-1].get("message", "") if events else ""
            assert events and events[-1].get("failed"), events
        else:
            said = resp.text
            assert resp.status_code == 503, resp.text
        assert "not answering" in said, said
    finally:
        testbed.container("slurmrestd").start()
    wait_until(lambda: testbed.exec("hub", "curl", "-s", "-o", "/dev/null", "-w", "%{http_code}",
                                    "http://slurmrestd:6820/openapi").output != "000",
               30, "slurmrestd did not come back")
    wait_poll_rounds(testbed, 1, failed=False)
    assert alice.server("cpu")["ready"]
    assert hpchub_jobs(testbed) == before  # the refused spawn left no job behind
    alice.stop("down")
