"""Notebook collections without a cluster: git export and atomic publication, getlatest's copy
rules, ~/notebooks-latest links, webhook signatures and replays, the site schema."""

from __future__ import annotations

import hashlib
import hmac
import os
import subprocess
from pathlib import Path

import pytest

from hpchub.notebooks.collection import Collection, CollectionError
from hpchub.notebooks.getlatest import UnsafeTarget, copy_collection
from hpchub.notebooks.links import link_collections
from hpchub.notebooks.webhook import Refused, Seen, check_signature, pushed
from hpchub.site_configs import SiteConfigError, load_site
from hpchub.site_configs.schema import NotebookCollection


def git(cwd: Path, *argv: str) -> str:
    return subprocess.run(["git", "-c", "user.name=t", "-c", "user.email=t@t", *argv], cwd=cwd,
                          check=True, capture_output=True, text=True).stdout.strip()


@pytest.fixture()
def repo(tmp_path: Path) -> Path:
    work = tmp_path / "work"
    work.mkdir()
    git(work, "init", "-q", "-b", "main")
    (work / "a.ipynb").write_text("{}")
    (work / "sub").mkdir()
    (work / "sub" / "b.ipynb").write_text("{}")
    os.symlink("/etc/passwd", work / "link.ipynb")  # never published as a link
    git(work, "add", "-A")
    git(work, "commit", "-q", "-m", "one")
    return work


def test_fetch_export_publish_swaps_current_and_keeps_three_versions(tmp_path, repo):
    spec = NotebookCollection(name="tut", display_name="T", repository=str(repo), owner="root")
    coll = Collection(tmp_path / "root", spec)
    coll.dir.mkdir(parents=True)
    commits = []
    for i in range(4):
        if i:
            (repo / f"n{i}.ipynb").write_text("{}")
            git(repo, "add", "-A")
            git(repo, "commit", "-q", "-m", str(i))
        commit = coll.fetch()
        assert commit == git(repo, "rev-parse", "HEAD")
        coll.publish(coll.export(commit), commit)
        commits.append(commit)
        assert coll.current_commit() == commit
    tree = coll.current.resolve()
    assert sorted(p.name for p in tree.iterdir()) == ["a.ipynb", "n1.ipynb", "n2.ipynb", "n3.ipynb", "sub"]
    assert (tree / "a.ipynb").stat().st_mode & 0o777 == 0o444
    assert (tree / "sub").stat().st_mode & 0o777 == 0o555
    assert sorted(p.name for p in (coll.dir / "versions").iterdir()) == sorted(commits[1:])


def test_getlatest_adds_updates_untouched_files_and_keeps_changed_ones(tmp_path):
    source, target = tmp_path / "latest", tmp_path / "mine"
    source.mkdir()
    (source / "a.ipynb").write_text("a1")
    (source / "b.ipynb").write_text("b1")
    first = copy_collection(source, target)
    assert sorted(first.added) == ["a.ipynb", "b.ipynb"]
    (target / "a.ipynb").write_text("a1 + my notes")  # the user's edit
    for name, text in (("a.ipynb", "a2"), ("b.ipynb", "b2"), ("c.ipynb", "c1")):
        (source / name).write_text(text)
    second = copy_collection(source, target)
    assert second.added == ["c.ipynb"] and second.updated == ["b.ipynb"]
    assert second.kept == [("a.ipynb", "a.latest.ipynb")]
    assert (target / "a.ipynb").read_text() == "a1 + my notes"
    assert (target / "a.latest.ipynb").read_text() == "a2"
    assert (target / "b.ipynb").read_text() == "b2"
    # A file the user had before any copy is theirs too.
    (tmp_path / "other").mkdir()
    (tmp_path / "other" / "a.ipynb").write_text("their own")
    assert copy_collection(source, tmp_path / "other").kept == [("a.ipynb", "a.latest.ipynb")]


def test_links_point_at_current_and_leave_the_users_own_entries(tmp_path):
    root, home = tmp_path / "notebooks", tmp_path / "home"
    for name in ("tut", "gone"):
        (root / name / "versions" / "x").mkdir(parents=True)
        (root / name / "current").symlink_to("versions/x")
    home.mkdir()
    (home / "notebooks-latest").mkdir()
    (home / "notebooks-latest" / "notes.txt").write_text("mine")
    (home / "notebooks-latest" / "tut").mkdir()  # the user's own directory of that name
    assert sorted(link_collections(home, root)) == ["gone", "tut"]
    assert os.readlink(home / "notebooks-latest" / "gone") == str(root / "gone" / "current")
    own = home / "notebooks-latest" / "tut"
    assert own.is_dir() and not own.is_symlink()
    (root / "gone" / "current").unlink()  # no longer readable or removed: its link goes
    link_collections(home, root)
    assert not (home / "notebooks-latest" / "gone").is_symlink()
    assert (home / "notebooks-latest" / "notes.txt").read_text() == "mine"


