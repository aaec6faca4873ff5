"""A person in a real browser: log in, pick a profile, watch progress, run a cell, stop."""

from __future__ import annotations

import contextlib
import re
import sys
import time
from pathlib import Path

import pytest
from playwright.sync_api import expect, sync_playwright

sys.path.insert(0, str(Path(__file__).parent))
from hubclient import HubUser  # noqa: E402

ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]


@contextlib.contextmanager
def chromium():
    """A page in Debian's Chromium (inside a test that also runs code in asyncio)."""
    ARTIFACTS.mkdir(exist_ok=True)
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path="/usr/bin/chromium", args=CHROMIUM_ARGS)
        context = browser.new_context(viewport={"width": 1280, "height": 900})
        yield context.new_page()
        browser.close()


@pytest.fixture()
def page():
    with chromium() as new_page:
        yield new_page


def log_in(page, testbed, user: str) -> None:
    page.goto(f"{testbed.hub_url}/hub/login")
    page.fill("#username_input", user)
    page.fill("#password_input", testbed.secrets()["demo_password"])
    page.click("#login_submit")


def node_hours_used(testbed, account: str) -> float:
    """The account's node-hours this year, summed from sacct's records (Slurm's own tool)."""
    rows = testbed.exec("slurmctld", "sacct", "-a", "-X", "-n", "-P", "-A", account, "-S",
                        f"{time.localtime().tm_year}-01-01T00:00:00", "-E", "now",
                        "-o", "NNodes,ElapsedRaw").output.split()
    return sum(int(n) * int(s) for n, s in (r.split("|") for r in rows)) / 3600


@pytest.fixture()
def carol(testbed):
    user = HubUser(testbed, "carol")
    user.stop("browser")
    yield user
    user.stop("browser")


def test_carol_starts_an_exclusive_cpu_node_and_runs_a_cell(testbed, page, carol):
    hub = testbed.hub_url
    log_in(page, testbed, "carol")

    page.goto(f"{hub}/hub/spawn/carol/browser")
    cards = page.locator(".hpchub-card")
    expect(cards.first).to_be_visible()
    titles = cards.locator("h4").all_inner_texts()
    assert titles == ["Shared node", "Exclusive CPU node", "GPU node", "Quick look", "Debug node",
                      "Configurable job"]
    page.screenshot(path=ARTIFACTS / "profile-page.png", full_page=True)
    # What a job may cost, before Start: fixed profiles, and the configurable job as it changes.
    expect(page.locator("label[for=profile-cpu] .cost")).to_have_text(
        "Up to 4 node-hours, charged to general")
    expect(page.locator("label[for=profile-gpu] .cost")).to_have_text(
        "Up to 4 GPU node-hours, charged to general")
    page.click("label[for=profile-configurable]")
    page.fill("#nodes", "3")
    page.fill("#time", "01:30:00")
    page.select_option("#account", "desi")
    line = page.locator("#cost-configurable")
    expect(line).to_contain_text("Up to 4.5 node-hours, charged to desi (")
    page.screenshot(path=ARTIFACTS / "cost-line.png", full_page=True)
    # desi has 10 node-hours a year (GrpTRESMins): what is left, as slurmdbd's records count it.
    left = re.search(r"\(([\d.]+) of 10 node-hours left\)", line.inner_text())
    assert left and abs(float(left.group(1)) - (10 - node_hours_used(testbed, "desi"))) < 0.05
    page.fill("#time", "04:00:00")  # 3 nodes for 4 hours: 12 node-hours, more than desi has
    expect(line).to_contain_text("That is more than desi has left")
    jobs_before = testbed.exec("slurmctld", "squeue", "-h", "-u", "carol", "-o", "%i").output
    page.click("form button[type=submit]")
    expect(page.locator("body")).to_contain_text(re.compile(
        r"This job may use up to 12 node-hours, but account 'desi' has [\d.]+ node-hours? left "
        r"of its 10 node-hours this allocation year"))
    page.screenshot(path=ARTIFACTS / "cost-refused.png", full_page=True)
    assert testbed.exec("slurmctld", "squeue", "-h", "-u", "carol", "-o", "%i").output == jobs_before

    # Every CPU node busy for ~20 s: the progress page must show the real queue state.
    for _ in range(3):
        assert testbed.run_as("dave", "login1", "sbatch", "-p", "regular", "-t", "2",
                              "--wrap", "sleep 20").ok
    deadline = time.monotonic() + 30
    while testbed.exec("slurmctld", "sinfo", "-h", "-p", "regular", "-t", "idle", "-o", "%N"
                       ).output.strip():
        assert time.monotonic() < deadline, "filler jobs did not start"
        time.sleep(0.5)
    page.click("label[for=profile-cpu]")
    page.click("form button[type=submit]")
    message = page.locator("#progress-message")
    expect(message).to_contain_text(re.compile(r"Queued: position \d+ of \d+ in regular"),
                                    timeout=30_000)
    expect(page.locator("#progress-log")).to_contain_text(re.compile(r"Submitted job \d+"))
    page.screenshot(path=ARTIFACTS / "progress-page.png", full_page=True)

    page.wait_for_url(re.compile(r"/user/carol/browser/lab"), timeout=120_000)
    page.goto(f"{hub}/user/carol/browser/lab?reset")  # a fresh workspace shows the launcher
    opened = time.monotonic()
    page.locator(".jp-LauncherCard[data-category=Notebook]").first.click(timeout=60_000)
    expect(page.get_by_text("Python 3 (ipykernel) | Idle")).to_be_visible(timeout=120_000)
    editor = page.locator(".jp-Notebook .jp-Cell .cm-content").first
    editor.click(timeout=60_000)
    editor.type("import socket; print('HOST=' + socket.gethostname())")
    page.keyboard.press("Shift+Enter")
    output = page.locator(".jp-OutputArea-output").first
    try:
        expect(output).to_contain_text(re.compile(r"HOST=c[1-3]"), timeout=120_000)
    finally:
        page.screenshot(path=ARTIFACTS / "jupyterlab-cell.png")
    page.screenshot(path=ARTIFACTS / "jupyterlab-cell.png")
    # No "get notified about official Jupyter news?" prompt within 15 s of opening JupyterLab.
    page.wait_for_timeout(max(0, 15 - (time.monotonic() - opened)) * 1000)
    assert page.get_by_text("official Jupyter news").count() == 0
    settings = carol.api.get(f"{hub}/user/carol/browser/lab/api/settings/"
                             "@jupyterlab/apputils-extension:notification", timeout=30).json()
    assert settings["schema"]["properties"]["fetchNews"]["default"] == "false", settings["schema"]

    page.goto(f"{hub}/hub/home")
    page.click("#stop-browser")
    expect(page.locator("#stop-browser")).to_be_hidden(
        timeout=60_000)
    assert carol.server("browser") is None


