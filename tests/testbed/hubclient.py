"""A site user talking to the hub's REST API and to their own server, as a program would."""

from __future__ import annotations

import json
import time
import uuid

import requests
from requests.adapters import HTTPAdapter
from tornado import httpclient, ioloop, websocket
from urllib3.util.retry import Retry


class HubUser:
    def __init__(self, testbed, name: str):
        self.testbed, self.name, self.base = testbed, name, testbed.hub_url
        self.session = requests.Session()
        self.session.get(f"{self.base}/hub/login", timeout=10)
        resp = self.session.post(f"{self.base}/hub/login", allow_redirects=False, timeout=30, data={
            "username": name, "password": testbed.secrets()["demo_password"],
            "_xsrf": self.session.cookies.get("_xsrf")})
        assert resp.status_code == 302, f"login of {name} failed: {resp.status_code}"
        resp = self.session.post(f"{self.base}/hub/api/users/{name}/tokens", timeout=30,
                                 headers={"X-XSRFToken": self.session.cookies.get("_xsrf")},
                                 json={"note": "tests", "expires_in": 3600})
        assert resp.status_code == 201, resp.text
        self.token = resp.json()["token"]
        self.api = requests.Session()
        self.api.headers["Authorization"] = f"token {self.token}"
        # The proxy (node) closes idle keep-alive connections after 5 s: a GET that meets a
        # just-closed one is sent again instead of failing the test.
        retry = Retry(total=2, connect=2, read=2, status=0, allowed_methods={"GET"})
        for session in (self.session, self.api):
            session.mount("http://", HTTPAdapter(max_retries=retry))

    def model(self) -> dict:
        return self.api.get(f"{self.base}/hub/api/users/{self.name}", timeout=30).json()

    def server(self, name: str) -> dict | None:
        return self.model().get("servers", {}).get(name)

    def spawn(self, name: str, options: dict) -> requests.Response:
        return self.api.post(f"{self.base}/hub/api/users/{self.name}/servers/{name}",
                             json=options, timeout=60)

    def progress(self, name: str, timeout: float = 240) -> list[dict]:
        """Every progress event of a spawn, until ready or failed."""
        events = []
        url = f"{self.base}/hub/api/users/{self.name}/servers/{name}/progress"
        with self.api.get(url, stream=True, timeout=timeout) as resp:
            for line in resp.iter_lines(decode_unicode=True):
                if line and line.startswith("data:"):
                    event = json.loads(line[5:])
                    events.append(event)
                    if event.get("ready") or event.get("failed"):
                        break
        return events

    def start(self, name: str, options: dict, timeout: float = 240) -> list[dict]:
        resp = self.spawn(name, options)
        assert resp.status_code in (201, 202), f"{resp.status_code} {resp.text}"
        events = self.progress(name, timeout)
        assert events and events[-1].get("ready"), f"{name} did not start: {events}"
        return events

    def stop(self, name: str, remove: bool = True) -> None:
        """Stop a server and, unless told otherwise, delete the named server (as a tidy client
        does: the hub limits how many named servers a user keeps)."""
        self.api.delete(f"{self.base}/hub/api/users/{self.name}/servers/{name}", timeout=60,
                        json={"remove": remove} if name else None)
        deadline = time.monotonic() + 60
        while self.server(name) and time.monotonic() < deadline:
            time.sleep(0.5)

    def server_get(self, name: str, path: str, token: str | None = None) -> requests.Response:
        return requests.get(f"{self.base}/user/{self.name}/{name}/{path}", timeout=30,
                            headers={"Authorization": f"token {token or self.token}"})

    def run_code(self, name: str, code: str, timeout: float = 60, kernel: str | None = None) -> str:
        """Start a kernel (``kernel`` or the default) in the server, run ``code``, return its output."""
        return self.run_cells(name, [code], timeout, kernel)[0]

    def start_kernel(self, name: str, kernel: str | None = None, owner: str | None = None) -> str:
        """A new kernel in the server ``name`` of ``owner`` (default: this user's own)."""
        resp = self.api.post(f"{self.base}/user/{owner or self.name}/{name}/api/kernels",
                             json={"name": kernel} if kernel else {}, timeout=60)
        assert resp.status_code == 201, resp.text
        return resp.json()["id"]

    def kernel_api(self, name: str, kernel_id: str, method: str = "get", path: str = "",
                   owner: str | None = None) -> requests.Response:
        return getattr(self.api, method)(
            f"{self.base}/user/{owner or self.name}/{name}/api/kernels/{kernel_id}{path}", timeout=120)

    def run_cells(self, name: str, cells: list[str], timeout: float = 60, kernel: str | None = None,
                  kernel_id: str | None = None, owner: str | None = None) -> list[str]:
        """Run cells one after another in one kernel, as a person would; their outputs in order.

        A new kernel is started (and shut down after) unless ``kernel_id`` is given; ``owner``:
        a server shared with this user."""
        own = kernel_id is None
        kernel_id = kernel_id or self.start_kernel(name, kernel, owner)
        try:
            return [ioloop.IOLoop().run_sync(
                lambda c=code: self._execute(name, kernel_id, c, owner), timeout) for code in cells]
        finally:
            if own:
                self.kernel_api(name, kernel_id, "delete", owner=owner)

    async def _execute(self, name: str, kernel: str, code: str, owner: str | None = None) -> str:
        url = (f"{self.base.replace('http', 'ws')}/user/{owner or self.name}/{name}/api/kernels/"
               f"{kernel}/channels")
        request = httpclient.HTTPRequest(url, headers={"Authorization": f"token {self.token}"})
        conn = await websocket.websocket_connect(request)
        msg_id = uuid.uuid4().hex
        await conn.write_message(json.dumps({
            "header": {"msg_id": msg_id, "msg_type": "execute_request", "username": self.name,
                       "session": uuid.uuid4().hex, "version": "5.3"},
            "parent_header": {}, "metadata": {}, "channel": "shell", "buffers": [],
            "content": {"code": code, "silent": False, "store_history": False,
                        "user_expressions": {}, "allow_stdin": False}}))
        out = []
        while True:
            raw = await conn.read_message()
            if raw is None:
                raise RuntimeError("kernel websocket closed")
            msg = json.loads(raw)
            if msg.get("parent_header", {}).get("msg_id") != msg_id:
                continue
            kind = msg["header"]["msg_type"]
            if kind == "stream":
                out.append(msg["content"]["text"])
            elif kind in ("execute_result", "display_data", "update_display_data"):
                out.append(msg["content"]["data"].get("text/plain", "") + "\n")
            elif kind == "error":
                raise RuntimeError("\n".join(msg["content"]["traceback"]))
            elif kind == "status" and msg["content"]["execution_state"] == "idle":
                conn.close()
                return "".join(out)
