"""Shared fixtures. Testbed tests use ``testbed``, which brings the cluster up on demand."""

from __future__ import annotations

import os

import pytest


@pytest.fixture(scope="session")
def testbed():
    """The running Slurm-in-Docker testbed (started, or reused when already up)."""
    from hpchub.containers.testbed import from_site

    bed = from_site(os.environ.get("HPCHUB_TEST_SITE", "testbed"))
    bed.up()
    return bed


def pytest_collection_modifyitems(items):
    """Tests under tests/testbed carry the ``testbed`` marker (``-m 'not testbed'`` is fast)."""
    for item in items:
        if "/tests/testbed/" in str(item.fspath):
            item.add_marker(pytest.mark.testbed)
