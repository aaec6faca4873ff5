"""One collaboration's kernel releases on shared storage, changed atomically under a lock.

Layout under ``<kernel_root>/<collaboration>/`` (group-owned by the collaboration, mode 2750)::

    registry.json            releases, their states, the default and the history
    releases/<version>/      launch.sh, release.yaml, logo, validation.json, validated notebooks
    views/<n>/kernels/...    one complete set of kernelspecs per change
    current -> views/<n>     what users' Jupyter servers read (kernels only, see visible.py)

Users only ever read ``current``; a change writes a whole new view and then swaps the symlink
with one ``rename``, so nobody sees a half-written kernel. ``flock`` on ``.lock`` serialises
maintainers (it works on local and NFS/Lustre mounts with flock enabled).
"""

from __future__ import annotations

import fcntl
import json
import os
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path

from .launcher import kernelspec, launch_script, tombstone_kernelspec
from .release import LoadedSpec, ReleaseError

STATES = ("published", "deprecated", "retired")
KEEP_VIEWS = 3


def now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def who() -> str:
    """The account making a change, and the person behind it when it came through sudo."""
    import pwd

    name = pwd.getpwuid(os.getuid()).pw_name
    via = os.environ.get("SUDO_USER")
    return f"{name} (via {via})" if via and via != name else name


def write_atomic(path: Path, text: str) -> None:
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(text)
    os.replace(tmp, path)


