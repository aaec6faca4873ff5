"""The slurmrestd client against a stand-in slurmrestd that answers badly on purpose.

The real slurmrestd is exercised by the whole testbed suite (the hub's default mode); this
stand-in adds the answers a healthy testbed never gives: invalid JSON, unknown states, missing
fields, 5xx, refused tokens, timeouts.
"""

from __future__ import annotations

import asyncio
import json
import re
import time

import pytest
from tornado import web
from tornado.httpserver import HTTPServer
from tornado.netutil import bind_sockets

from hpchub.slurm import rest_parse
from hpchub.slurm.client import SlurmUnavailable, use
from hpchub.slurm.flags import BatchJob
from hpchub.slurm.rest import SlurmREST, TokenRefused
from hpchub.slurm.runner import CommandTimeout
from hpchub.slurm.tokens import sign
from hpchub.spawners.poller import SlurmPoller

NOW = int(time.time())
V = "v0.0.42"


def number(n: int) -> dict:
    return {"set": True, "infinite": False, "number": n}


# A job as slurmrestd 24.11 sends it (v0.0.40-v0.0.42 alike).
JOB = {"job_id": 7, "user_name": "alice", "job_state": ["RUNNING"], "state_reason": "None",
       "nodes": "c1", "start_time": number(NOW - 60), "end_time": number(NOW + 3540),
       "partition": "regular", "priority": number(10), "time_limit": number(60),
       "name": "hpchub-spawner", "comment": "hpchub:alice/x", "submit_time": number(NOW - 70)}
AUTH_FAILURE = (511, {"errors": [{"error_number": 1007, "error": "Protocol authentication error",
                                  "description": "Zero Bytes were transmitted or received",
                                  "source": "slurm_submit_batch_job()"}]})
UNCHANGED = (200, {"jobs": [], "errors": [], "warnings": [{
    "description": "No job changes since update_time[1732000000]=2024-11-19T08:26:40",
    "source": "op_handler_jobs"}]})


def openapi(*versions: str, release: str = "24.11.5") -> dict:
    """What slurmrestd's GET /openapi/v3 says of itself (the parts hpchub reads)."""
    return {"info": {"version": f"Slurm-{release}&openapi/slurmdbd&openapi/slurmctld"},
            "paths": {f"/{part}/{v}/jobs/": {} for v in versions for part in ("slurm", "slurmdb")}}


class FakeRestd:
    """Answers from a queue of (status, body) per path; records every request."""

    def __init__(self):
        self.answers: dict[str, list[tuple[int, object]]] = {}
        self.requests: list[tuple[str, str, dict]] = []

    def app(self) -> web.Application:
        fake = self

        class Handler(web.RequestHandler):
            async def _any(self):
                fake.requests.append((self.request.method, self.request.path,
                                      dict(self.request.headers), self.request.query))
                default = [(200, openapi("v0.0.40", "v0.0.41", V))] \
                    if self.request.path == "/openapi/v3" else [(404, {"errors": []})]
                queue = fake.answers.get(self.request.path) or default
                status, body = queue.pop(0) if len(queue) > 1 else queue[0]
                if body == "hang":
                    await asyncio.sleep(5)
                    body = {}
                self.set_status(status)
                if status == 304:
                    return self.finish()
                self.finish(body if isinstance(body, (str, bytes)) else json.dumps(body))

            get = post = delete = _any

        return web.Application([(r"/.*", Handler)])


@pytest.fixture()
def restd(tmp_path):
    key = tmp_path / "jwt.key"
    key.write_bytes(b"k" * 32)
    fake = FakeRestd()
    loop = asyncio.new_event_loop()
    asyncio.set_event_loop(loop)
    sockets = bind_sockets(0, "127.0.0.1")
    server = HTTPServer(fake.app())
    server.add_sockets(sockets)
    client = SlurmREST(f"http://127.0.0.1:{sockets[0].getsockname()[1]}", str(key), "jupyterhub")
    yield fake, client, loop
    use(None)
    server.stop()
    loop.close()
    asyncio.set_event_loop(None)


def test_tokens_are_hs256_with_the_user_and_an_expiry():
    token = sign({"exp": 10, "sun": "alice"}, b"secret")
    header, payload, _ = token.split(".")
    assert json.loads(_unb64(header)) == {"alg": "HS256", "typ": "JWT"}
    assert json.loads(_unb64(payload)) == {"exp": 10, "sun": "alice"}
    # the known HS256 signature of this header and payload (RFC 7515 construction)
    import base64
    import hashlib
    import hmac
    expected = base64.urlsafe_b64encode(hmac.new(b"secret", f"{header}.{payload}".encode(),
                                                 hashlib.sha256).digest()).rstrip(b"=").decode()
    assert token.endswith("." + expected)


