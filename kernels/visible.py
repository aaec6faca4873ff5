"""Which collaborations' kernels a user's Jupyter server shows: those whose view it can read.

Each collaboration's ``<kernel_root>/<name>/current`` is readable by its Unix group only, so
the file system decides; this module just lists the readable ones for ``JUPYTER_PATH``.
"""

from __future__ import annotations

import os
from pathlib import Path

ROOT_VARIABLE = "HPCHUB_KERNEL_ROOT"


def collaboration_paths(root: str | Path) -> list[str]:
    """``current`` views under ``root`` that this process may read, in name order."""
    try:
        names = sorted(os.listdir(root))
    except OSError:
        return []
    paths = []
    for name in names:
        view = Path(root) / name / "current"
        if os.access(view / "kernels", os.R_OK | os.X_OK):
            paths.append(str(view))
    return paths


def add_kernel_paths(env: dict[str, str] | os._Environ) -> None:
    """Put the readable collaboration views in front of ``JUPYTER_PATH`` (in place)."""
    root = env.get(ROOT_VARIABLE)
    if not root:
        return
    existing = [p for p in env.get("JUPYTER_PATH", "").split(os.pathsep) if p]
    env["JUPYTER_PATH"] = os.pathsep.join(collaboration_paths(root) + existing)
