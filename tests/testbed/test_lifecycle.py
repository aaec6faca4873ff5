"""``up`` then ``down`` of a second, one-node testbed: it works and leaves nothing behind."""

from __future__ import annotations

from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import TYPE_CHECKING

import requests

from hpchub.containers.testbed import from_site

if TYPE_CHECKING:  # imported by name, pytest would try to collect it as a test class
    from hpchub.containers.testbed import Testbed

MINI = Path(__file__).parent.parent / "data" / "mini.yaml"


def start_mini() -> tuple[Testbed, Future]:
    """The second testbed's ``up``, in a thread: it waits on its containers while the main
    testbed's tests run (conftest starts it once the main testbed is up)."""
    mini = from_site(MINI, project="hpchub-lifecycle", hub_port=8010)
    return mini, ThreadPoolExecutor(1, thread_name_prefix="mini-up").submit(mini.up)


def test_up_then_down_leaves_nothing(testbed, mini_coming_up):
    mini, coming_up = mini_coming_up
    try:
        # One round: `.ci/run` itself runs `down` then `up` on the main testbed every time.
        times = coming_up.result(timeout=600)
        assert set(times) >= {"image build", "containers", "slurm ready", "hub ready"}
        sinfo = mini.exec("slurmctld", "sinfo", "-h", "-N", "-o", "%N %t").output.split()
        assert sinfo == ["c1", "idle"]
        assert requests.get(mini.hub_url + "/hub/health", timeout=5).status_code == 200
        assert mini.up(build=False)["containers"] < 10  # idempotent: nothing recreated
        mini.down()
        assert mini.leftovers() == []
        assert not mini.state.exists()
    finally:
        mini.down()
    # The main testbed was not touched.
    assert dict(testbed.status())["hub"] == "running"