def test_signatures_and_replays():
    body, secret = b'{"ref": "refs/heads/main"}', b"s3cret"
    good = "sha256=" + hmac.new(secret, body, hashlib.sha256).hexdigest()
    check_signature({"X-Hub-Signature-256": good}, body, secret)
    check_signature({"X-Gitlab-Token": "s3cret"}, body, secret)
    cases = [({}, body, 401), ({"X-Hub-Signature-256": good}, body + b" ", 403),
             ({"X-Hub-Signature-256": "sha256=" + "0" * 64}, body, 403),
             ({"X-Gitlab-Token": "s3cre"}, body, 403)]
    for headers, sent, status in cases:
        with pytest.raises(Refused) as refused:
            check_signature(headers, sent, secret)
        assert refused.value.status == status
    github = {"ref": "refs/heads/main", "repository": {"full_name": "a/b"}}
    gitlab = {"ref": "refs/heads/x", "project": {"path_with_namespace": "g/p"}}
    assert (pushed(github), pushed(gitlab)) == (("refs/heads/main", "a/b"), ("refs/heads/x", "g/p"))


def test_a_replayed_body_is_refused_even_after_a_restart(tmp_path):
    Seen(tmp_path / "seen.json").check_and_add("digest1", "delivery1")
    again = Seen(tmp_path / "seen.json")
    for keys in (("digest1", "new-delivery"), ("digest2", "delivery1")):
        with pytest.raises(Refused):
            again.check_and_add(*keys)
    again.check_and_add("digest2", "delivery2")


def test_a_collection_of_an_unknown_collaboration_is_refused(tmp_path):
    text = (Path(__file__).parents[1] / "site_configs" / "testbed.yaml").read_text()
    bad = tmp_path / "site.yaml"
    bad.write_text(text.replace("    ref: main\n    collaboration: desi\n",
                                "    ref: main\n    collaboration: sdss\n"))
    with pytest.raises(SiteConfigError, match=r"notebook_collections\[0\].collaboration"):
        load_site(str(bad))


def test_the_jupyterlab_command_copies_only_inside_the_file_browsers_root(tmp_path):
    from hpchub.notebooks.lab import target

    assert target(str(tmp_path), "tutorials/2026") == tmp_path / "tutorials" / "2026"
    assert target(str(tmp_path), "/tutorials/") == tmp_path / "tutorials"  # the browser's root
    with pytest.raises(ValueError, match="inside your home"):
        target(str(tmp_path), "../bob/notebooks")


def test_only_the_exact_ref_is_fetched_and_a_tag_of_its_name_is_ignored(tmp_path, repo):
    git(repo, "checkout", "-q", "-b", "side")
    (repo / "evil.ipynb").write_text("{}")
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", "evil")
    git(repo, "tag", "main")  # a tag named like the branch, on another commit
    git(repo, "checkout", "-q", "main")
    spec = NotebookCollection(name="tut", display_name="T", repository=str(repo), owner="root")
    coll = Collection(tmp_path / "root", spec)
    coll.dir.mkdir(parents=True)
    assert coll.fetch() == git(repo, "rev-parse", "refs/heads/main")
    assert git(coll.dir / "mirror.git", "for-each-ref", "--format=%(refname)") == "refs/heads/main"
    tagged = NotebookCollection(name="t2", display_name="T", repository=str(repo), owner="root",
                                ref="refs/tags/main")
    assert tagged.full_ref == "refs/tags/main" and spec.full_ref == "refs/heads/main"
    for bad in ("refs/remotes/origin/main", "main..side", "main.lock", "a//b"):
        with pytest.raises(ValueError):
            NotebookCollection(name="t3", display_name="T", repository=str(repo), ref=bad)


@pytest.mark.parametrize("limits, said", [({"max_files": 2}, "more than 2 files"),
                                          ({"max_megabytes": 1}, "larger than 1 MB")])
def test_an_export_over_the_collections_limits_stops_and_leaves_nothing(tmp_path, repo, limits, said):
    (repo / "big.bin").write_bytes(b"\0" * (3 << 20))
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", "big")
    spec = NotebookCollection(name="tut", display_name="T", repository=str(repo), owner="root",
                              **limits)
    coll = Collection(tmp_path / "root", spec)
    coll.dir.mkdir(parents=True)
    commit = coll.fetch()
    with pytest.raises(CollectionError, match=said):
        coll.export(commit)
    assert list((coll.dir / "staging").iterdir()) == []


def test_getlatest_never_writes_through_a_link_in_the_target(tmp_path):
    source, target, victim = tmp_path / "latest", tmp_path / "drop", tmp_path / "bashrc"
    source.mkdir()
    (source / "a.ipynb").write_text("new")
    victim.write_text("mine")
    target.mkdir()
    (target / "a.ipynb").write_text("someone else's")
    (target / "a.latest.ipynb").symlink_to(victim)
    with pytest.raises(UnsafeTarget, match="is a link"):
        copy_collection(source, target)
    assert victim.read_text() == "mine"
    (tmp_path / "elsewhere").mkdir()
    (tmp_path / "linked").symlink_to(tmp_path / "elsewhere")
    with pytest.raises(UnsafeTarget, match="is a link or not a folder"):
        copy_collection(source, tmp_path / "linked")
    assert list((tmp_path / "elsewhere").iterdir()) == []
