"""Notebook collections on the testbed: DESI's tutorials in a bare git repository (the
upstream), synced by the ``desi`` account with the real ``hpchub notebooks`` CLI and by a
signed push to the hub's webhook, shown read-only in members' servers, copied by getlatest."""

from __future__ import annotations

import hashlib
import hmac
import json
import shlex
import time

import pytest
import requests
from hubclient import HubUser
from playwright.sync_api import expect
from test_browser import ARTIFACTS, chromium, log_in

NAME = "desi-tutorials"
UPSTREAM = "/global/common/software/desi-git/tutorials.git"
WORK = "/home/desi/tutorials-work"
PUBLISHED = f"/global/common/software/jupyter/notebooks/{NAME}/current"
HOOK = f"/services/notebook-webhook/{NAME}"
OWNER = "desi-nb"  # the collection's account: in DESI's group, not the desi account


def notebook(*sources: str) -> str:
    cells = [{"cell_type": "code", "execution_count": None, "id": f"c{i}", "metadata": {},
              "outputs": [], "source": src} for i, src in enumerate(sources)]
    return json.dumps({"cells": cells, "metadata": {"kernelspec": {
        "name": "some-other-kernel", "display_name": "Saved elsewhere", "language": "python"}},
        "nbformat": 4, "nbformat_minor": 5})


def as_desi(testbed, script: str) -> str:
    done = testbed.exec("login1", "bash", "-c", f"set -e\n{script}", user="desi",
                        workdir="/home/desi")
    assert done.ok, done.output
    return done.output


def commit(testbed, files: dict[str, str | None], message: str) -> str:
    """Write (or, for None, delete) files in desi's clone, commit and push; the new commit."""
    steps = [f"cd {WORK}"]
    for path, text in files.items():
        if text is None:
            steps.append(f"git rm -q --ignore-unmatch {shlex.quote(path)}")
        else:
            steps.append(f"mkdir -p $(dirname {shlex.quote(path)}) && printf %s "
                         f"{shlex.quote(text)} > {shlex.quote(path)} && git add {shlex.quote(path)}")
    steps.append(f"git -c user.name=DESI -c user.email=desi@testbed commit -q -m {shlex.quote(message)}"
                 " && git push -q origin HEAD:main && git rev-parse HEAD")
    return as_desi(testbed, "\n".join(steps)).strip().splitlines()[-1]


def sync(testbed, *flags: str):
    """A sync by hand, as the collection's own account."""
    return testbed.exec("login1", "hpchub", "notebooks", "sync", NAME, *flags, user=OWNER,
                        workdir=f"/home/{OWNER}")


def history(testbed) -> list[dict]:
    out = testbed.exec("login1", "cat", f"/global/common/software/jupyter/notebooks/{NAME}/history.jsonl",
                       user="desi").output
    return [json.loads(line) for line in out.splitlines() if line.startswith("{")]


def push_event(testbed, after: str, secret: str | None = None, repository: str = "desihub/tutorials",
               delivery: str | None = None, body: bytes | None = None) -> requests.Response:
    body = body or json.dumps({"ref": "refs/heads/main", "after": after,
                               "repository": {"full_name": repository}}).encode()
    headers = {"Content-Type": "application/json", "X-GitHub-Event": "push",
               "X-GitHub-Delivery": delivery or hashlib.md5(body).hexdigest()}
    if secret is not None:
        headers["X-Hub-Signature-256"] = "sha256=" + hmac.new(secret.encode(), body,
                                                              hashlib.sha256).hexdigest()
    return requests.post(f"{testbed.hub_url}{HOOK}", data=body, headers=headers, timeout=30)


@pytest.fixture(scope="module")
def upstream(testbed):
    """A fresh upstream with one passing tutorial and an excluded, failing draft; published."""
    testbed.exec("login1", "sh", "-c", "install -d -o desi -g desi -m 2750 "
                 f"$(dirname {UPSTREAM})")
    as_desi(testbed, f"rm -rf {UPSTREAM} {WORK} && git init -q --bare -b main {UPSTREAM} && "
                     f"git clone -q {UPSTREAM} {WORK} 2>/dev/null")
    first = commit(testbed, {
        "01-intro.ipynb": notebook("import sys\nprint('DESI tutorial 1 on', sys.version.split()[0])"),
        "drafts/unfinished.ipynb": notebook("raise RuntimeError('not finished')"),
        "data/targets.csv": "ra,dec\n150.1,2.2\n",
    }, "First tutorial")
    done = sync(testbed, "--force")
    assert done.ok, done.output
    return first


