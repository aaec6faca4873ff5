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