def _unb64(text: str) -> bytes:
    import base64
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def test_jobs_are_read_as_the_hub_with_its_token(restd):
    fake, client, loop = restd
    fake.answers[f"/slurm/{V}/jobs"] = [(200, {"jobs": [JOB], "errors": []})]
    jobs = loop.run_until_complete(client.jobs())
    assert jobs["7"].running and jobs["7"].user == "alice" and jobs["7"].limit_s == 3600
    assert [r[1] for r in fake.requests] == ["/openapi/v3", f"/slurm/{V}/jobs"]
    headers = fake.requests[1][2]
    assert headers["X-Slurm-User-Name"] == "jupyterhub"
    claims = json.loads(_unb64(headers["X-Slurm-User-Token"].split(".")[1]))
    assert claims["sun"] == "jupyterhub" and claims["exp"] > time.time() + 300


def test_unchanged_jobs_are_asked_for_as_changes_since_the_last_full_list(restd):
    fake, client, loop = restd
    changed = {**JOB, "job_state": ["COMPLETED"]}
    fake.answers[f"/slurm/{V}/jobs"] = [(200, {"jobs": [JOB]}), UNCHANGED,
                                        (200, {"jobs": [changed]}), UNCHANGED]
    before = time.time()
    assert loop.run_until_complete(client.jobs())["7"].running
    del fake.requests[0]  # /openapi/v3
    assert "update_time" not in fake.requests[0][3]
    assert loop.run_until_complete(client.jobs())["7"].running  # unchanged: the last list stands
    assert client.unchanged == 1
    since = int(fake.requests[1][3].split("=")[1].removeprefix("now-").removesuffix("seconds"))
    assert 10 <= since <= time.time() - before + 12  # relative to slurmrestd's clock, with slack
    assert loop.run_until_complete(client.jobs())["7"].ended  # a change: the full new list
    assert loop.run_until_complete(client.jobs())["7"].ended
    assert fake.requests[3][3].startswith("update_time=now-")


@pytest.mark.parametrize("answer", [
    (200, "not json {"), (200, {"jobs": "nope"}), (502, "<html>bad gateway</html>"),
    (200, {"jobs": [{**JOB, "job_id": None}]}), (200, {"jobs": [{**JOB, "user_name": 5}]}),
    (503, {"errors": []}),
    (502, {"errors": [{"error_number": 1001, "error": "Unable to contact slurm controller"}]}),
    (504, {"errors": [{"error_number": 5004, "error": "Socket timed out"}]}),
])
def test_unusable_answers_keep_every_server_unknown(restd, answer):
    """Broken answers are errors: the poller keeps the last snapshot, marked stale."""
    fake, client, loop = restd
    use(client)
    fake.answers[f"/slurm/{V}/jobs"] = [(200, {"jobs": [JOB]}), answer]
    poller = SlurmPoller()
    first = loop.run_until_complete(poller.refresh())
    assert first.ok and first.jobs["7"].running
    second = loop.run_until_complete(poller.refresh())
    assert not second.ok and second.error and second.jobs["7"].running  # never "ended"


def test_unknown_state_or_bad_field_is_unknown_never_ended(restd):
    fake, client, loop = restd
    odd = [{**JOB, "job_state": ["WARPED"]}, {**JOB, "job_id": 8, "nodes": ["c1"]},
           {**JOB, "job_id": 9, "time_limit": "soon"}, {**JOB, "job_id": 10, "job_state": "RUNNING"},
           {**JOB, "job_id": 11, "job_state": ["RUNNING", "COMPLETED"]},
           {**JOB, "job_id": 12, "start_time": {"set": "yes", "infinite": False, "number": 1}}]
    fake.answers[f"/slurm/{V}/jobs"] = [(200, {"jobs": odd})]
    jobs = loop.run_until_complete(client.jobs())
    assert {j: (i.unknown, i.ended, i.pending, i.running) for j, i in jobs.items()} == {
        j: (True, False, False, False) for j in ("7", "8", "9", "10", "11", "12")}


def test_states_are_squeues_words_and_unset_or_infinite_numbers_are_none(restd):
    fake, client, loop = restd
    unlimited = {"set": False, "infinite": True, "number": 0}
    jobs = [{**JOB, "job_id": 1, "job_state": ["RUNNING", "CONFIGURING"]},
            {**JOB, "job_id": 2, "job_state": ["COMPLETED", "COMPLETING"]},
            {**JOB, "job_id": 3, "job_state": ["PENDING", "REQUEUE_HOLD"], "time_limit": unlimited,
             "start_time": {"set": False, "infinite": False, "number": 0}},
            {**JOB, "job_id": 4, "job_state": ["RUNNING", "POWER_UP_NODE"]}]
    fake.answers[f"/slurm/{V}/jobs"] = [(200, {"jobs": jobs})]
    got = loop.run_until_complete(client.jobs())
    assert [got[j].state for j in "1234"] == ["CONFIGURING", "COMPLETING", "REQUEUE_HOLD", "RUNNING"]
    assert got["3"].limit_s is None and got["3"].start == "N/A"
    assert got["1"].pending and got["2"].ended and got["3"].pending and got["4"].running


