"""The demo hub answers on 127.0.0.1 and site users log in with the demo password."""

from __future__ import annotations

import requests


def login(testbed, user: str, password: str) -> requests.Response:
    session = requests.Session()
    session.get(f"{testbed.hub_url}/hub/login", timeout=10)
    return session.post(
        f"{testbed.hub_url}/hub/login",
        data={"username": user, "password": password, "_xsrf": session.cookies.get("_xsrf")},
        allow_redirects=False,
        timeout=30,
    )


def test_hub_answers_with_jupyterhub_6(testbed):
    resp = requests.get(f"{testbed.hub_url}/hub/api/", timeout=10)
    assert resp.status_code == 200
    assert resp.json()["version"].startswith("6.1.")


def test_demo_user_logs_in(testbed):
    resp = login(testbed, "alice", testbed.secrets()["demo_password"])
    assert resp.status_code == 302, resp.text[:500]
    assert "jupyterhub-session-id" in resp.cookies or resp.headers["Location"].startswith("/hub/")


def test_wrong_password_and_non_site_user_are_refused(testbed):
    assert login(testbed, "alice", "not-the-password").status_code == 403
    assert login(testbed, "root", testbed.secrets()["demo_password"]).status_code == 403
