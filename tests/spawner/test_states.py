"""A batch server's life against a Slurm in memory: queue, start, port report, outages, ends,
pending timeout, stop, and a hub restart in the middle. (The testbed runs these on real Slurm:
tests/testbed/test_spawners.py, test_off_cluster.py.)"""

from __future__ import annotations

import asyncio

import pytest

from hpchub.spawners.slurm import SpawnFailed


async def until(predicate, timeout: float = 5.0) -> None:
    async with asyncio.timeout(timeout):
        while not predicate():
            await asyncio.sleep(0.01)


async def a_listener() -> tuple[asyncio.Server, int]:
    """What JupyterLab is to the hub: something accepting connections on the node."""
    server = await asyncio.start_server(lambda r, w: w.close(), "127.0.0.1", 0)
    return server, server.sockets[0].getsockname()[1]


async def started(spawner, cluster) -> tuple[str, int]:
    """Start ``spawner``: its job runs on localhost and reports a listening port."""
    server, port = await a_listener()
    start = asyncio.ensure_future(spawner.start())
    await until(lambda: spawner.job_id)
    cluster.set_state(spawner.job_id, "RUNNING", "localhost")
    await until(lambda: any("Running on" in m for m in spawner.messages))
    spawner.report_port(port)
    result = await start
    spawner._test_listener = server  # kept open while the test runs
    return result


def test_a_server_queues_runs_reports_its_port_and_ends_when_slurm_says(cluster, make_spawner, run):
    spawner = make_spawner()

    async def scenario():
        server, port = await a_listener()
        start = asyncio.ensure_future(spawner.start())
        await until(lambda: spawner.job_id)
        (user, job, script), = cluster.submitted
        assert job.partition == "regular" and "hpchub-singleuser" in script
        cluster.set_state(spawner.job_id, "PENDING", reason="Resources")
        await until(lambda: any("Resources" in m or "queue" in m for m in spawner.messages[2:]))
        cluster.set_state(spawner.job_id, "RUNNING", "localhost")
        await until(lambda: any("Running on localhost" in m for m in spawner.messages))
        assert not start.done()  # no port reported yet
        spawner.report_port(port)
        assert await start == ("localhost", port)
        assert await spawner.poll() is None
        state = spawner.get_state()
        assert state["job_id"] == spawner.job_id and state["port"] == port
        cluster.set_state(spawner.job_id, "COMPLETED")
        await until(lambda: cluster.records[state["job_id"]].ended)
        await asyncio.sleep(0.1)
        assert await spawner.poll() == 1
        server.close()

    run(scenario)
    assert spawner.messages[:2] == ["Submitting a job to partition regular",
                                   "Submitted job 1001 to regular"]
    assert "COMPLETED" in spawner.end_reason


def test_slurm_not_answering_never_stops_a_running_server(cluster, make_spawner, run):
    spawner = make_spawner()

    async def scenario():
        await started(spawner, cluster)
        cluster.answering = False
        await asyncio.sleep(0.3)  # several failed polls
        assert await spawner.poll() is None
        cluster.set_state(spawner.job_id, "COMPLETED")  # it ends while Slurm is unreachable
        await asyncio.sleep(0.2)
        assert await spawner.poll() is None  # not known until Slurm answers
        cluster.answering = True
        await asyncio.sleep(0.2)
        assert await spawner.poll() == 1

    run(scenario)


def test_a_job_slurm_no_longer_knows_means_its_server_stopped(cluster, make_spawner, run):
    spawner = make_spawner()

    async def scenario():
        await started(spawner, cluster)
        job_id = spawner.job_id
        cluster.forget(job_id)
        await asyncio.sleep(0.2)
        assert await spawner.poll() == 1
        return job_id

    run(scenario)
    assert "no longer known to Slurm" in spawner.end_reason


def test_a_job_queued_past_the_pending_timeout_is_cancelled_with_slurms_reason(cluster, make_spawner,
                                                                             run):
    spawner = make_spawner(pending_timeout=1)

    async def scenario():
        start = asyncio.ensure_future(spawner.start())
        await until(lambda: spawner.job_id)
        job_id = spawner.job_id
        cluster.set_state(job_id, "PENDING", reason="QOSMaxNodePerUserLimit")
        with pytest.raises(SpawnFailed, match=r"waited 0 min in the queue of regular and was "
                                              r"cancelled. Slurm's reason: QOSMaxNodePerUserLimit"):
            await start
        return job_id

    job_id = run(scenario)
    assert cluster.cancelled == [job_id] and cluster.records[job_id].state == "CANCELLED"


def test_a_job_that_ends_before_reporting_fails_the_spawn_at_once(cluster, make_spawner, run):
    spawner = make_spawner()

    async def scenario():
        start = asyncio.ensure_future(spawner.start())
        await until(lambda: spawner.job_id)
        job_id = spawner.job_id
        cluster.set_state(job_id, "RUNNING", "localhost")
        await until(lambda: any("Running on" in m for m in spawner.messages))
        cluster.set_state(job_id, "FAILED")
        with pytest.raises(SpawnFailed, match=r"JupyterLab did not start: .*Slurm state FAILED"):
            await start

    run(scenario, timeout=10)


