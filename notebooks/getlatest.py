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
import shutil
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


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def beside(path: Path) -> Path:
    return path.with_name(f"{path.stem}.latest{path.suffix}")


def copy_collection(source: Path, target: Path) -> Copied:
    target.mkdir(parents=True, exist_ok=True)
    manifest_path = target / MANIFEST
    try:
        before = json.loads(manifest_path.read_text()).get("files", {})
    except (OSError, ValueError):
        before = {}
    done, after = Copied(), {}
    for src in sorted(p for p in source.rglob("*") if p.is_file() and not p.is_symlink()):
        rel = str(src.relative_to(source))
        dest, new = target / rel, digest(src)
        after[rel] = new
        if not dest.exists():
            dest.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(src, dest)
            done.added.append(rel)
        elif (mine := digest(dest)) == new:
            done.unchanged += 1
        elif before.get(rel) == mine:  # untouched since the last copy: take the new version
            shutil.copyfile(src, dest)
            done.updated.append(rel)
        else:  # the user's edit (or their own file of that name): theirs stays
            shutil.copyfile(src, beside(dest))
            after[rel] = before.get(rel, "")
            done.kept.append((rel, str(beside(dest).relative_to(target))))
    manifest_path.write_text(json.dumps({"source": str(source.resolve()), "files": after}, indent=1))
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
    except NothingToCopy as exc:
        sys.exit(f"getlatest: {exc}")


if __name__ == "__main__":
    main()
