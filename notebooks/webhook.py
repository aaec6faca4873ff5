"""The ``notebook-webhook`` managed service (on the hub): a signed push syncs a collection.

``POST /services/notebook-webhook/<collection>`` with GitHub's ``X-Hub-Signature-256``
(HMAC-SHA256 of the body with the collection's secret) or GitLab's ``X-Gitlab-Token``. What is
refused, before anything is fetched, and logged: an oversized body (413), an unknown collection
or repository (404), a missing signature (401), a wrong one or a replayed delivery (403).

A push to the collection's ref starts ``hpchub notebooks sync`` on a login node as the
collection's account, over ssh with a certificate that can run that one command and nothing
else, signed by a CA of its own that login nodes trust for the collections' accounts only.
Syncs of a collection run one at a time; pushes during a sync start one more after it, which
fetches the newest commit, so the latest push is always synced last.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import hmac
import json
import logging
from collections import deque
from pathlib import Path

from tornado import web
from tornado.httpserver import HTTPServer

from hpchub.site_configs import Site, load_site
from hpchub.site_configs.schema import NotebookCollection
from hpchub.slurm.runner import run

log = logging.getLogger("hpchub.notebook-webhook")
PREFIX = "/services/notebook-webhook"
SEEN_KEPT = 1000
DRAIN_LIMIT = 32 << 20  # bytes read (and dropped) before an oversized body is cut off


class Refused(Exception):
    def __init__(self, status: int, reason: str):
        super().__init__(reason)
        self.status, self.reason = status, reason


def secret_of(spec: NotebookCollection) -> bytes:
    return Path(spec.webhook_secret_file).read_bytes().strip()


def check_signature(headers, body: bytes, secret: bytes) -> None:  # noqa: ANN001 - tornado headers
    github, gitlab = headers.get("X-Hub-Signature-256"), headers.get("X-Gitlab-Token")
    if github:
        expected = "sha256=" + hmac.new(secret, body, hashlib.sha256).hexdigest()
        if not hmac.compare_digest(github.encode(), expected.encode()):
            raise Refused(403, "wrong X-Hub-Signature-256")
    elif gitlab:
        if not hmac.compare_digest(gitlab.encode(), secret):
            raise Refused(403, "wrong X-Gitlab-Token")
    else:
        raise Refused(401, "no X-Hub-Signature-256 or X-Gitlab-Token header")


def pushed(payload: dict) -> tuple[str, str | None]:
    """(ref, the forge's repository name) of a GitHub or GitLab push event."""
    repo = payload.get("repository") or {}
    project = payload.get("project") or {}
    name = repo.get("full_name") or project.get("path_with_namespace")
    return str(payload.get("ref", "")), str(name) if name else None


class Seen:
    """Deliveries already accepted (by signed body digest and delivery id), kept on disk."""

    def __init__(self, path: Path):
        self.path = path
        try:
            kept = json.loads(path.read_text())
        except (OSError, ValueError):
            kept = []
        self.items: deque[str] = deque(kept, maxlen=SEEN_KEPT)

    def check_and_add(self, *keys: str) -> None:
        if any(k in self.items for k in keys if k):
            raise Refused(403, "replayed delivery (this body or delivery id was accepted before)")
        self.items.extend(k for k in keys if k)
        tmp = self.path.with_suffix(".tmp")
        tmp.write_text(json.dumps(list(self.items)))
        tmp.replace(self.path)


class Syncer:
    """One sync of a collection at a time; a push during one asks for one more after it."""

    def __init__(self, spec: NotebookCollection, command: list[str]):
        self.spec, self.command = spec, command
        self.wanted = asyncio.Event()
        self.task: asyncio.Task | None = None

    def request(self) -> None:
        self.wanted.set()
        if self.task is None or self.task.done():
            self.task = asyncio.ensure_future(self._loop())

    async def _loop(self) -> None:
        while self.wanted.is_set():
            self.wanted.clear()
            try:
                done = await run(self.command, timeout=3600)
                tail = (done.out + done.err).strip().splitlines()[-3:]
                log.info("sync of %s: exit %s: %s", self.spec.name, done.code, " | ".join(tail))
            except Exception:  # noqa: BLE001 - one failed sync must not stop the next
                log.exception("sync of %s did not run", self.spec.name)


@web.stream_request_body
class PushHandler(web.RequestHandler):
    """Streams the body and keeps at most ``max_body`` bytes of it. A larger one is read to its
    end and dropped, so the 413 reaches the sender through the proxy (answering before the body is
    read makes configurable-http-proxy turn it into a 503); beyond ``DRAIN_LIMIT`` it is cut off."""

    def initialize(self, app: WebhookApp) -> None:
        self.hook = app
        self.chunks: list[bytes] = []
        self.size = 0

    def prepare(self) -> None:
        length = int(self.request.headers.get("Content-Length") or 0)
        if length > DRAIN_LIMIT:
            self.refuse(Refused(413, f"body of {length} bytes (at most {self.hook.max_body})"))

    def data_received(self, chunk: bytes) -> None:
        self.size += len(chunk)
        if self.size > DRAIN_LIMIT and not self._finished:
            self.refuse(Refused(413, f"body over {DRAIN_LIMIT} bytes"))
        elif self.size > self.hook.max_body:
            self.chunks.clear()
        else:
            self.chunks.append(chunk)

    def refuse(self, refused: Refused) -> None:
        peer = self.request.headers.get("X-Forwarded-For", self.request.remote_ip)
        log.warning("refused %s from %s: %s", self.request.path, peer, refused.reason)
        self.set_status(refused.status)
        self.finish({"refused": refused.reason})

    def post(self, name: str) -> None:
        if self._finished:  # refused while the body came in
            return
        if self.size > self.hook.max_body:
            self.refuse(Refused(413, f"body of {self.size} bytes (at most {self.hook.max_body})"))
            return
        try:
            self.finish(self.hook.accept(name, self.request.headers, b"".join(self.chunks)))
        except Refused as refused:
            self.refuse(refused)


class WebhookApp:
    def __init__(self, site: Site, state: Path, max_body: int, node: str, ca_key: str):
        from hpchub.spawners.shared_node import ssh_argv
        from hpchub.spawners.ssh_certs import UserCertificates

        self.site, self.max_body, self.node = site, max_body, node
        state.mkdir(mode=0o700, parents=True, exist_ok=True)
        self.seen = Seen(state / "seen.json")
        self.collections = {c.name: c for c in site.notebook_collections if c.webhook_secret_file}
        self.certificates = {
            name: UserCertificates(ca_key, str(state / "ssh" / name), 300, self.forced(c))
            for name, c in self.collections.items()}
        self.ssh_argv = ssh_argv
        self.syncers: dict[str, Syncer] = {}

    def forced(self, spec: NotebookCollection) -> str:
        return f"{self.site.runtime_prefix}/bin/hpchub notebooks sync {spec.name} --trigger webhook"

    def accept(self, name: str, headers, body: bytes) -> dict:  # noqa: ANN001
        spec = self.collections.get(name)
        if spec is None:
            raise Refused(404, f"no collection {name!r} takes webhooks here")
        check_signature(headers, body, secret_of(spec))
        try:
            payload = json.loads(body)
        except ValueError:
            raise Refused(400, "the body is not JSON") from None
        ref, repository = pushed(payload)
        if spec.forge_repository and repository != spec.forge_repository:
            raise Refused(404, f"unknown repository {repository!r} for collection {name}")
        self.seen.check_and_add(hashlib.sha256(body).hexdigest(),
                                headers.get("X-GitHub-Delivery", ""))
        if headers.get("X-GitHub-Event", "push") != "push" or ref != spec.full_ref:
            log.info("ignored %s: %s is not the collection's ref %s", name, ref, spec.full_ref)
            return {"ignored": f"{ref} is not {spec.full_ref}"}
        asyncio.ensure_future(self.start_sync(spec))
        return {"sync": "requested", "collection": name}

    async def start_sync(self, spec: NotebookCollection) -> None:
        key, cert = await self.certificates[spec.name].identity(spec.account)
        login = [f"IdentityFile={key}", f"CertificateFile={cert}",
                 "PreferredAuthentications=publickey",
                 "GlobalKnownHostsFile=/etc/ssh/ssh_known_hosts"]
        command = self.ssh_argv(spec.account, self.node, login, ["sync"])
        syncer = self.syncers.setdefault(spec.name, Syncer(spec, command))
        syncer.command = command
        syncer.request()
        log.info("sync of %s requested", spec.name)


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(prog="python -m hpchub.notebooks.webhook")
    ap.add_argument("--site", required=True)
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--state-dir", required=True)
    ap.add_argument("--max-body", type=int, default=1 << 20, help="bytes")
    args = ap.parse_args(argv)
    logging.basicConfig(level=logging.INFO,
                        format="[%(levelname).1s %(asctime)s notebook-webhook] %(message)s")
    site = load_site(args.site)
    if not site.shared_nodes:
        raise SystemExit("notebook-webhook: the site has no shared (login) node to sync on")
    hook = WebhookApp(site, Path(args.state_dir), args.max_body, site.shared_nodes[0].name,
                      site.hub.notebook_webhook_ca_key_file)
    app = web.Application([(rf"{PREFIX}/([^/]+)", PushHandler, {"app": hook})])
    asyncio.run(serve(app, args.port, ", ".join(hook.collections) or "nothing"))


async def serve(app: web.Application, port: int, names: str) -> None:
    HTTPServer(app, max_body_size=DRAIN_LIMIT + 1).listen(port, "127.0.0.1")
    log.info("listening on 127.0.0.1:%s for %s", port, names)
    await asyncio.Event().wait()


if __name__ == "__main__":
    main()
