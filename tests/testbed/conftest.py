"""Fixtures of the testbed tests."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))
from hubclient import HubUser  # noqa: E402


@pytest.fixture(scope="module")
def alice(testbed):
    """alice, logged in; her servers are stopped when the module is done."""
    user = HubUser(testbed, "alice")
    yield user
    for name in list(user.model().get("servers", {})):
        user.stop(name)


@pytest.fixture(scope="session", autouse=True)
def mini_coming_up(testbed, request):
    """test_lifecycle's second testbed, coming up in the background from the first testbed
    test on (when that test is collected); taken down at the end whatever happened."""
    if not any(item.name == "test_up_then_down_leaves_nothing" for item in request.session.items):
        yield None
        return
    from test_lifecycle import start_mini

    mini, coming_up = start_mini()
    yield mini, coming_up
    coming_up.exception()  # its up has ended, one way or the other
    mini.down()