def test_a_sync_publishes_read_only_for_the_collaboration_and_a_failing_notebook_blocks_it(
        testbed, upstream):
    assert testbed.exec("login1", "readlink", PUBLISHED).output.strip().endswith(upstream)
    # alice (DESI) reads it and cannot change it; bob (LSST) cannot even read it.
    read = testbed.exec("login1", "sh", "-c", f"head -c 20 {PUBLISHED}/01-intro.ipynb", user="alice")
    assert read.ok and read.output.startswith("{"), read.output
    write = testbed.exec("login1", "sh", "-c", f"echo x >> {PUBLISHED}/01-intro.ipynb; "
                         f"touch {PUBLISHED}/mine.ipynb", user="alice")
    assert not write.ok and "Permission denied" in write.output
    refused = testbed.exec("login1", "ls", PUBLISHED, user="bob")
    assert not refused.ok and "Permission denied" in refused.output

    broken = commit(testbed, {"02-fit.ipynb": notebook("x = 1", "raise ValueError('fit did not converge')")},
                    "A broken tutorial")
    done = sync(testbed)
    assert done.code == 1, done.output
    assert "02-fit.ipynb" in done.output and "ValueError: fit did not converge" in done.output
    assert f"Users still see {upstream[:12]}" in done.output
    assert testbed.exec("login1", "readlink", PUBLISHED).output.strip().endswith(upstream)
    last = history(testbed)[-1]
    assert (last["commit"], last["result"]) == (broken, "failed")
    assert {f["where"] for f in last["failures"]} == {"local", "slurm"}  # login and compute node
    assert all(f["notebook"] == "02-fit.ipynb" for f in last["failures"])
    shown = testbed.exec("login1", "hpchub", "notebooks", "history", NAME, user="desi").output
    assert "failed" in shown and "published" in shown and f"{OWNER} (manual)" in shown
    # The account that runs the collection's notebooks cannot change DESI's kernels.
    kernels = "/global/common/software/jupyter/kernels/desi"
    assert not testbed.exec("login1", "test", "-w", kernels, user=OWNER).ok
    assert testbed.exec("login1", "test", "-r", kernels, user=OWNER).ok

    fixed = commit(testbed, {"02-fit.ipynb": None}, "Take the broken tutorial out")
    assert sync(testbed).ok
    assert testbed.exec("login1", "readlink", PUBLISHED).output.strip().endswith(fixed)


def test_a_signed_push_shows_the_new_notebook_in_alices_running_server(testbed, upstream, alice):
    secret = testbed.secrets()["notebook_webhook_secret"]
    alice.start("nbs", {"profile": "shared"})
    listing = alice.server_get("nbs", f"api/contents/notebooks-latest/{NAME}").json()
    names = {entry["name"] for entry in listing["content"]}
    assert "01-intro.ipynb" in names and "03-spectra.ipynb" not in names

    # Refused, and nothing fetched: no signature, a wrong one, an unknown collection or
    # repository, an oversized body.
    synced = len(history(testbed))
    assert push_event(testbed, "0" * 40).status_code == 401
    assert push_event(testbed, "0" * 40, secret="not-the-secret").status_code == 403
    assert push_event(testbed, "0" * 40, secret, repository="mallory/tutorials").status_code == 404
    other = requests.post(f"{testbed.hub_url}/services/notebook-webhook/lsst-secrets", data=b"{}",
                          timeout=30)
    assert other.status_code == 404
    big = push_event(testbed, "0" * 40, secret, body=b'{"ref": "' + b"x" * (2 << 20) + b'"}')
    assert big.status_code == 413

    new = commit(testbed, {"03-spectra.ipynb": notebook("print('spectra')")}, "Spectra tutorial")
    pushed_at = time.monotonic()
    accepted = push_event(testbed, new, secret)
    assert accepted.status_code == 200, accepted.text
    # The same delivery again (a replay of the signed body) is refused.
    assert push_event(testbed, new, secret).status_code == 403
    seen = None
    while time.monotonic() - pushed_at < 60:
        resp = alice.server_get("nbs", f"api/contents/notebooks-latest/{NAME}/03-spectra.ipynb?content=0")
        if resp.status_code == 200:
            seen = resp.json()
            break
        time.sleep(1)
    waited = time.monotonic() - pushed_at
    assert seen is not None and waited < 30, f"not shown after {waited:.0f} s"
    assert seen["writable"] is False
    events = history(testbed)[synced:]
    assert [(e["result"], e["commit"]) for e in events] == [("published", new)], events
    assert events[0]["by"] == f"{OWNER} (webhook)"
    # What alice sees in JupyterLab's file browser.
    with chromium() as page:
        log_in(page, testbed, "alice")
        page.goto(f"{testbed.hub_url}/user/alice/nbs/lab/tree/notebooks-latest/{NAME}")
        expect(page.locator(".jp-DirListing-item", has_text="03-spectra.ipynb")).to_be_visible(
            timeout=60_000)
        page.screenshot(path=ARTIFACTS / "notebooks-latest.png")