def test_dave_sees_no_gpu_profile_and_a_bad_choice_is_explained(testbed, page):
    hub = testbed.hub_url
    log_in(page, testbed, "dave")
    page.goto(f"{hub}/hub/spawn/dave/cfg")
    assert page.locator("#profile-gpu").count() == 0
    page.click("label[for=profile-configurable]")
    page.fill("#time", "99:00:00")
    page.click("form button[type=submit]")
    expect(page.locator("body")).to_contain_text("Time must be between 1 minute and 12:00:00")
    page.screenshot(path=ARTIFACTS / "form-error.png", full_page=True)


def test_jupyterlab_warns_before_the_time_limit(testbed, page):
    bob = HubUser(testbed, "bob")
    bob.stop("walltime")
    bob.start("walltime", {"profile": "configurable", "time": "4", "qos": "debug"})
    try:
        log_in(page, testbed, "bob")
        page.goto(f"{testbed.hub_url}/user/bob/walltime/lab")
        # 4 minutes minus the 1-minute stop warning: inside the 10-minute window at once.
        warning = re.compile(r"Your server \(Slurm job \d+\) stops in [1-3] minutes?")
        expect(page.locator("body")).to_contain_text(warning, use_inner_text=True, timeout=90_000)
        page.screenshot(path=ARTIFACTS / "walltime-warning.png")
        # The status bar: node, job and time left, counting down; a click gives the details.
        job = re.search(r"Slurm job (\d+)", page.locator("body").inner_text()).group(1)
        status = page.locator(".hpchub-status")
        expect(status).to_have_text(re.compile(rf"^c[1-3] · job {job} · [1-3]:\d\d left$"))
        first = status.inner_text()
        page.wait_for_timeout(2500)
        assert status.inner_text() != first  # counting down
        status.click()
        dialog = page.locator(".jp-Dialog")
        expect(dialog).to_contain_text("Your server")
        for text in (f"Slurm job{job}", "Partitionregular", re.compile("Account(general|lsst)QOS"),
                     "QOSdebug", "Stops at", "File > Save All"):
            expect(dialog).to_contain_text(text, use_inner_text=False)
        page.screenshot(path=ARTIFACTS / "status-bar-details.png")
    finally:
        bob.stop("walltime")