def test_the_newest_api_both_speak_is_chosen_and_an_unsupported_one_refused_in_words(restd):
    from hpchub.slurm.versions import UnsupportedSlurm

    fake, client, loop = restd
    fake.answers["/openapi/v3"] = [(200, openapi("v0.0.40", "v0.0.41"))]
    fake.answers["/slurm/v0.0.41/jobs"] = [(200, {"jobs": [JOB]})]
    assert loop.run_until_complete(client.jobs())["7"].running
    about = loop.run_until_complete(client.about())
    assert (about.release, about.api, about.apis) == ("24.11.5", "v0.0.41", ("v0.0.41", "v0.0.40"))
    for spec, said in ((openapi("v0.0.38", "v0.0.39", release="23.02.7"), "runs Slurm 23.2.7"),
                       (openapi("v0.0.38"), "serves REST API versions v0.0.38"),
                       (openapi(release="24.11.5"), "none (is the openapi/slurmctld"),
                       ({"info": {"version": "who knows"}, "paths": {}}, "did not say which Slurm")):
        other = SlurmREST(client.url, str(client.tokens.key_file), "jupyterhub")
        fake.answers["/openapi/v3"] = [(200, spec)]
        with pytest.raises(UnsupportedSlurm, match=re.escape(said)):
            loop.run_until_complete(other.jobs())
        with pytest.raises(SlurmUnavailable):  # for the poller: unknown, never "ended"
            loop.run_until_complete(other.jobs())


def test_an_unchanged_answer_to_a_full_list_is_not_an_empty_cluster(restd):
    fake, client, loop = restd
    fake.answers[f"/slurm/{V}/jobs"] = [UNCHANGED]
    with pytest.raises(SlurmUnavailable, match="not modified"):
        loop.run_until_complete(client.jobs())


def test_slurmrestd_down_or_slow_is_unavailable(restd):
    fake, client, loop = restd
    fake.answers[f"/slurm/{V}/jobs"] = [(200, "hang")]
    with pytest.raises(CommandTimeout):
        loop.run_until_complete(client.jobs(timeout=0.5))
    client.url = "http://127.0.0.1:9"  # nothing listens there
    with pytest.raises(SlurmUnavailable):
        loop.run_until_complete(client.jobs())


def test_once_found_unreachable_requests_fail_at_once_then_one_is_tried(restd, monkeypatch):
    """A profile page opened during an outage answers at once, not after the connection tries."""
    import time

    import hpchub.slurm.rest as rest

    fake, client, loop = restd
    monkeypatch.setattr(rest, "UNSENT_RETRIES_S", (0.05, 0.05))
    reachable, client.url = client.url, "http://127.0.0.1:9"  # nothing listens there
    with pytest.raises(SlurmUnavailable):
        loop.run_until_complete(client.associations("alice"))
    assert client.requests == 3  # three tries
    started = time.monotonic()
    with pytest.raises(SlurmUnavailable, match="not reachable"):
        loop.run_until_complete(client.jobs())
    assert client.requests == 3 and time.monotonic() - started < 0.5  # nothing sent
    client._unreachable_until = time.monotonic()  # the quiet time is over
    with pytest.raises(SlurmUnavailable):
        loop.run_until_complete(client.jobs())
    assert client.requests == 4  # one try, no second
    client.url, client._unreachable_until = reachable, time.monotonic()
    loop.run_until_complete(client.about())  # slurmrestd is back: answered
    assert client._unreachable_until == 0.0


def test_a_submission_that_could_not_connect_is_sent_again_once_slurmrestd_listens(restd):
    """A burst of spawns swamps slurmrestd: a request that never connected is safe to resend."""
    fake, client, loop = restd
    late = bind_sockets(0, "127.0.0.1")[0]  # slurmrestd comes up while the hub waits
    client.url = f"http://127.0.0.1:{late.getsockname()[1]}"
    late.close()
    fake.answers[f"/slurm/{V}/job/submit"] = [(200, {"job_id": 42, "errors": []})]

    async def slurmrestd_starts_late():
        await asyncio.sleep(0.5)
        HTTPServer(fake.app()).add_sockets(bind_sockets(int(client.url.rsplit(":", 1)[1]), "127.0.0.1"))

    loop.create_task(slurmrestd_starts_late())
    assert submit(client, loop) == "42"
    assert [r[:2] for r in fake.requests] == [("GET", "/openapi/v3"),
                                              ("POST", f"/slurm/{V}/job/submit")]  # sent once