def test_a_burst_of_pushes_syncs_one_at_a_time_and_the_latest_last(testbed, upstream):
    secret = testbed.secrets()["notebook_webhook_secret"]
    before = len(history(testbed))
    commits = []
    for i in range(3):
        commits.append(commit(testbed, {f"burst/{i}.ipynb": notebook(f"print({i})")}, f"Burst {i}"))
        assert push_event(testbed, commits[-1], secret).status_code == 200
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        events = history(testbed)[before:]
        if events and events[-1]["commit"] == commits[-1] and events[-1]["result"] in (
                "published", "unchanged") and not testbed.exec(
                "login1", "pgrep", "-u", OWNER, "-f", "notebooks sync").ok:
            break
        time.sleep(2)
    events = history(testbed)[before:]
    assert events and events[-1]["commit"] == commits[-1], events
    assert len(events) <= 3
    spans = [(e["started"], e["at"]) for e in events]
    assert all(a[1] <= b[0] for a, b in zip(spans, spans[1:], strict=False)), spans  # no overlap
    assert testbed.exec("login1", "readlink", PUBLISHED).output.strip().endswith(commits[-1])


def test_the_webhooks_certificate_runs_the_sync_and_nothing_else(testbed, upstream):
    """The webhook's certificate for the collection's account is bound to one command: asking
    for another runs the sync. Its CA opens no other account, not even with a certificate
    made for one."""
    key = f"/srv/hpchub/notebook-webhook/ssh/{NAME}/{OWNER}"
    done = testbed.exec("hub", "ssh", "-F", "/dev/null", "-o", f"IdentityFile={key}",
                        "-o", f"CertificateFile={key}-cert.pub", "-o", "BatchMode=yes",
                        "-o", "GlobalKnownHostsFile=/etc/ssh/ssh_known_hosts",
                        "-o", "UserKnownHostsFile=/dev/null", "-l", OWNER, "login1", "--",
                        f"id; touch /home/{OWNER}/owned-by-the-hub", user="jupyterhub")
    assert "uid=" not in done.output and f"{NAME}: unchanged" in done.output, done.output
    assert not testbed.exec("login1", "test", "-e", f"/home/{OWNER}/owned-by-the-hub").ok
    # Whoever holds the webhook's CA signs a certificate for alice, or for desi (which owns the
    # kernels): sshd refuses both.
    for victim in ("alice", "desi"):
        made = testbed.exec("hub", "sh", "-c", f"rm -f /tmp/forged /tmp/forged.pub /tmp/forged-cert.pub; "
                            "ssh-keygen -q -t ed25519 -N '' -f /tmp/forged && ssh-keygen -q -s "
                            f"/etc/hpchub/notebook-webhook-ca -I forged -n {victim} -V +5m "
                            "/tmp/forged.pub", user="jupyterhub")
        assert made.ok, made.output
        forged = testbed.exec("hub", "ssh", "-F", "/dev/null", "-o", "IdentityFile=/tmp/forged",
                              "-o", "CertificateFile=/tmp/forged-cert.pub", "-o", "BatchMode=yes",
                              "-o", "GlobalKnownHostsFile=/etc/ssh/ssh_known_hosts",
                              "-o", "UserKnownHostsFile=/dev/null", "-l", victim, "login1", "--",
                              "id", user="jupyterhub")
        assert not forged.ok and "uid=" not in forged.output, forged.output
        assert "Permission denied" in forged.output, forged.output


