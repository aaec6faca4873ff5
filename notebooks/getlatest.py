"""``getlatest DIR``: a writable copy of the notebook collections, in a user's server.

Copies ``~/notebooks-latest/<name>`` into ``DIR/<name>``. New files are added and files the
user has not changed since the last copy are updated; a file the user changed is never
overwritten: the new version goes beside it as ``<name>.latest.<ext>``. ``DIR/<name>/.getlatest.json``
remembers what was copied, so a second run knows which files are the user's edits.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import stat
import sys
from dataclasses import dataclass, field
from pathlib import Path

from .links import DIRECTORY

MANIFEST = ".getlatest.json"


@dataclass
class Copied:
    added: list[str] = field(default_factory=list)
    updated: list[str] = field(default_factory=list)
    kept: list[tuple[str, str]] = field(default_factory=list)  # (yours, the new version)
    unchanged: int = 0


class UnsafeTarget(Exception):
    """The target holds something the caller does not own, or a link: nothing is written there."""


class Target:
    """``DIR/<collection>``, written only through folders the caller owns and never through a
    link: every step is opened relative to its parent with ``O_NOFOLLOW``, so a folder another
    user can write to cannot redirect a copy onto the caller's own files."""

    def __init__(self, path: Path):
        self.path = path
        parent = os.open(path.parent, os.O_RDONLY | os.O_DIRECTORY) if path.parent.exists() \
            else self._make(path.parent)
        try:
            self.fd = self._step(parent, path.name, str(path))
        finally:
            os.close(parent)

    @staticmethod
    def _make(path: Path) -> int:
        path.mkdir(parents=True, exist_ok=True)
        return os.open(path, os.O_RDONLY | os.O_DIRECTORY)

    @staticmethod
    def _step(dir_fd: int, name: str, shown: str) -> int:
        """The folder ``name`` in ``dir_fd`` (made if missing), if it is the caller's own."""
        try:
            os.mkdir(name, 0o755, dir_fd=dir_fd)
        except FileExistsError:
            pass
        try:
            fd = os.open(name, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW, dir_fd=dir_fd)
        except OSError:
            raise UnsafeTarget(f"{shown} is a link or not a folder: choose another folder") from None
        if os.fstat(fd).st_uid != os.getuid():
            os.close(fd)
            raise UnsafeTarget(f"{shown} belongs to someone else: getlatest writes only into "
                               "folders of yours")
        return fd

    def folder(self, rel: str) -> int:
        """A descriptor of the folder holding ``rel`` (the caller closes it)."""
        fd = os.dup(self.fd)
        shown = self.path
        for part in Path(rel).parts[:-1]:
            shown = shown / part
            try:
                fd_next = self._step(fd, part, str(shown))
            finally:
                os.close(fd)
            fd = fd_next
        return fd

    def _open(self, rel: str, flags: int) -> tuple[int, int]:
        folder = self.folder(rel)
        try:
            fd = os.open(Path(rel).name, flags | os.O_NOFOLLOW, 0o644, dir_fd=folder)
        except FileNotFoundError:
            os.close(folder)
            raise
        except OSError:
            os.close(folder)
            raise UnsafeTarget(f"{self.path / rel} is a link or not a file: getlatest leaves "
                               "it alone; remove it to get this notebook") from None
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode) or info.st_uid != os.getuid() or info.st_nlink != 1:
            os.close(fd)
            os.close(folder)
            raise UnsafeTarget(f"{self.path / rel} is not a file of yours alone: getlatest "
                               "leaves it alone; remove it to get this notebook")
        return folder, fd

    def digest(self, rel: str) -> str | None:
        """sha256 of the file ``rel``; None when there is none."""
        try:
            folder, fd = self._open(rel, os.O_RDONLY)
        except FileNotFoundError:
            return None
        with os.fdopen(fd, "rb") as f:
            os.close(folder)
            return hashlib.sha256(f.read()).hexdigest()

    def write(self, rel: str, data: bytes) -> None:
        folder, fd = self._open(rel, os.O_WRONLY | os.O_CREAT)
        with os.fdopen(fd, "wb") as f:
            os.close(folder)
            f.truncate()
            f.write(data)

    def read(self, rel: str) -> bytes | None:
        try:
            folder, fd = self._open(rel, os.O_RDONLY)
        except (FileNotFoundError, UnsafeTarget):
            return None
        with os.fdopen(fd, "rb") as f:
            os.close(folder)
            return f.read()

    def close(self) -> None:
        os.close(self.fd)


def beside(rel: str) -> str:
    path = Path(rel)
    return str(path.with_name(f"{path.stem}.latest{path.suffix}"))


def copy_collection(source: Path, target_path: Path) -> Copied:
    target = Target(target_path)
    try:
        return _copy(source, target)
    finally:
        target.close()


def _copy(source: Path, target: Target) -> Copied:
    try:
        before = json.loads(target.read(MANIFEST) or b"{}").get("files", {})
    except ValueError:
        before = {}
    done, after = Copied(), {}
    for src in sorted(p for p in source.rglob("*") if p.is_file() and not p.is_symlink()):
        rel = str(src.relative_to(source))
        data = src.read_bytes()
        new = hashlib.sha256(data).hexdigest()
        after[rel] = new
        mine = target.digest(rel)
        if mine is None:
            target.write(rel, data)
            done.added.append(rel)
        elif mine == new:
            done.unchanged += 1
        elif before.get(rel) == mine:  # untouched since the last copy: take the new version
            target.write(rel, data)
            done.updated.append(rel)
        else:  # the user's edit (or their own file of that name): theirs stays
            target.write(beside(rel), data)
            after[rel] = before.get(rel, "")
            done.kept.append((rel, beside(rel)))
    target.write(MANIFEST, json.dumps({"source": str(source.resolve()), "files": after},
                                      indent=1).encode())
    return done


def report(name: str, target: Path, done: Copied) -> str:
    lines = [f"{name} -> {target}: {len(done.added)} added, {len(done.updated)} updated, "
             f"{done.unchanged} unchanged, {len(done.kept)} kept as you changed them"]
    lines += [f"  kept your {yours}; the new version is {new}" for yours, new in done.kept]
    return "\n".join(lines)


class NothingToCopy(Exception):
    """No collection this user may read (or none of that name)."""


def get_latest(directory: Path, collection: str | None = None) -> list[str]:
    """Copy every readable collection (or ``collection``) into ``directory``; one report each."""
    latest = Path.home() / DIRECTORY
    sources = sorted(p for p in latest.iterdir() if p.is_dir()) if latest.is_dir() else []
    if collection:
        sources = [p for p in sources if p.name == collection]
    if not sources:
        names = f"a collection named {collection!r}" if collection else "any collection"
        raise NothingToCopy(f"{latest} has no {names}: your collaborations publish none yet, "
                            "or you are not a member (restart your server after joining).")
    return [report(source.name, directory / source.name,
                   copy_collection(source, directory / source.name)) for source in sources]


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(prog="getlatest", description=__doc__.split("\n\n")[0])
    ap.add_argument("directory", help="where your writable copy goes (DIR/<collection>)")
    ap.add_argument("--collection", help="only this collection (default: every one you can read)")
    args = ap.parse_args(argv)
    try:
        print("\n".join(get_latest(Path(args.directory).expanduser(), args.collection)))
    except (NothingToCopy, UnsafeTarget) as exc:
        sys.exit(f"getlatest: {exc}")


if __name__ == "__main__":
    main()
