"""Sharing a running server within a collaboration: alice (DESI) shares with carol (DESI), they
edit one notebook at once in two Chromium pages (jupyter-collaboration), bob (LSST) is refused
every way in, and revoking ends carol's access."""

from __future__ import annotations

import asyncio
import json
import sys
import time
from pathlib import Path

import pytest
import requests
from playwright.sync_api import expect, sync_playwright
from tornado import httpclient, ioloop, websocket

sys.path.insert(0, str(Path(__file__).parent))
from directory import not_member_of  # noqa: E402
from hubclient import HubUser  # noqa: E402
from test_browser import ARTIFACTS, CHROMIUM_ARGS, log_in  # noqa: E402

SERVER = "team"
NOTEBOOK = "together.ipynb"
GUARD_INTERVAL_S = 5  # hpchub.node.share_guard re-checks guests' open connections this often


def as_guest(guest: HubUser, path: str, method: str = "get", **kw) -> requests.Response:
    """``guest``'s request to a path of alice's server, with the guest's own token."""
    return getattr(guest.api, method)(f"{guest.base}/user/alice/{SERVER}/{path}", timeout=30,
                                      allow_redirects=False, **kw)


def hub_api(user: HubUser, method: str, path: str, **kw) -> requests.Response:
    return getattr(user.api, method)(f"{user.base}/hub/api/{path}", timeout=30, **kw)


@pytest.fixture(scope="module")
def team(testbed):
    alice = HubUser(testbed, "alice")
    alice.stop(SERVER)  # and its shares, from an earlier run
    alice.start(SERVER, {"profile": "shared"})
    empty = {"cells": [{"cell_type": "code", "id": "c0", "metadata": {}, "outputs": [],
                        "execution_count": None, "source": ""}],
             "metadata": {"kernelspec": {"name": "python3", "display_name": "Python 3",
                                         "language": "python"}}, "nbformat": 4, "nbformat_minor": 5}
    put = alice.api.put(f"{alice.base}/user/alice/{SERVER}/api/contents/{NOTEBOOK}", timeout=30,
                        data=json.dumps({"type": "notebook", "content": empty}))
    assert put.status_code in (200, 201), put.text
    yield alice
    hub_api(alice, "delete", f"shares/alice/{SERVER}")
    alice.stop(SERVER)


def test_a_server_is_shared_only_within_the_owners_collaborations(testbed, team):
    alice, carol, bob = team, HubUser(testbed, "carol"), HubUser(testbed, "bob")
    # At login the collaborations became JupyterHub groups.
    assert hub_api(alice, "get", "user").json()["groups"] == ["desi"]
    assert hub_api(carol, "get", "user").json()["groups"] == ["desi", "lsst"]
    assert hub_api(bob, "get", "user").json()["groups"] == ["lsst"]

    refused = hub_api(alice, "post", f"shares/alice/{SERVER}", json={"user": "bob"})
    assert refused.status_code == 403 and "not in a collaboration of alice's" in refused.text
    refused = hub_api(alice, "post", f"shares/alice/{SERVER}", json={"group": "lsst"})
    assert refused.status_code == 403, refused.text
    # A share code handed to bob gives him nothing; the same kind of code works for carol.
    code = hub_api(alice, "post", f"share-codes/alice/{SERVER}", json={}).json()["code"]
    page = bob.session.get(f"{bob.base}/hub/accept-share", params={"code": code}, timeout=30)
    assert page.status_code == 403 and "not in a collaboration of alice" in page.text
    assert "(desi)" not in page.text  # nor told which collaborations alice is in
    taken = bob.session.post(f"{bob.base}/hub/accept-share", allow_redirects=False, timeout=30,
                             data={"code": code, "_xsrf": bob.session.cookies.get("_xsrf")})
    assert taken.status_code == 403
    assert as_guest(bob, f"api/contents/{NOTEBOOK}").status_code in (403, 404)
    assert as_guest(carol, f"api/contents/{NOTEBOOK}").status_code in (403, 404)  # not yet shared

    taken = carol.session.post(f"{carol.base}/hub/accept-share", allow_redirects=False, timeout=30,
                               data={"code": code, "_xsrf": carol.session.cookies.get("_xsrf")})
    assert taken.status_code == 302, taken.text
    assert as_guest(carol, f"api/contents/{NOTEBOOK}").status_code == 200
    cards = alice.api.get(f"{alice.base}/hub/api/hpchub/servers", timeout=30).json()["servers"]
    assert next(c for c in cards if c["name"] == SERVER)["shared_with"] == ["carol"]
    assert as_guest(bob, f"api/contents/{NOTEBOOK}").status_code in (403, 404)
    # A share outlives a stop: the profile page says so, and carol is back in after the start.
    alice.stop(SERVER, remove=False)
    form = alice.session.get(f"{alice.base}/hub/spawn/alice/{SERVER}", timeout=30)
    assert "This server is shared with carol" in form.text, form.text[-2000:]
    alice.start(SERVER, {"profile": "shared"})
    assert as_guest(carol, f"api/contents/{NOTEBOOK}").status_code == 200

    # Revoking ends carol's access at her next request.
    assert hub_api(alice, "patch", f"shares/alice/{SERVER}", json={"user": "carol"}).ok
    assert as_guest(carol, f"api/contents/{NOTEBOOK}").status_code in (403, 404)


