"""The inventory of upstream patches is complete and true, and its version guards refuse."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

import hpchub.compat as compat
from hpchub.compat import PATCHES, UntestedUpstream, require, warn_if_untested

ROOT = Path(__file__).resolve().parent.parent
FOLDER = {"hpchub": "hpchub", "hub": "hub", "spawners": "spawners", "node": "node", "jobs": "jobs"}


def function_of(where: str) -> ast.FunctionDef:
    module, function = where.split(":")
    *package, name = module.split(".")[1:]  # hpchub.<folder>.<module> or hpchub.<module>
    tree = ast.parse((ROOT / FOLDER[package[0] if package else "hpchub"] / f"{name}.py").read_text())
    return next(n for n in ast.walk(tree) if isinstance(n, ast.FunctionDef) and n.name == function)


@pytest.mark.parametrize("patch", PATCHES, ids=lambda p: p.where)
def test_each_patch_checks_its_upstream_before_it_patches(patch):
    calls = [n for n in ast.walk(function_of(patch.where)) if isinstance(n, ast.Call)
             and getattr(n.func, "id", "") in ("require", "warn_if_untested")]
    assert [c.args[0].value for c in calls] == [patch.upstream], ast.dump(function_of(patch.where))


@pytest.mark.parametrize("patch", PATCHES, ids=lambda p: p.where)
def test_each_patch_names_a_test_that_exists(patch):
    path, name = patch.test.split("::")
    assert re.search(rf"^def {name}\(", (ROOT / path).read_text(), re.M), patch.test


def test_every_patch_of_an_upstream_module_is_in_the_inventory():
    """Assignments into upstream modules or classes happen only in inventoried functions."""
    upstream = re.compile(r"^(ssl|commands|scopes|module|Security|provider(\.hub_auth)?)\.")
    inventoried = {p.where for p in PATCHES}
    found = set()
    for folder in ("hpchub", "hub", "spawners", "node", "jobs", "kernels", "notebooks"):
        for path in (ROOT / folder).rglob("*.py"):
            tree = ast.parse(path.read_text())
            for function in (n for n in ast.walk(tree) if isinstance(n, ast.FunctionDef)):
                for node in ast.walk(function):
                    if isinstance(node, ast.Assign) and any(
                            isinstance(t, ast.Attribute) and upstream.match(ast.unparse(t))
                            for t in node.targets):
                        found.add(f"hpchub.{path.parent.name}.{path.stem}:{function.name}")
    assert found - inventoried == {"hpchub.node.start_up:end"}  # begin's patch, undone


def test_an_untested_version_stops_the_hub_and_warns_in_a_job(monkeypatch, capsys):
    assert require("jupyterhub") is None  # this environment is the tested one
    monkeypatch.setattr(compat, "installed", lambda name: "7.0.0" if name == "jupyterhub" else None)
    with pytest.raises(UntestedUpstream, match=r"hpchub.spawners.sharing:install replaces .* "
                       r"tested with jupyterhub>=6.1,<6.2 and this environment has 7.0.0"):
        require("jupyterhub")
    assert warn_if_untested("jupyterhub") is False
    assert "this environment has 7.0.0" in capsys.readouterr().err
    assert compat.main() == 1