class Registry:
    """The releases of one collaboration."""

    def __init__(self, root: Path, collaboration: str, display_name: str, runtime_python: str,
                 modules_from: tuple[str, ...] = ()):
        self.dir = Path(root) / collaboration
        self.collaboration = collaboration
        self.display_name = display_name
        self.runtime_python = runtime_python
        self.modules_from = modules_from  # MODULEPATH of its modules releases

    # -- reading ---------------------------------------------------------------------------
    @property
    def current(self) -> Path:
        """The view members' servers read their kernelspecs from (hpchub.kernels.visible)."""
        return self.dir / "current"

    def load(self) -> dict:
        path = self.dir / "registry.json"
        if not path.exists():
            return {"collaboration": self.collaboration, "default": None, "default_history": [],
                    "releases": {}, "history": []}
        return json.loads(path.read_text())

    def release(self, state: dict, version: str) -> dict:
        try:
            return state["releases"][version]
        except KeyError:
            known = ", ".join(state["releases"]) or "none yet"
            raise ReleaseError(
                f"{self.collaboration} has no release {version!r} (releases: {known})"
            ) from None

    # -- changing --------------------------------------------------------------------------
    def require_writable(self) -> None:
        if not self.dir.is_dir():
            raise ReleaseError(
                f"{self.dir} does not exist: a center admin creates it with `hpchub kernels setup`"
            )
        if not os.access(self.dir, os.W_OK):
            raise ReleaseError(
                f"you cannot write {self.dir}: run this as the {self.collaboration} collaboration "
                f"account (at NERSC: `collabsu {self.collaboration}`)"
            )

    @contextmanager
    def change(self) -> Iterator[dict]:
        """Lock, hand out the state to change, then write it and publish a new view."""
        self.require_writable()
        with open(self.dir / ".lock", "a+") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            state = self.load()
            yield state
            write_atomic(self.dir / "registry.json", json.dumps(state, indent=1) + "\n")
            self.write_view(state)

    def record(self, state: dict, action: str, version: str | None, detail: str = "") -> None:
        state["history"].append(
            {"at": now(), "by": who(), "action": action, "version": version, "detail": detail}
        )

    def publish(self, loaded: LoadedSpec, validation: dict, validated_dir: Path | None) -> None:
        """Add a validated release; the first release also becomes the default."""
        spec = loaded.spec
        with self.change() as state:
            if spec.version in state["releases"]:
                raise ReleaseError(
                    f"{spec.kernel_name} is already published ({state['releases'][spec.version]['state']});"
                    " releases are immutable: publish a new version"
                )
            self.write_release(loaded, validation, validated_dir)
            state["releases"][spec.version] = {
                "version": spec.version, "display_name": spec.display_name, "state": "published",
                "published_at": now(), "published_by": who(), "spec_digest": loaded.digest,
                "validation": summary(validation), "replacement": None,
            }
            detail = "validated: " + summary(validation)["text"]
            self.record(state, "publish", spec.version, detail)
            if state["default"] is None:
                self.set_default(state, spec.version)

    def write_release(self, loaded: LoadedSpec, validation: dict, validated_dir: Path | None) -> None:
        releases = self.dir / "releases"
        releases.mkdir(exist_ok=True)
        final = releases / loaded.spec.version
        tmp = releases / f".{loaded.spec.version}.{os.getpid()}.tmp"
        shutil.rmtree(tmp, ignore_errors=True)
        tmp.mkdir()
        (tmp / "launch.sh").write_text(launch_script(loaded.spec, self.modules_from))
        (tmp / "release.yaml").write_text(
            json.dumps(loaded.spec.model_dump(mode="json"), indent=1) + "\n")
        (tmp / "validation.json").write_text(json.dumps(validation, indent=1) + "\n")
        if loaded.spec.logo:
            shutil.copy(loaded.path(loaded.spec.logo), tmp / "logo-64x64.png")
        if validated_dir and validated_dir.is_dir():
            shutil.copytree(validated_dir, tmp / "validation")
        if final.exists():  # left by a publish that died before registering it
            shutil.rmtree(final)
        os.rename(tmp, final)

    def set_default(self, state: dict, version: str) -> None:
        state["default"] = version
        state["default_history"].append(version)

    def promote(self, version: str) -> None:
        with self.change() as state:
            rel = self.release(state, version)
            if rel["state"] != "published":
                raise ReleaseError(f"{self.collaboration} {version} is {rel['state']}: only a "
                                   "published release can become the default")
            if state["default"] == version:
                raise ReleaseError(f"{self.collaboration} {version} is already the default")
            previous = state["default"]
            self.set_default(state, version)
            self.record(state, "promote", version, f"default was {previous}")

    def rollback(self) -> str:
        """Make the previous default (still usable) the default again; returns it."""
        with self.change() as state:
            history = state["default_history"]
            current = state["default"]
            earlier = [v for v in reversed(history[:-1])
                       if v != current and state["releases"][v]["state"] != "retired"]
            if not earlier:
                raise ReleaseError(f"{self.collaboration} has no earlier default to roll back to")
            target = earlier[0]
            # Drop the rolled-back default, so a second rollback goes further back.
            while history and history[-1] != target:
                history.pop()
            state["default"] = target
            self.record(state, "rollback", target, f"default was {current}")
            return target

    def deprecate(self, version: str, replacement: str | None) -> None:
        with self.change() as state:
            rel = self.release(state, version)
            if rel["state"] != "published":
                raise ReleaseError(f"{self.collaboration} {version} is already {rel['state']}")
            if state["default"] == version:
                raise ReleaseError(f"{self.collaboration} {version} is the default: promote "
                                   "another release first")
            replacement = replacement or state["default"]
            if replacement:
                target = self.release(state, replacement)
                if target["state"] != "published":
                    raise ReleaseError(f"the replacement {replacement} is {target['state']}")
            rel["state"] = "deprecated"
            rel["replacement"] = replacement
            self.record(state, "deprecate", version, f"use {replacement}" if replacement else "")

    def retire(self, version: str) -> None:
        with self.change() as state:
            rel = self.release(state, version)
            if rel["state"] == "retired":
                raise ReleaseError(f"{self.collaboration} {version} is already retired")
            if state["default"] == version:
                raise ReleaseError(f"{self.collaboration} {version} is the default: promote "
                                   "another release first")
            rel["state"] = "retired"
            rel["retired_at"] = now()
            rel["replacement"] = rel.get("replacement") or state["default"]
            self.record(state, "retire", version)

    # -- the users' view -------------------------------------------------------------------
    def write_view(self, state: dict) -> Path:
        """Write every kernelspec into a fresh view, then point ``current`` at it."""
        views = self.dir / "views"
        views.mkdir(exist_ok=True)
        numbers = sorted(int(p.name) for p in views.iterdir() if p.name.isdigit())
        number = (numbers[-1] + 1) if numbers else 1
        view = views / str(number)
        for name, (spec, logo) in self.kernelspecs(state).items():
            kdir = view / "kernels" / name
            kdir.mkdir(parents=True)
            (kdir / "kernel.json").write_text(json.dumps(spec, indent=1) + "\n")
            if logo and logo.exists():
                shutil.copy(logo, kdir / "logo-64x64.png")
        (view / "kernels").mkdir(parents=True, exist_ok=True)
        link = self.dir / f".current.{os.getpid()}.tmp"
        if link.is_symlink():
            link.unlink()
        link.symlink_to(f"views/{number}")
        os.replace(link, self.current)
        for old in numbers[:-KEEP_VIEWS + 1] if len(numbers) >= KEEP_VIEWS else []:
            shutil.rmtree(views / str(old), ignore_errors=True)
        return view

    def kernelspecs(self, state: dict) -> dict[str, tuple[dict, Path | None]]:
        specs: dict[str, tuple[dict, Path | None]] = {}
        releases = state["releases"]
        for version, rel in releases.items():
            rdir = self.dir / "releases" / version
            name = f"{self.collaboration}-{version}"
            logo = rdir / "logo-64x64.png"
            replacement = rel.get("replacement")
            suggest = releases[replacement]["display_name"] if replacement else None
            if rel["state"] == "retired":
                message = (f"{rel['display_name']} was retired on {rel['retired_at'][:10]}. "
                           + (f"Use {suggest}: " if suggest else "Pick another kernel: ")
                           + "menu Kernel > Change Kernel...")
                specs[name] = (tombstone_kernelspec(self.runtime_python,
                                                    f"{rel['display_name']} (retired)", message), None)
                continue
            display = rel["display_name"]
            if rel["state"] == "deprecated":
                display += f" (deprecated: use {suggest})" if suggest else " (deprecated)"
            is_default = state["default"] == version
            specs[name] = (kernelspec(self.collaboration, version, rdir / "launch.sh", display,
                                      rel["state"], is_default), logo)
            if is_default:
                alias = f"{self.display_name} (current: {rel['display_name']})"
                specs[f"{self.collaboration}-current"] = (
                    kernelspec(self.collaboration, version, rdir / "launch.sh", alias,
                               rel["state"], True), logo)
        return specs


def summary(validation: dict) -> dict:
    """Short form of a validation report, kept in the registry."""
    targets = validation.get("targets", [])
    suite = [nb for t in targets for nb in t.get("suite", [])]
    failed = sum(not nb["passed"] for nb in suite)
    text = ", ".join(f"{t['target']} on {t.get('host', '?')}: smoke "
                     f"{'ok' if t['smoke']['passed'] else 'FAILED'}" for t in targets)
    if suite:
        text += f"; suite {len(suite) - failed}/{len(suite)} passed"
    return {"passed": bool(validation.get("passed")), "text": text, "at": validation.get("at")}