def test_getlatest_copies_and_keeps_a_changed_notebook(testbed, upstream, alice):
    run = "rm -rf ~/tutorials && getlatest ~/tutorials"
    first = testbed.exec("login1", "bash", "-lc", run, user="alice", workdir="/home/alice")
    assert first.ok and f"{NAME} -> /home/alice/tutorials/{NAME}" in first.output, first.output
    mine = f"/home/alice/tutorials/{NAME}/01-intro.ipynb"
    assert testbed.exec("login1", "sh", "-c", f"echo '# my notes' >> {mine}", user="alice").ok
    commit(testbed, {"01-intro.ipynb": notebook("print('tutorial 1, second edition')"),
                     "data/targets.csv": "ra,dec\n150.1,2.2\n151.0,2.3\n"}, "Second edition")
    assert sync(testbed).ok
    again = testbed.exec("login1", "bash", "-lc", "getlatest ~/tutorials", user="alice",
                         workdir="/home/alice")
    assert again.ok and "kept your 01-intro.ipynb; the new version is 01-intro.latest.ipynb" \
        in again.output, again.output
    kept = testbed.exec("login1", "cat", mine, user="alice").output
    assert "# my notes" in kept  # alice's edit is still there
    beside = testbed.exec("login1", "cat", mine.replace(".ipynb", ".latest.ipynb"), user="alice").output
    assert "second edition" in beside
    data = testbed.exec("login1", "cat", f"/home/alice/tutorials/{NAME}/data/targets.csv",
                        user="alice").output
    assert "151.0" in data  # unchanged by alice, so updated
    assert testbed.exec("login1", "touch", mine, user="alice").ok  # her copy is writable


def test_the_jupyterlab_command_copies_the_collection_into_a_folder(testbed, upstream, alice):
    if not alice.server("nbs"):
        alice.start("nbs", {"profile": "shared"})
    testbed.exec("login1", "rm", "-rf", "/home/alice/lab-copy", user="alice")
    with chromium() as page:
        log_in(page, testbed, "alice")
        page.goto(f"{testbed.hub_url}/user/alice/nbs/lab/workspaces/getlatest?reset")
        expect(page.locator(".hpchub-status")).to_be_visible(timeout=60_000)  # plug-ins loaded
        page.locator(".jp-DirListing-content").click()
        page.keyboard.press("Control+Shift+C")
        palette = page.locator(".jp-ModalCommandPalette .lm-CommandPalette-input")
        expect(palette).to_be_visible()
        palette.fill("writable copy of the notebook")
        expect(page.locator(".lm-CommandPalette-item.lm-mod-active")).to_have_attribute(
            "data-command", "hpchub:getlatest")
        palette.press("Enter")
        dialog = page.locator(".jp-Dialog")
        dialog.locator("input").fill("lab-copy")
        dialog.get_by_role("button", name="Ok").click()
        result = page.locator(".hpchub-getlatest-result")
        expect(result).to_contain_text(f"{NAME} -> /home/alice/lab-copy/{NAME}", timeout=30_000)
        page.screenshot(path=ARTIFACTS / "getlatest-command.png")
    copied = alice.server_get("nbs", f"api/contents/lab-copy/{NAME}/01-intro.ipynb?content=0")
    assert copied.status_code == 200 and copied.json()["writable"] is True


def test_bob_outside_desi_has_no_collection_and_getlatest_says_why(testbed, upstream):
    done = testbed.exec("login1", "bash", "-lc", "getlatest ~/tutorials", user="bob",
                        workdir="/home/bob")
    assert not done.ok and "you are not a member" in done.output, done.output


