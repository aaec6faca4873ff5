"""Why the idle culler stopped a server, as the next profile page says it."""

import datetime
from importlib import resources

from hpchub.hub.idle import cull, spoken, take_note
from hpchub.node.contract import SERVICE_SITE_CONFIG, SERVICE_STATE_DIR

TESTBED = str(resources.files("hpchub.site_configs").joinpath("testbed.yaml"))


def test_the_note_says_the_idle_time_and_the_limit_in_words(tmp_path, monkeypatch):
    monkeypatch.setenv(SERVICE_STATE_DIR, str(tmp_path))
    monkeypatch.setenv(SERVICE_SITE_CONFIG, TESTBED)  # the quick profile: 30 s
    server = {"full_name": "bob/idle", "user_options": {"profile": "quick"}}
    assert cull(datetime.timedelta(seconds=20), 30, server) is False
    assert cull(datetime.timedelta(seconds=41), 30, server) is True
    said = take_note(str(tmp_path), "bob/idle")
    assert said.startswith("it had no activity for 41 s, and servers of this profile are stopped "
                           "after 30 s idle"), said
    assert take_note(str(tmp_path), "bob/idle") == ""  # said once


def test_durations_in_words():
    assert [spoken(s) for s in (30, 89, 90, 3600, 7200, 7500)] == [
        "30 s", "89 s", "2 min", "60 min", "2 h 0 min", "2 h 5 min"]
