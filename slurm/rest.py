"""The ``rest`` backend: slurmrestd (``rest_auth/jwt``) for a hub off the cluster, with no munge
key, Slurm config, Slurm binaries or sudo. It speaks the newest OpenAPI version both it and the
slurmrestd know (:mod:`.versions`), found from ``GET /openapi/v3`` at the first call.

Every call carries a short-lived token of the user it acts for (:mod:`.tokens`): submit and
cancel as the server's user, reads (all jobs in one request) as the hub's own account. A
refused token is renewed once; a second refusal is reported in words. Transport failures and
5xx answers raise :class:`SlurmUnavailable` (the poller then keeps every server's last state:
unknown, never ended). Nothing is ever submitted twice.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from datetime import datetime
from typing import Any
from urllib.parse import quote, urlencode

from tornado.httpclient import AsyncHTTPClient, HTTPClientError, HTTPRequest

from . import rest_parse
from .client import SlurmAbout, SlurmClient, SlurmError, SlurmUnavailable
from .flags import BatchJob, rest_job
from .jobs import LIVE_STATES, SERVER_JOB_NAME, JobInfo, ServerJob, notebook_job_name
from .runner import CommandTimeout
from .tokens import TokenMinter
from .versions import SPOKEN, ApiVersion, check_release, choose, offered, release_of

log = logging.getLogger("hpchub.slurm")

LIVE = set(LIVE_STATES.split(","))
# A refused token: SLURM_PROTOCOL_AUTHENTICATION_ERROR and ESLURM_AUTH_* (slurmrestd answers
# HTTP 511 or 401); slurmdbd's "Failed to open slurmdbd connection, authentication error" (7000).
AUTH_ERRORS = {1007, *range(6000, 6100)}
DB_CONNECTION = 7000
MAX_CONNECTIONS = 32  # requests in flight to slurmrestd at once (it queues what its threads cannot take)
UNSENT_RETRIES_S = (1.0, 3.0)  # pauses before sending again a request that never left
# Once slurmrestd was found unreachable, requests fail at once for this long, then one is tried
# (with no second try): a profile page opened during an outage answers in words at once rather
# than after the ~30 s of connection attempts.
UNREACHABLE_QUIET_S = 10.0
# "Has anything changed since?" asks a little further back than the last full list (see
# SlurmREST.jobs): slurmrestd's clock and slurmctld's, and the request's own time in transit.
CLOCK_SLACK_S = 10
NOT_MODIFIED = object()  # no job changed since update_time


def ago(seconds: float) -> str:
    """A time for slurmrestd's queries, relative to its own clock (``now-N seconds``): every API
    version takes it (v0.0.40 and v0.0.41 refuse epoch seconds), and neither time zones nor the
    hub's clock come into it."""
    return f"now-{max(0, int(seconds) + 1)}seconds"


class TokenRefused(SlurmError):
    """Slurm refused the user's token."""


class Unsent(SlurmUnavailable):
    """The request never reached slurmrestd (no connection): sending it again is safe."""