def submit(client, loop) -> str:
    job = BatchJob(name="hpchub-spawner", partition="debug", nodes=1, time="00:30:00",
                   workdir="/home/alice", output="/home/alice/log-%j", comment="hpchub:alice/x")
    return loop.run_until_complete(client.submit("alice", job, "#!/bin/sh\ntrue\n"))


def test_refused_token_is_renewed_once_and_nothing_is_submitted_twice(restd):
    fake, client, loop = restd
    fake.answers[f"/slurm/{V}/job/submit"] = [AUTH_FAILURE, (200, {"job_id": 42, "errors": []})]
    fake.answers[f"/slurm/{V}/jobs"] = [(200, {"jobs": []})]
    assert submit(client, loop) == "42"
    posts = [r for r in fake.requests if r[0] == "POST"]
    assert len(posts) == 2
    assert posts[0][2]["X-Slurm-User-Token"] != posts[1][2]["X-Slurm-User-Token"]
    # between the two: a look for a job the first attempt may have made after all
    assert [r[1] for r in fake.requests] == ["/openapi/v3", f"/slurm/{V}/job/submit",
                                             f"/slurm/{V}/jobs", f"/slurm/{V}/job/submit"]


def test_a_job_made_by_the_refused_attempt_is_used_not_submitted_again(restd):
    fake, client, loop = restd
    fake.answers[f"/slurm/{V}/job/submit"] = [AUTH_FAILURE]
    fake.answers[f"/slurm/{V}/jobs"] = [(200, {"jobs": [{**JOB, "job_id": 43,
                                                         "job_state": ["PENDING"]}]})]
    assert submit(client, loop) == "43"
    assert sum(r[0] == "POST" for r in fake.requests) == 1


def test_token_refused_twice_is_reported_in_words(restd):
    fake, client, loop = restd
    fake.answers[f"/slurm/{V}/job/submit"] = [AUTH_FAILURE]
    fake.answers[f"/slurm/{V}/jobs"] = [(200, {"jobs": []})]
    with pytest.raises(TokenRefused, match="the scheduler refused the request: Zero Bytes"):
        submit(client, loop)
    assert sum(r[0] == "POST" for r in fake.requests) == 2


def test_slurm_refusal_keeps_slurms_words(restd):
    fake, client, loop = restd
    fake.answers[f"/slurm/{V}/job/submit"] = [(500, {"errors": [{
        "error_number": 2045, "error": "Invalid account or account/partition combination"}]})]
    with pytest.raises(Exception, match="Invalid account"):
        submit(client, loop)
    assert sum(r[0] == "POST" for r in fake.requests) == 1


def test_associations_and_reservations_from_json():
    assert rest_parse.associations({"associations": [
        {"account": "desi", "qos": ["debug", "normal"]}, {"account": "general"},
        {"account": "bad name", "qos": ["x"]}]}) == {"desi": ("debug", "normal"), "general": ()}
    rows = rest_parse.reservations({"reservations": [
        {"name": "hack", "users": "alice", "accounts": "", "start_time": number(NOW - 5),
         "end_time": number(NOW + 60)}]}, NOW)
    assert rows == [{"ReservationName": "hack", "State": "ACTIVE", "Users": "alice",
                     "Accounts": "(null)", "Groups": "(null)"}]


def test_the_submission_speaks_the_apis_names():
    """What a 24.11 slurmrestd would silently ignore under 22.05's names is sent under its own."""
    from hpchub.slurm.flags import rest_job

    job = BatchJob(name="hpchub-spawner", partition="gpu", nodes=1, time="01:30:00",
                   workdir="/home/alice", output="/home/alice/log-%j", comment="hpchub:alice/x",
                   account="desi", gpus_per_node=2)
    desc = rest_job(job, {"HOME": "/home/alice", "A": "b=c"}, "#!/bin/sh\ntrue\n")
    assert desc["time_limit"] == 90 and desc["requeue"] is False
    assert desc["tres_per_node"] == "gres/gpu:2" and desc["script"].startswith("#!/bin/sh")
    assert desc["environment"] == ["HOME=/home/alice", "A=b=c"]
    assert not {"no_requeue", "gpus_per_node"} & set(desc)


def test_a_cancel_slurm_refused_is_an_error_and_one_of_an_ended_job_is_not():
    ok = {"status": [{"error": {"code": 0, "message": ""}, "job_id": number(7)}]}
    gone = {"status": [{"error": {"code": 2021, "message": "Job/step already completing"}}]}
    denied = {"status": [{"error": {"code": 2002, "string": "Access/permission denied"}}]}
    assert rest_parse.cancel_refusals(ok) == rest_parse.cancel_refusals(gone) == ""
    assert rest_parse.cancel_refusals(denied) == "Access/permission denied"
