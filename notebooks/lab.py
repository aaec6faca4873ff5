"""JupyterLab's "Get a writable copy of the notebook collections" command, server side (a
server extension in users' servers): ``POST <server>/hpchub/getlatest {"directory": "tutorials"}``
runs :func:`hpchub.notebooks.getlatest.get_latest` into that folder of the file browser's root.
"""

from __future__ import annotations

import json
from pathlib import Path, PurePosixPath


def target(root: str, directory: str) -> Path:
    """``directory`` (relative to the file browser's root) as a path, refused outside it."""
    rel = PurePosixPath(directory.strip().strip("/") or "notebooks")
    if rel.is_absolute() or ".." in rel.parts or not rel.parts:
        raise ValueError(f"{directory!r}: give a folder inside your home (e.g. tutorials)")
    return Path(root).expanduser() / rel


def _jupyter_server_extension_points() -> list[dict]:
    return [{"module": "hpchub.notebooks.lab"}]


def _load_jupyter_server_extension(serverapp) -> None:  # noqa: ANN001 - a ServerApp
    from jupyter_server.base.handlers import APIHandler
    from jupyter_server.utils import url_path_join
    from tornado import web

    from .getlatest import NothingToCopy, UnsafeTarget, get_latest

    class GetLatestHandler(APIHandler):
        @web.authenticated
        def post(self) -> None:
            body = json.loads(self.request.body or b"{}")
            try:
                into = target(serverapp.root_dir, str(body.get("directory", "")))
                reports = get_latest(into, body.get("collection") or None)
            except (ValueError, NothingToCopy, UnsafeTarget) as exc:
                raise web.HTTPError(400, str(exc)) from None
            except OSError as exc:
                raise web.HTTPError(500, f"could not copy: {exc}") from None
            self.finish({"directory": str(into), "reports": reports})

    route = url_path_join(serverapp.web_app.settings["base_url"], "hpchub/getlatest")
    serverapp.web_app.add_handlers(".*$", [(route, GetLatestHandler)])