def cell_text(page, index: int = 0) -> str:
    return page.locator(".jp-Notebook .jp-Cell .cm-content").nth(index).inner_text()


def test_alice_and_carol_edit_one_notebook_at_once_and_revoking_ends_it(testbed, team):
    alice = team
    assert hub_api(alice, "post", f"shares/alice/{SERVER}", json={"group": "desi"}).ok
    # Shared with the group: carol's own token gets in, bob's does not.
    assert as_guest(HubUser(testbed, "carol"), f"api/contents/{NOTEBOOK}").status_code == 200
    assert as_guest(HubUser(testbed, "bob"), f"api/contents/{NOTEBOOK}").status_code in (403, 404)
    url = f"{testbed.hub_url}/user/alice/{SERVER}/lab/tree/{NOTEBOOK}"
    ARTIFACTS.mkdir(exist_ok=True)
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path="/usr/bin/chromium", args=CHROMIUM_ARGS)
        mine, theirs = (browser.new_context(viewport={"width": 1100, "height": 700}).new_page()
                        for _ in range(2))
        for page, who in ((mine, "alice"), (theirs, "carol")):
            log_in(page, testbed, who)
            page.goto(url)
            if who == "carol":  # a guest confirms, once, that alice's server may identify her
                page.get_by_role("button", name="Authorize").click()
            expect(page.locator(".jp-Notebook .jp-Cell .cm-content").first).to_be_visible(timeout=60_000)
        theirs.locator(".jp-Notebook .jp-Cell .cm-content").first.click()
        mine.locator(".jp-Notebook .jp-Cell .cm-content").first.click()
        mine.keyboard.type("print('alice was here')")
        expect(theirs.locator(".jp-Notebook .jp-Cell .cm-content").first).to_contain_text(
            "alice was here", timeout=15_000)
        theirs.keyboard.press("Control+End")
        theirs.keyboard.type("  # and carol")
        expect(mine.locator(".jp-Notebook .jp-Cell .cm-content").first).to_contain_text(
            "and carol", timeout=15_000)
        # Each sees the other's cursor, named.
        expect(mine.locator(".jp-remote-userInfo, .jp-remote-cursor").first).to_be_attached(timeout=15_000)
        mine.screenshot(path=ARTIFACTS / "sharing-alice.png")
        theirs.screenshot(path=ARTIFACTS / "sharing-carol.png")

        cards = alice.api.get(f"{alice.base}/hub/api/hpchub/servers", timeout=30).json()["servers"]
        assert next(c for c in cards if c["name"] == SERVER)["shared_with"] == ["group desi"]
        mine.goto(f"{testbed.hub_url}/hub/home")
        expect(mine.locator(f"[data-server='{SERVER}'] .shared-with")).to_have_text(
            "Shared with group desi")
        mine.screenshot(path=ARTIFACTS / "sharing-home-card.png", full_page=True)
        mine.click(f"#unshare-{SERVER}-group-desi")
        expect(mine.locator(f"[data-server='{SERVER}'] .shared-with")).to_have_text("Not shared")

        # Revoked: carol's requests are refused and her open page is cut off from the document,
        # so what she types no longer reaches alice.
        assert as_guest(HubUser(testbed, "carol"), f"api/contents/{NOTEBOOK}").status_code in (403, 404)
        time.sleep(GUARD_INTERVAL_S + 2)
        theirs.keyboard.type(" # after revoke")
        mine.goto(url)
        expect(mine.locator(".jp-Notebook .jp-Cell .cm-content").first).to_contain_text("and carol")
        time.sleep(3)
        assert "after revoke" not in cell_text(mine)


async def open_terminal(guest: HubUser, name: str, command: str) -> None:
    """``guest`` types ``command`` in terminal ``name`` of alice's server, then leaves it."""
    url = f"{guest.base.replace('http', 'ws')}/user/alice/{SERVER}/terminals/websocket/{name}"
    conn = await websocket.websocket_connect(httpclient.HTTPRequest(
        url, headers={"Authorization": f"token {guest.token}"}))
    await conn.write_message(json.dumps(["stdin", command + "\r"]))
    await asyncio.sleep(1)
    conn.close()