@pytest.fixture(scope="module")
def demo(testbed):
    """The examples `make demo` adds, and alice's and bob's servers; all removed after (the
    kernel tests want a clean kernel area)."""
    from hpchub.containers.demo import ENVS, add_examples

    root = testbed.site.kernel_root
    clean = (f"rm -rf {root}/desi/* {root}/lsst/* {ENVS.format(collaboration='desi')} "
             f"{ENVS.format(collaboration='lsst')}")
    assert testbed.exec("login1", "sh", "-c", clean).ok  # as on a new testbed (make demo's own)
    first, again = add_examples(testbed), add_examples(testbed)
    users = {name: HubUser(testbed, name) for name in ("alice", "bob")}
    for user in users.values():
        user.stop("demo")
        user.start("demo", {"profile": "shared"})
    yield first, again, users
    for user in users.values():
        user.stop("demo")
    testbed.exec("login1", "sh", "-c", clean)


def test_the_demo_publishes_kernels_and_notebooks_once(testbed, demo):
    first, again, users = demo
    assert [line for line in first if line.startswith("published")] == [
        "published DESI 26.1", "published DESI 26.3", "published LSST DESC w.2026.48"], first
    assert not [line for line in again if line.startswith("published")], again  # nothing twice
    history = testbed.exec("login1", "hpchub", "kernels", "history", "desi", user="desi").output
    assert [line.split()[2] for line in history.splitlines()] == ["publish", "publish", "promote"]
    alice, bob = users["alice"], users["bob"]
    examples = alice.server_get("demo", "api/contents/examples").json()
    assert {"01-mpi-ipyparallel.ipynb", "03-dask-on-slurm.ipynb"} <= {
        item["name"] for item in examples["content"]}
    bob_kernels = bob.server_get("demo", "api/kernelspecs").json()["kernelspecs"]
    assert "lsst-w.2026.48" in bob_kernels and not any(k.startswith("desi") for k in bob_kernels)
    code = "import desi_stack, os; print(desi_stack.__version__, os.environ['DESI_RELEASE'])"
    assert alice.run_code("demo", code, kernel="desi-current").split() == ["26.3", "26.3"]


def test_alices_launcher_shows_the_desi_kernels_of_the_demo(testbed, page, demo):
    log_in(page, testbed, "alice")
    page.goto(f"{testbed.hub_url}/user/alice/demo/lab?reset")
    launcher = page.locator(".jp-Launcher")
    for name in ("DESI 26.3", "DESI 26.1", "DESI (current: DESI 26.3)"):
        expect(launcher.get_by_text(name, exact=True).first).to_be_visible(timeout=60_000)
    page.screenshot(path=ARTIFACTS / "demo-launcher.png")
    # A shared-node server: the node and alice's share of it, no time limit.
    expect(page.locator(".hpchub-status")).to_have_text(
        re.compile(r"^login1 \(shared\) · 1 CPU · 1\.5 GB$"), timeout=30_000)


def test_a_failed_start_shows_the_end_of_the_jobs_log_on_the_progress_page(testbed, page):
    """dave's ~/.jupyter has a broken setting (a common cause): the page says so in words,
    with the log lines, the job and where the whole log is."""
    config = "/home/dave/.jupyter/jupyter_server_config.json"
    assert testbed.run_as("dave", "login1", "sh", "-c", f"mkdir -p ~/.jupyter && echo "
                          f"'{{\"ServerApp\": {{\"root_dir\": \"/no/such/dir\"}}}}' > {config}").ok
    dave = HubUser(testbed, "dave")
    dave.stop("failing")
    try:
        log_in(page, testbed, "dave")
        page.goto(f"{testbed.hub_url}/hub/spawn/dave/failing")
        page.click("label[for=profile-debug]")
        page.click("form button[type=submit]")
        expect(page.locator("#progress-log")).to_contain_text("The end of its log", timeout=120_000)
        expect(page.locator("#progress-log")).to_contain_text("No such directory")
        expect(page.locator("body")).to_contain_text(re.compile(
            r"JupyterLab failed to start: .*No such directory.* \(job \d+; .*"
            r"/home/dave/\.hpchub-jupyter-\d+\.log\)"), timeout=30_000)
        page.screenshot(path=ARTIFACTS / "failed-start.png", full_page=True)
        out = testbed.exec("slurmctld", "squeue", "-h", "-u", "dave", "-n", "hpchub-spawner").output
        deadline = time.monotonic() + 60
        while out.strip() and time.monotonic() < deadline:  # the job is gone, nothing left behind
            time.sleep(1)
            out = testbed.exec("slurmctld", "squeue", "-h", "-u", "dave", "-n", "hpchub-spawner").output
        assert not out.strip(), out
        page.goto(f"{testbed.hub_url}/hub/home")  # its card says why it stopped
        card = page.locator("[data-server=failing]")
        expect(card).to_contain_text("Stopped because JupyterLab failed to start: ", timeout=30_000)
        expect(card).to_contain_text("No such directory")
        expect(page.locator("#again-failing")).to_be_visible()
        page.screenshot(path=ARTIFACTS / "home-failed-start.png", full_page=True)
    finally:
        testbed.run_as("dave", "login1", "rm", "-f", config)
        dave.stop("failing")