def test_a_failure_report_shows_the_end_of_the_log_on_the_progress_page(cluster, make_spawner, run):
    spawner = make_spawner()

    async def scenario():
        start = asyncio.ensure_future(spawner.start())
        await until(lambda: spawner.job_id)
        cluster.set_state(spawner.job_id, "RUNNING", "localhost")
        await until(lambda: any("Running on" in m for m in spawner.messages))
        assert spawner.report_failure("Traceback\n\x1b[31mImportError: no module named lab\x1b[0m")
        with pytest.raises(SpawnFailed, match="JupyterLab failed to start: ImportError: no module"):
            await start
        assert not spawner.report_failure("too late")  # not starting any more

    run(scenario)
    assert "  ImportError: no module named lab" in spawner.messages


def test_the_scheduler_down_at_submission_submits_nothing_and_says_so(cluster, make_spawner, run):
    spawner = make_spawner()
    cluster.answering = False

    async def scenario():
        with pytest.raises(SpawnFailed) as failed:
            await spawner.start()
        return failed.value

    failed = run(scenario)
    assert failed.status_code == 503 and "not answering" in str(failed)
    assert not cluster.submitted and not spawner.job_id


def test_a_job_listed_under_another_owner_is_neither_running_nor_ended(cluster, make_spawner, run):
    spawner = make_spawner()

    async def scenario():
        await started(spawner, cluster)
        record = cluster.records[spawner.job_id]
        cluster.records[spawner.job_id] = type(record)(**{**record.__dict__, "user": "4242",
                                                         "state": "COMPLETED"})
        await asyncio.sleep(0.2)
        assert await spawner.poll() is None  # a bare uid while the directory is away

    run(scenario)


def test_stop_cancels_the_job_and_waits_until_slurm_ends_it(cluster, make_spawner, run):
    spawner = make_spawner()

    async def scenario():
        await started(spawner, cluster)
        job_id = spawner.job_id
        await spawner.stop()
        return job_id

    job_id = run(scenario)
    assert cluster.cancelled == [job_id] and cluster.records[job_id].state == "CANCELLED"


def test_a_hub_restart_while_queued_reattaches_and_carries_on(cluster, make_spawner, run,
                                                              restart_hub):
    first = make_spawner()

    async def before_restart():
        start = asyncio.ensure_future(first.start())
        await until(lambda: first.job_id)
        state = first.get_state()
        start.cancel()  # the hub process ends; the job stays queued
        return state

    state = run(before_restart)
    assert state["job_id"] and "port" not in state and state["token_sha256"]
    assert cluster.records[state["job_id"]].pending and not cluster.cancelled

    restart_hub()
    second = make_spawner()  # the restarted hub's spawner, from the stored state

    async def after_restart():
        server, port = await a_listener()
        second.load_state(state)
        url = asyncio.ensure_future(second.get_url())
        await asyncio.sleep(0.2)
        assert await second.poll() is None  # queued: alive
        cluster.set_state(state["job_id"], "RUNNING", "localhost")
        await asyncio.sleep(0.2)
        second.report_port(port)
        assert await url == f"http://localhost:{port}"
        server.close()

    run(after_restart)
    assert not cluster.cancelled and len(cluster.submitted) == 1  # never submitted twice


def test_a_requeued_job_of_a_running_server_means_the_server_is_gone(cluster, make_spawner, run):
    spawner = make_spawner()

    async def scenario():
        await started(spawner, cluster)
        cluster.set_state(spawner.job_id, "PENDING", "", reason="BeginTime")  # requeued
        await asyncio.sleep(0.2)
        assert await spawner.poll() == 1

    run(scenario)
    assert "REQUEUED" in spawner.end_reason


@pytest.mark.parametrize(("state", "said"), [
    ("TIMEOUT", "it reached its time limit and was stopped cleanly (Slurm: TIMEOUT)"),
    ("NODE_FAIL", "the node it ran on failed (Slurm: NODE_FAIL)"),
    ("OUT_OF_MEMORY", "the job ran out of memory (Slurm: OUT_OF_MEMORY)"),
    ("PREEMPTED", "the job was preempted by a higher-priority job (Slurm: PREEMPTED)"),
    ("CANCELLED", "the job was cancelled (Slurm: CANCELLED)"),
    ("FAILED", "the job failed (see its log in your home directory) (Slurm: FAILED)"),
])
def test_each_way_slurm_ends_a_running_server_is_said_in_words(cluster, make_spawner, run, state,
                                                               said):
    spawner = make_spawner()

    async def scenario():
        await started(spawner, cluster)
        cluster.set_state(spawner.job_id, state)
        await asyncio.sleep(0.2)
        assert await spawner.poll() == 1
        assert await spawner.poll() == 0  # no job any more: stopped, and nothing to cancel

    run(scenario)
    assert spawner.end_reason == said and not cluster.cancelled


def test_a_progress_page_opened_late_gets_every_message_so_far(cluster, make_spawner, run):
    spawner = make_spawner()

    async def scenario():
        start = asyncio.ensure_future(spawner.start())
        await until(lambda: spawner.job_id)
        cluster.set_state(spawner.job_id, "PENDING", reason="Resources")
        await until(lambda: any("Resources" in m for m in spawner.messages))
        events = []

        async def read():
            async for event in spawner.progress():
                events.append(event["message"])

        reader = asyncio.ensure_future(read())
        await until(lambda: len(events) >= 3)
        assert events[:2] == ["Submitting a job to partition regular", "Submitted job 1001 to regular"]
        start.cancel()
        reader.cancel()

    run(scenario)
