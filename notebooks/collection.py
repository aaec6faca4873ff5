"""One notebook collection on shared storage: fetched from git, tested, published atomically.

Layout under ``<notebook_root>/<name>/`` (owned by the collection's account; readable by the
collaboration's group, or by everyone for a center-wide collection)::

    mirror.git/               bare mirror of the repository (the account's only)
    staging/<commit>.<pid>/   a version under test, and the executed notebooks of a failed sync
    versions/<commit>/        published trees, read-only
    current -> versions/<commit>   what every user's ~/notebooks-latest/<name> points at
    history.jsonl             one line per sync: ref, commit, time, result, who, failures
    .lock                     flock: one sync at a time (a second one waits its turn)

A failing suite publishes nothing: ``current`` keeps pointing at the last good version.
"""

from __future__ import annotations

import fcntl
import json
import os
import shlex
import shutil
import stat
import subprocess
import tarfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import IO

from hpchub.kernels.registry import now, who
from hpchub.site_configs.schema import NotebookCollection

KEEP_VERSIONS = 3


class CollectionError(Exception):
    """A sync could not run (no repository, no such ref, no permission); the message says why."""


@dataclass
class SyncResult:
    result: str  # "published", "unchanged" or "failed"
    commit: str
    detail: str = ""
    report: dict | None = None


class Collection:
    """The published versions and sync history of one collection."""

    def __init__(self, root: str | Path, spec: NotebookCollection):
        self.spec = spec
        self.dir = Path(root) / spec.name

    @property
    def current(self) -> Path:
        return self.dir / "current"

    def current_commit(self) -> str | None:
        try:
            return os.readlink(self.current).rsplit("/", 1)[-1]
        except OSError:
            return None

    def history(self) -> list[dict]:
        path = self.dir / "history.jsonl"
        if not path.exists():
            return []
        return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]

    # -- changing -------------------------------------------------------------------------
    def require_writable(self) -> None:
        if not (self.dir.is_dir() and os.access(self.dir, os.W_OK)):
            raise CollectionError(
                f"{self.dir} is missing or not writable by you: sync as the collection's account "
                f"({self.spec.account}); a center admin creates it with `hpchub notebooks setup`")

    @contextmanager
    def locked(self) -> Iterator[None]:
        with open(self.dir / ".lock", "a") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            yield

    def git(self, *argv: str, timeout: float = 300) -> str:
        done = subprocess.run(["git", "-C", str(self.dir / "mirror.git"), *argv],
                              text=True, capture_output=True, timeout=timeout, env=git_env())
        if done.returncode:
            raise CollectionError(f"git {argv[0]}: {done.stderr.strip()[-500:] or done.returncode}")
        return done.stdout

    def fetch(self) -> str:
        """Bring the collection's one ref into the mirror; returns its commit. Only that exact
        ref is fetched (no other branch, no tags unless it is a tag), so nothing named like it
        can stand in for it."""
        mirror = self.dir / "mirror.git"
        if not mirror.is_dir():
            subprocess.run(["git", "init", "-q", "--bare", str(mirror)], check=True,
                           capture_output=True, env=git_env())
        ref = self.spec.full_ref
        serve = []
        if self.spec.repository.startswith("/"):
            # A repository on the shared file system belongs to its maintainers, not to the
            # collection's account: git serves it only when that path is named safe.
            serve = [f"--upload-pack=git -c safe.directory={shlex.quote(self.spec.repository)} "
                     "upload-pack"]
        try:
            self.git("fetch", "-q", "--no-tags", *serve, "--", self.spec.repository, f"+{ref}:{ref}")
        except CollectionError as exc:
            kind = "tag" if ref.startswith("refs/tags/") else "branch"
            raise CollectionError(f"cannot fetch the {kind} {ref} of {self.spec.repository}: "
                                  f"{exc}") from None
        try:
            return self.git("rev-parse", "--verify", "-q", f"{ref}^{{commit}}").strip()
        except CollectionError:
            raise CollectionError(f"{ref} of {self.spec.repository} is not a commit") from None

    def export(self, commit: str) -> Path:
        """The commit's regular files in a fresh staging directory (no links or devices kept),
        streamed from ``git archive``: a tree over the collection's size or file-count limit is
        refused as soon as the stream passes it, whatever its pack's size."""
        staging = self.dir / "staging" / f"{commit}.{os.getpid()}"
        shutil.rmtree(staging, ignore_errors=True)
        staging.mkdir(parents=True)
        archive = subprocess.Popen(["git", "-C", str(self.dir / "mirror.git"), "archive",
                                    "--format=tar", commit], stdout=subprocess.PIPE,
                                   stderr=subprocess.DEVNULL, env=git_env())
        try:
            extract(archive.stdout, staging, self.spec.max_files, self.spec.max_megabytes << 20)
        except CollectionError:
            shutil.rmtree(staging, ignore_errors=True)
            raise
        finally:
            archive.kill()
            archive.wait()
        return staging

    def publish(self, staging: Path, commit: str) -> None:
        """Make ``staging`` the read-only version users see, with one rename of ``current``."""
        versions = self.dir / "versions"
        versions.mkdir(exist_ok=True)
        target = versions / commit
        if target.exists():
            writable(target)
            shutil.rmtree(target)
        staging.rename(target)
        read_only(target)
        link = self.dir / f".current.{os.getpid()}"
        link.unlink(missing_ok=True)
        link.symlink_to(f"versions/{commit}")
        os.replace(link, self.current)
        self.prune(keep=commit)

    def prune(self, keep: str) -> None:
        versions = sorted((self.dir / "versions").iterdir(), key=lambda p: p.stat().st_mtime)
        for old in [v for v in versions if v.name != keep][:-(KEEP_VERSIONS - 1) or None]:
            writable(old)
            shutil.rmtree(old, ignore_errors=True)

    def record(self, ref: str, outcome: SyncResult, trigger: str, started: str) -> None:
        failures = []
        for target in (outcome.report or {}).get("targets", []):
            failures += [{"where": target.get("target"), "notebook": Path(nb["notebook"]).name,
                          "detail": nb.get("detail", "")}
                         for nb in target.get("suite", []) if not nb["passed"]]
            if not target["smoke"]["passed"]:
                failures.append({"where": target.get("target"), "notebook": "(kernel start)",
                                 "detail": target["smoke"].get("detail", "")})
        event = {"started": started, "at": now(), "by": f"{who()} ({trigger})", "ref": ref,
                 "commit": outcome.commit, "result": outcome.result, "detail": outcome.detail,
                 "failures": failures}
        with open(self.dir / "history.jsonl", "a") as out:
            out.write(json.dumps(event) + "\n")


