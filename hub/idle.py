"""Per-profile idle limits for jupyterhub-idle-culler, run as a managed service by
:func:`hpchub.hub.configure` with ``--config`` pointing at ``idle_culler_config.py``.

The culler asks :func:`cull` about each ready server. A culled server leaves a note in the
hub's state directory, so the next profile page says why it stopped.
"""

from __future__ import annotations

import datetime
import hashlib
import json
import os
import time
from pathlib import Path

from hpchub.node.contract import SERVICE_SITE_CONFIG, SERVICE_STATE_DIR

NOTE_FOR_S = 900  # a note older than this belongs to a stop that did not happen


def idle_limits(site_path: str) -> dict[str, int]:
    """{profile: idle limit in seconds} of the profiles that have one."""
    from hpchub.site_configs import load_site

    return {p.name: p.idle_timeout_s for p in load_site(site_path).profiles if p.idle_timeout_s}


def _note_path(state_dir: str, full_name: str) -> Path:
    return Path(state_dir) / "culled" / (hashlib.sha256(full_name.encode()).hexdigest()[:32] + ".json")


def cull(inactive: datetime.timedelta, inactive_limit: int, server: dict, **_) -> bool:
    """The culler's ``cull_arbiter_hook``: past its profile's idle limit (no limit: never)."""
    profile = (server.get("user_options") or {}).get("profile", "")
    limit = idle_limits(os.environ[SERVICE_SITE_CONFIG]).get(profile)
    if limit is None or inactive.total_seconds() < limit:
        return False
    path = _note_path(os.environ[SERVICE_STATE_DIR], server.get("full_name", ""))
    path.parent.mkdir(mode=0o700, exist_ok=True)
    path.write_text(json.dumps({"idle_s": inactive.total_seconds(), "limit_s": limit,
                                "profile": profile, "at": time.time()}))
    return True


def take_note(state_dir: str, full_name: str) -> str:
    """Why the culler stopped this server (``user/name``), in words; "" if it did not."""
    path = _note_path(state_dir, full_name)
    try:
        note = json.loads(path.read_text())
        path.unlink()
    except (OSError, ValueError):
        return ""
    if time.time() - note.get("at", 0) > NOTE_FOR_S:
        return ""
    return (f"it had no activity for {spoken(note['idle_s'])}, and servers of this profile are "
            f"stopped after {spoken(note['limit_s'])} idle so that their nodes go back to the queue "
            "(your files are kept)")


def spoken(seconds: float) -> str:
    """``45 s``, ``3 min``, ``2 h 5 min``."""
    if seconds < 90:
        return f"{seconds:.0f} s"
    minutes = round(seconds / 60)
    return f"{minutes // 60} h {minutes % 60} min" if minutes >= 120 else f"{minutes} min"