def test_a_tag_named_like_the_branch_is_never_published(testbed, upstream):
    """Someone who may push tags but not to main pushes a tag named ``main`` whose notebook would
    run as the collection's account; its push event is signed like any other. Nothing of it is
    fetched, run or published."""
    secret = testbed.secrets()["notebook_webhook_secret"]
    marker = f"/home/{OWNER}/tag-pwned"
    evil = notebook(f"open({marker!r}, 'w').write('ran')")
    published = testbed.exec("login1", "readlink", PUBLISHED).output.strip()
    before = len(history(testbed))
    tagged = as_desi(testbed, f"""cd {WORK}
export GIT_INDEX_FILE=$(mktemp -u) GIT_AUTHOR_NAME=m GIT_AUTHOR_EMAIL=m@x
export GIT_COMMITTER_NAME=m GIT_COMMITTER_EMAIL=m@x
git read-tree refs/heads/main
blob=$(printf %s {shlex.quote(evil)} | git hash-object -w --stdin)
git update-index --add --cacheinfo 100644,$blob,zz-evil.ipynb
c=$(git commit-tree $(git write-tree) -p refs/heads/main -m 'a tag named like the branch')
git push -q origin $c:refs/tags/main && echo $c""").split()[-1]
    try:
        body = json.dumps({"ref": "refs/tags/main", "after": tagged,
                           "repository": {"full_name": "desihub/tutorials"}}).encode()
        answer = push_event(testbed, tagged, secret, body=body)
        assert answer.status_code == 200 and "ignored" in answer.json(), answer.text
        time.sleep(3)
        assert len(history(testbed)) == before  # no sync started
        done = sync(testbed)  # a sync for any other reason publishes the branch, not the tag
        assert done.ok, done.output
        assert testbed.exec("login1", "readlink", PUBLISHED).output.strip() == published
        assert history(testbed)[-1]["commit"] != tagged
        assert not testbed.exec("login1", "test", "-e", marker).ok, "the tag's notebook ran"
        tags = testbed.exec("login1", "git", "-C", PUBLISHED.replace("current", "mirror.git"),
                            "tag", user=OWNER).output
        assert "main" not in tags.split(), tags
    finally:
        as_desi(testbed, f"cd {WORK} && git push -q origin :refs/tags/main")
        testbed.exec("login1", "rm", "-f", marker)


def test_a_huge_file_in_a_small_pack_is_refused_as_it_streams(testbed, upstream):
    """A commit of 256 MB of zeros (a pack of a few hundred KB) is over the collection's 100 MB:
    the sync stops reading at the limit, publishes nothing and says why."""
    published = testbed.exec("login1", "readlink", PUBLISHED).output.strip()
    big = as_desi(testbed, f"""cd {WORK}
head -c 268435456 /dev/zero > zeros.bin && git add zeros.bin && rm zeros.bin
git -c user.name=m -c user.email=m@x commit -q -m 'a huge file' && git push -q origin HEAD:main
git rev-parse HEAD""").split()[-1]
    try:
        done = sync(testbed)
        assert done.code == 1, done.output
        assert "larger than 100 MB" in done.output and "zeros.bin" in done.output, done.output
        assert testbed.exec("login1", "readlink", PUBLISHED).output.strip() == published
        last = history(testbed)[-1]
        assert (last["commit"], last["result"]) == (big, "failed"), last
        staged = testbed.exec("login1", "sh", "-c", f"ls {PUBLISHED}/../staging", user=OWNER).output
        assert big not in staged, staged  # nothing of it left on disk
    finally:
        commit(testbed, {"zeros.bin": None}, "Take the huge file out")
        assert sync(testbed).ok


def test_getlatest_never_writes_through_another_users_links(testbed, upstream, alice):
    """bob prepares a folder for alice's copy with a link named like the ``.latest`` copy of
    a notebook, pointing at her ~/.bashrc: her getlatest refuses the folder; .bashrc is intact."""
    if not alice.server("nbs"):  # her server made ~/notebooks-latest
        alice.start("nbs", {"profile": "shared"})
    rc = "/home/alice/.bashrc"
    assert testbed.exec("login1", "sh", "-c", f"touch {rc}", user="alice").ok
    digest = testbed.exec("login1", "sha256sum", rc).output
    trap = ("mkdir -p -m 777 /tmp/drop/desi-tutorials && cd /tmp/drop/desi-tutorials && "
            f"echo '{{}}' > 01-intro.ipynb && chmod 666 01-intro.ipynb && ln -s {rc} 01-intro.latest.ipynb")
    assert testbed.exec("login1", "sh", "-c", trap, user="bob").ok
    try:
        done = testbed.exec("login1", "bash", "-lc", "getlatest /tmp/drop", user="alice",
                            workdir="/home/alice")
        assert not done.ok and "belongs to someone else" in done.output, done.output
        assert testbed.exec("login1", "sha256sum", rc).output == digest, "alice's .bashrc changed"
    finally:
        testbed.exec("login1", "rm", "-rf", "/tmp/drop")


@pytest.fixture(autouse=True, scope="module")
def _stop_servers(testbed):
    yield
    HubUser(testbed, "alice").stop("nbs")