def extract(stream: IO[bytes], into: Path, max_files: int, max_bytes: int) -> None:
    """Regular files and folders of a tar stream into ``into``, within the limits."""
    files = size = 0
    with tarfile.open(fileobj=stream, mode="r|") as tar:
        for member in tar:
            if not (member.isfile() or member.isdir()) or not safe(member.name):
                continue
            path = into / member.name
            if member.isdir():
                path.mkdir(mode=0o755, parents=True, exist_ok=True)
                continue
            files += 1
            if files > max_files:
                raise CollectionError(f"the commit has more than {max_files} files (the "
                                      "collection's max_files): not published")
            size += member.size
            if size > max_bytes:
                raise CollectionError(f"the commit's files are larger than {max_bytes >> 20} MB "
                                      f"(the collection's max_megabytes; {member.name} is "
                                      f"{member.size >> 20} MB): not published")
            path.parent.mkdir(mode=0o755, parents=True, exist_ok=True)
            source = tar.extractfile(member)
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o644)
            with os.fdopen(fd, "wb") as out:
                shutil.copyfileobj(source, out, 1 << 20)


def git_env() -> dict[str, str]:
    """git without the caller's configuration (hooks, credential helpers, pagers)."""
    keep = {k: v for k, v in os.environ.items() if k in ("PATH", "HOME", "LANG", "USER")}
    return {**keep, "GIT_CONFIG_NOSYSTEM": "1", "GIT_CONFIG_GLOBAL": "/dev/null",
            "GIT_TERMINAL_PROMPT": "0"}


def read_only(tree: Path) -> None:
    for path in [tree, *tree.rglob("*")]:
        mode = path.lstat().st_mode
        if stat.S_ISDIR(mode):
            path.chmod(0o2555 if stat.S_IMODE(mode) & 0o2000 else 0o555)
        elif stat.S_ISREG(mode):
            path.chmod(0o444)


def writable(tree: Path) -> None:
    for path in [tree, *tree.rglob("*")]:
        if path.is_dir() and not path.is_symlink():
            path.chmod(stat.S_IMODE(path.lstat().st_mode) | 0o700)


def safe(name: str) -> bool:
    """True for an archive path that stays inside the directory it is extracted into."""
    parts = Path(name).parts
    return bool(parts) and not Path(name).is_absolute() and ".." not in parts