def test_revoking_ends_the_guests_kernels_terminals_and_the_token_they_read(testbed, team):
    """carol, a guest, runs code in alice's server: it reads the server's own API token and
    leaves a kernel and a terminal busy. alice revokes: the kernel and the terminal are shut
    down within seconds, and the token carol read opens nothing. "Stop sharing with everyone
    and restart" (home page, Chromium) also gives the server a new token."""
    alice, carol = team, HubUser(testbed, "carol")
    assert hub_api(alice, "post", f"shares/alice/{SERVER}", json={"user": "carol"}).ok
    kernel = carol.start_kernel(SERVER, owner="alice")
    stolen = carol.run_cells(SERVER, ["import os; print(os.environ['JUPYTERHUB_API_TOKEN'])"],
                             kernel_id=kernel, owner="alice")[0].strip()
    made = as_guest(carol, "api/terminals", "post")
    assert made.status_code == 200, made.text
    terminal = made.json()["name"]
    ioloop.IOLoop().run_sync(lambda: open_terminal(carol, terminal, "sleep 1000"), 30)
    # The server's own token never opens the server, shared or not.
    assert as_guest(carol, "api/contents", headers={
        "Authorization": f"token {stolen}"}).status_code in (403, 404)
    listed = alice.server_get(SERVER, "api/kernels").json()
    assert kernel in {k["id"] for k in listed}

    assert hub_api(alice, "patch", f"shares/alice/{SERVER}", json={"user": "carol"}).ok
    deadline = time.monotonic() + GUARD_INTERVAL_S + 10
    while time.monotonic() < deadline:
        kernels = {k["id"] for k in alice.server_get(SERVER, "api/kernels").json()}
        terminals = {t["name"] for t in alice.server_get(SERVER, "api/terminals").json()}
        if kernel not in kernels and terminal not in terminals:
            break
        time.sleep(1)
    assert kernel not in kernels, "carol's kernel still runs after the revocation"
    assert terminal not in terminals, "carol's terminal still runs after the revocation"
    assert not testbed.exec("login1", "pgrep", "-u", "alice", "-f", "sleep 1000").ok
    for path in ("api/contents", f"api/kernels/{kernel}"):
        assert as_guest(carol, path).status_code in (403, 404)
        assert as_guest(carol, path, headers={"Authorization": f"token {stolen}"}).status_code \
            in (403, 404)

    # Shared again; "Stop sharing with everyone and restart": no share, a new server token.
    assert hub_api(alice, "post", f"shares/alice/{SERVER}", json={"user": "carol"}).ok
    assert requests.get(f"{alice.base}/hub/api/user", timeout=30,
                        headers={"Authorization": f"token {stolen}"}).status_code == 200
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path="/usr/bin/chromium", args=CHROMIUM_ARGS)
        page = browser.new_page()
        log_in(page, testbed, "alice")
        page.goto(f"{testbed.hub_url}/hub/home")
        page.click(f"#revoke-restart-{SERVER}")
        wait_for(lambda: requests.get(f"{alice.base}/hub/api/user", timeout=30, headers={
            "Authorization": f"token {stolen}"}).status_code != 200, 120, "the server did not stop")
        # Started again with the same options (the page follows it as "Start again" does).
        wait_for(lambda: (alice.server(SERVER) or {}).get("ready"), 120, "the server did not restart")
        page.goto(f"{testbed.hub_url}/hub/home")
        card = page.locator(f"[data-server='{SERVER}']")
        expect(card).to_have_attribute("data-state", "running", timeout=30_000)
        expect(card.locator(".shared-with")).to_have_text("Not shared")
        page.screenshot(path=ARTIFACTS / "sharing-revoke-restart.png", full_page=True)
        browser.close()
    assert hub_api(alice, "get", f"shares/alice/{SERVER}").json()["items"] == []
    assert as_guest(carol, "api/contents").status_code in (403, 404)


def wait_for(check, seconds: float, what: str) -> float:
    """Seconds until ``check()`` held; fails after ``seconds``."""
    started = time.monotonic()
    while not check():
        assert time.monotonic() - started < seconds, what
        time.sleep(1)
    return time.monotonic() - started


def test_leaving_a_collaboration_in_the_directory_ends_its_shares_within_a_minute(testbed, team):
    """carol has alice's server through a share with her and one with group desi. The identity
    team removes her from desi in LDAP; she does not log in again. Within a minute her token
    opens nothing of alice's and the share with her is gone; back in desi, the group share
    lets her in again."""
    alice, carol = team, HubUser(testbed, "carol")
    for target in ({"user": "carol"}, {"group": "desi"}):
        assert hub_api(alice, "post", f"shares/alice/{SERVER}", json=target).ok
    assert as_guest(carol, f"api/contents/{NOTEBOOK}").status_code == 200

    def shared() -> list[str]:
        cards = alice.api.get(f"{alice.base}/hub/api/hpchub/servers", timeout=30).json()["servers"]
        return next(c for c in cards if c["name"] == SERVER)["shared_with"]

    with not_member_of(testbed, "carol", "desi"):
        wait_for(lambda: as_guest(carol, f"api/contents/{NOTEBOOK}").status_code in (403, 404),
                 60, "carol still opens alice's server a minute after leaving desi")
        assert shared() == ["group desi"]
        assert hub_api(carol, "get", "user").json()["groups"] == ["lsst"]
    wait_for(lambda: as_guest(carol, f"api/contents/{NOTEBOOK}").status_code == 200, 60,
             "carol, back in desi, is not let in by the group share within a minute")
    assert sorted(hub_api(carol, "get", "user").json()["groups"]) == ["desi", "lsst"]
    hub_api(alice, "delete", f"shares/alice/{SERVER}")