def test_the_home_page_has_a_card_per_server_queued_running_and_stopped(testbed, page):
    alice = HubUser(testbed, "alice")
    for name in ("cards-shared", "cards-batch"):
        alice.stop(name)
    fillers = []
    try:
        alice.start("cards-shared", {"profile": "shared"})
        for _ in range(3):  # every CPU node busy for a while: alice's batch server queues
            done = testbed.run_as("dave", "login1", "sbatch", "--parsable", "-p", "regular", "-t", "2",
                                  "--wrap", "sleep 25")
            assert done.ok, done.output
            fillers.append(done.output.strip())
        deadline = time.monotonic() + 30
        while testbed.exec("slurmctld", "sinfo", "-h", "-p", "regular", "-t", "idle", "-o", "%N"
                           ).output.strip():
            assert time.monotonic() < deadline, "filler jobs did not start"
            time.sleep(0.5)
        assert alice.spawn("cards-batch", {"profile": "cpu"}).status_code in (201, 202)

        log_in(page, testbed, "alice")
        page.goto(f"{testbed.hub_url}/hub/home")
        shared, batch = page.locator("[data-server=cards-shared]"), page.locator("[data-server=cards-batch]")
        expect(shared).to_contain_text("Shared node")
        expect(shared).to_contain_text("login1")
        expect(shared.locator(".state")).to_have_text("Running")
        expect(batch).to_contain_text(re.compile(r"Queued: position \d+ of \d+ in regular"), timeout=30_000)
        expect(batch).to_contain_text(re.compile(r"job \d+"))
        # The spawn's own progress stream (JupyterHub's), followed live in the card.
        expect(batch.locator(".progress-message")).to_contain_text(
            re.compile(r"Queued: position \d+ of \d+ in regular|Submitted job \d+"), timeout=30_000)
        page.screenshot(path=ARTIFACTS / "home-queued-and-running.png", full_page=True)
        running = re.compile(r"^Running, (\d+:)?\d+:\d\d left$")
        expect(batch.locator(".state")).to_have_text(running, timeout=120_000)
        expect(batch).to_contain_text(re.compile(r"c[1-3] · partition regular · job \d+"))
        first = batch.locator(".state").inner_text()
        page.wait_for_timeout(2500)
        assert batch.locator(".state").inner_text() != first  # counting down, no reload
        expect(page.locator("#connect-cards-batch")).to_be_visible()
        page.screenshot(path=ARTIFACTS / "home-running.png", full_page=True)

        page.click("#stop-cards-batch")
        expect(batch.locator(".state")).to_have_text("Stopped", timeout=60_000)
        expect(page.locator("#again-cards-batch")).to_be_visible()
        # Only one's own servers: bob's list has none of alice's.
        bob = HubUser(testbed, "bob")
        names = [s["name"] for s in bob.api.get(f"{testbed.hub_url}/hub/api/hpchub/servers",
                                                timeout=30).json()["servers"]]
        assert not any(name.startswith("cards-") for name in names)
        page.click("#again-cards-batch")  # the same options again
        page.wait_for_url(re.compile(r"/user/alice/cards-batch/"), timeout=120_000)
        assert alice.server("cards-batch")["user_options"]["profile"] == "cpu"
    finally:
        for job in fillers:
            testbed.exec("slurmctld", "scancel", job)
        for name in ("cards-shared", "cards-batch"):
            alice.stop(name)
