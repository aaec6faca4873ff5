"""``~/notebooks-latest``: a link per notebook collection the user may read, made as a server
starts (runs in the user's job or shared-node server, as the user).

Each link points at the collection's ``current``, so a new version shows at once, read-only,
in every running server. Only links this code made (pointing into the notebook root) are ever
replaced or removed; anything else the user keeps in the directory is left alone.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

from hpchub.node.contract import JobContract

NAME = re.compile(r"^[a-z][a-z0-9_-]{0,31}$")
DIRECTORY = "notebooks-latest"


def readable_collections(root: Path) -> dict[str, Path]:
    """name -> the ``current`` tree of every collection under ``root`` this user can read."""
    found = {}
    try:
        entries = sorted(root.iterdir())
    except OSError:
        return {}
    for entry in entries:
        current = entry / "current"
        if NAME.match(entry.name) and os.access(current, os.R_OK | os.X_OK):
            found[entry.name] = current
    return found


def link_collections(home: Path, root: Path) -> list[str]:
    """Make ``home/notebooks-latest/<name>`` links; returns the names linked."""
    collections = readable_collections(root)
    target_dir = home / DIRECTORY
    if not collections and not target_dir.is_dir():
        return []
    if target_dir.is_symlink() or (target_dir.exists() and not target_dir.is_dir()):
        return []  # the user's own thing of that name: leave it
    target_dir.mkdir(exist_ok=True)
    for entry in target_dir.iterdir():
        if entry.is_symlink() and os.readlink(entry).startswith(f"{root}/") \
                and entry.name not in collections:
            entry.unlink()  # no longer readable (left the collaboration) or removed
    for name, current in collections.items():
        link = target_dir / name
        if link.is_symlink() and os.readlink(link) == str(current):
            continue
        if link.exists() or link.is_symlink():
            if not (link.is_symlink() and os.readlink(link).startswith(f"{root}/")):
                continue  # the user's own file or directory of that name
            link.unlink()
        link.symlink_to(current)
    return list(collections)


def link_from_env(env: dict[str, str] | os._Environ) -> None:
    root = JobContract.from_env(env).notebook_root
    if root:
        try:
            link_collections(Path.home(), Path(root))
        except OSError as exc:  # never a reason for a server not to start
            print(f"hpchub: could not link the notebook collections: {exc}", flush=True)