class SlurmREST(SlurmClient):
    """A slurmrestd client; ``hub_user`` is the account reads act as."""

    def __init__(self, url: str, jwt_key_file: str, hub_user: str, token_lifetime_s: int = 600,
                 cache_s: float = 60.0, spoken: tuple[str, ...] = SPOKEN):
        super().__init__(cache_s)
        self.url = url.rstrip("/")
        self.hub_user = hub_user
        self.tokens = TokenMinter(jwt_key_file, token_lifetime_s)
        self.requests = 0  # for benchmarks: slurmrestd requests made by this process ...
        self.unchanged = 0  # ... and job lists answered "not modified"
        self._http: AsyncHTTPClient | None = None
        self._listed: dict[str, JobInfo] | None = None  # the last full job list ...
        self._listed_at = 0.0  # ... and when it was asked for (the hub's clock)
        self._api: ApiVersion | None = None
        self.spoken = spoken  # the API versions this client may choose from
        self._about: SlurmAbout | None = None
        self._finding = asyncio.Lock()
        self._unreachable_until = 0.0  # monotonic; 0: reachable when last asked

    @property
    def http(self) -> AsyncHTTPClient:
        """This client's own connections: tornado's shared client allows 10 requests at once
        for the whole process (the hub's proxy calls too), and a burst of spawns timed out in
        its queue ("Timeout in request queue", benchmarks/scale.py)."""
        if self._http is None:
            self._http = AsyncHTTPClient(force_instance=True, max_clients=MAX_CONNECTIONS)
        return self._http

    # -- transport -------------------------------------------------------------------------
    async def call(self, method: str, path: str, user: str, body: dict | None = None,
                   query: dict[str, str] | None = None, timeout: float = 20,
                   renew: bool = True) -> Any:
        """One request as ``user``; its decoded JSON. Renews a refused token once; a request
        that never left (no connection within the time, slurmrestd swamped) is sent again."""
        try:
            return await self._sent(method, path, user, body, query, timeout)
        except TokenRefused:
            if not renew:
                raise
            log.warning("Slurm refused %s's token; asking once more with a new one", user)
            self.tokens.forget(user)
            return await self._sent(method, path, user, body, query, timeout)

    async def _sent(self, method: str, path: str, user: str, body: dict | None,
                    query: dict[str, str] | None, timeout: float) -> Any:
        if time.monotonic() < self._unreachable_until:
            raise SlurmUnavailable(f"slurmrestd at {self.url} is not reachable (it was not a "
                                   "moment ago)")
        pauses = [] if self._unreachable_until else list(UNSENT_RETRIES_S)
        while True:
            try:
                answer = await self._request(method, path, user, body, query, timeout)
            except Unsent as exc:
                if not pauses:
                    self._unreachable_until = time.monotonic() + UNREACHABLE_QUIET_S
                    raise
                pause = pauses.pop(0)
                log.warning("%s %s did not reach slurmrestd (%s); again in %.0f s", method, path,
                            exc, pause)
                await asyncio.sleep(pause)
            except (SlurmError, CommandTimeout):
                self._unreachable_until = 0.0  # it was reached, whatever it answered
                raise
            else:
                self._unreachable_until = 0.0
                return answer

    async def _request(self, method: str, path: str, user: str, body: dict | None,
                       query: dict[str, str] | None, timeout: float) -> Any:
        url = f"{self.url}{path}" + (f"?{urlencode(query)}" if query else "")
        request = HTTPRequest(
            url, method=method, request_timeout=timeout, connect_timeout=min(10.0, timeout),
            body=json.dumps(body) if body is not None else None,
            headers={"X-SLURM-USER-NAME": user, "X-SLURM-USER-TOKEN": self.tokens.token(user),
                     "Content-Type": "application/json", "Accept": "application/json"})
        self.requests += 1
        try:
            response = await self.http.fetch(request, raise_error=False)
        except (OSError, HTTPClientError) as exc:
            # Only a request that reached slurmrestd may have done something: a timeout then.
            words = str(exc).lower()
            if "timeout during request" in words:
                raise CommandTimeout(f"slurmrestd did not answer within {timeout:.0f} s") from None
            problem = Unsent if isinstance(exc, ConnectionRefusedError) or any(
                w in words for w in ("while connecting", "while resolving", "in request queue")
            ) else SlurmUnavailable
            raise problem(f"slurmrestd at {self.url} is not reachable: {exc}") from None
        try:
            payload = json.loads(response.body or b"null")
        except ValueError:
            payload = None
        errors = payload.get("errors") if isinstance(payload, dict) else None
        errors = [e for e in errors if isinstance(e, dict)] if isinstance(errors, list) else []
        numbers = {e.get("error_number", e.get("error_code")) for e in errors}
        words = "; ".join(str(e.get("description") or e.get("error") or "")[:300]
                          for e in errors if e.get("description") or e.get("error"))
        if response.code == 304:
            return NOT_MODIFIED
        if response.code in (401, 403, 511) or numbers & AUTH_ERRORS or (
                DB_CONNECTION in numbers and "authentication error" in words):
            raise TokenRefused(f"the scheduler refused the request: {words or response.code}")
        if payload is None:
            raise SlurmUnavailable(f"slurmrestd answered HTTP {response.code} without valid JSON")
        if response.code in (502, 503, 504) or (response.code >= 500 and not errors):
            raise SlurmUnavailable(f"slurmrestd answered HTTP {response.code}"
                                   + (f": {words}" if words else ""))
        if warnings := payload.get("warnings") if isinstance(payload, dict) else None:
            log.debug("slurmrestd warned on %s %s: %s", method, path, str(warnings)[:500])
        if response.code != 200 or errors:
            raise SlurmError(words or f"slurmrestd answered HTTP {response.code}")
        return payload

    # -- which API -------------------------------------------------------------------------
    async def api(self) -> ApiVersion:
        """The API version spoken with this slurmrestd (found once, at the first call)."""
        if self._api is None:
            async with self._finding:
                if self._api is None:
                    await self._find_api()
        assert self._api is not None
        return self._api

    async def _find_api(self) -> None:
        spec = await self.call("GET", "/openapi/v3", self.hub_user, timeout=60)
        where = f"slurmrestd at {self.url}"
        info = spec.get("info") if isinstance(spec, dict) else None
        version_text = str(info.get("version", "")) if isinstance(info, dict) else ""
        release = release_of(version_text)
        apis = offered(spec)
        self._about = SlurmAbout("rest", ".".join(map(str, release)) if release else "unknown",
                                 apis, None)
        check_release(release, where)
        chosen = choose(apis, where, self.spoken)
        self._about = SlurmAbout("rest", self._about.release, apis, chosen.name)
        self._api = chosen
        log.info("Slurm %s through %s: REST API %s (it serves %s)", self._about.release, where,
                 chosen.name, ", ".join(apis))

    async def about(self) -> SlurmAbout:
        await self.api()
        assert self._about is not None
        return self._about

    async def path(self, what: str, **names: str) -> str:
        return (await self.api()).path(what, **names)

    async def _get_jobs(self, timeout: float, query: dict[str, str] | None = None) -> Any:
        """A job list (or ``NOT_MODIFIED``, only to a list asked with ``update_time``)."""
        payload = await self.call("GET", await self.path("jobs"), self.hub_user, query=query,
                                  timeout=timeout)
        if payload is NOT_MODIFIED or rest_parse.unchanged(payload):
            if not query:
                raise SlurmUnavailable("slurmrestd answered 'not modified' to a full job list")
            return NOT_MODIFIED
        return payload

    # -- jobs ------------------------------------------------------------------------------
    async def jobs(self, timeout: float = 20) -> dict[str, JobInfo]:
        """Every job. After one full list, slurmrestd is asked for jobs changed since then and
        answers with none and a warning while none has (slurmctld compares with its own last
        job change; any change brings the whole list), so 1,000 unchanged jobs cost one small
        answer instead of megabytes of JSON to parse. Elapsed times of running jobs are those
        of the last full list."""
        asked = time.time()
        since = {"update_time": ago(asked - self._listed_at + CLOCK_SLACK_S)} if self._listed else None
        payload = await self._get_jobs(timeout, since)
        if payload is NOT_MODIFIED and self._listed is not None:
            self.unchanged += 1
            return self._listed
        self._listed, self._listed_at = rest_parse.parse_jobs(payload, asked), asked
        return self._listed

    async def server_jobs(self, timeout: float = 60) -> list[ServerJob]:
        payload = await self._get_jobs(timeout)
        return rest_parse.server_jobs(payload, SERVER_JOB_NAME, LIVE)

    async def comment(self, job_id: str, timeout: float = 60) -> str:
        payload = await self.call("GET", await self.path("job", job_id=quote(job_id)),
                                  self.hub_user, timeout=timeout)
        return rest_parse.comment(payload, job_id)

    async def submit(self, user: str, job: BatchJob, script: str, timeout: float = 60) -> str:
        # The batch shell starts with this environment only (sbatch would pass the caller's).
        env = {"PATH": "/usr/local/bin:/usr/bin:/bin", "HOME": job.workdir, "USER": user,
               "LOGNAME": user, "LANG": "C.UTF-8"}
        body = {"job": rest_job(job, env, script)}
        path = await self.path("submit")
        try:  # a timeout is never retried: its job may exist (the reconciler cancels it)
            payload = await self.call("POST", path, user, body=body, timeout=timeout, renew=False)
        except TokenRefused:
            # Asked once more with a new token, unless the first attempt made the job after all.
            self.tokens.forget(user)
            made = rest_parse.job_ids_commented(await self._get_jobs(timeout), user,
                                                job.comment, LIVE)
            if made:
                return made[0]
            payload = await self.call("POST", path, user, body=body, timeout=timeout, renew=False)
        try:
            return rest_parse.job_id_of(payload)
        except rest_parse.BadAnswer as exc:
            raise SlurmError(str(exc)) from None

    async def cancel(self, user: str, job_id: str, timeout: float = 30) -> None:
        payload = await self.call("DELETE", await self.path("job", job_id=quote(job_id)), user,
                                  query={"signal": "KILL"}, timeout=timeout)
        refused = rest_parse.cancel_refusals(payload)
        if refused:
            raise SlurmError(f"Slurm did not cancel job {job_id}: {refused}")

    async def cancel_notebook_jobs(self, user: str, server_name: str, timeout: float = 30) -> None:
        payload = await self._get_jobs(timeout)
        ids = rest_parse.job_ids_named(payload, user, notebook_job_name(server_name), LIVE)
        for job_id in ids:
            await self.cancel(user, job_id, timeout)

    # -- what the user may use -------------------------------------------------------------
    async def _fetch_associations(self, user: str) -> dict[str, tuple[str, ...]]:
        payload = await self.call("GET", await self.path("associations"), user,
                                  query={"user": user})
        return rest_parse.associations(payload)

    async def _fetch_node_limit(self, account: str, user: str) -> int | None:
        payload = await self.call("GET", await self.path("associations"), user,
                                  query={"account": account})
        return rest_parse.account_node_limit(payload, account)

    async def _fetch_node_seconds(self, account: str, since: datetime,
                                  user: str) -> list[tuple[int, float]]:
        payload = await self.call("GET", await self.path("accounting"), user,
                                  query={"account": account,
                                         "start_time": ago(time.time() - since.timestamp())})
        return rest_parse.node_seconds(payload, time.time())

    async def _fetch_reservations(self) -> list[dict[str, str]]:
        payload = await self.call("GET", await self.path("reservations"), self.hub_user)
        return rest_parse.reservations(payload, time.time())
