"""One home for Slurm: no Slurm command is spelled outside ``hpchub.slurm``, and the hub's
spawners and the notebook launchers do not import each other."""

from __future__ import annotations

import ast
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CODE = ("spawners", "jobs", "kernels", "hpchub", "site_configs")
COMMAND = re.compile(r"^(sbatch|squeue|scancel|srun|sacctmgr|scontrol)(\s|$)")


def python_files(*folders: str):
    for folder in folders:
        yield from (ROOT / folder).rglob("*.py")


def docstrings(tree: ast.AST) -> set[int]:
    ids = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Module | ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef):
            first = node.body[0] if node.body else None
            if isinstance(first, ast.Expr) and isinstance(first.value, ast.Constant):
                ids.add(id(first.value))
    return ids


def test_no_slurm_command_outside_the_slurm_package():
    found = []
    for path in python_files(*CODE):
        tree = ast.parse(path.read_text())
        skip = docstrings(tree)
        for node in ast.walk(tree):
            if (isinstance(node, ast.Constant) and isinstance(node.value, str)
                    and id(node) not in skip and COMMAND.match(node.value)):
                found.append(f"{path.relative_to(ROOT)}:{node.lineno}: {node.value[:40]!r}")
    assert not found, "Slurm commands spelled outside hpchub.slurm:\n" + "\n".join(found)


def imported_modules(path: Path) -> set[str]:
    tree = ast.parse(path.read_text())
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
        elif isinstance(node, ast.Import):
            names |= {alias.name for alias in node.names}
    return names


def test_spawners_and_jobs_do_not_import_each_other():
    for folder, other in (("spawners", "hpchub.jobs"), ("jobs", "hpchub.spawners")):
        for path in python_files(folder):
            assert not any(m.startswith(other) for m in imported_modules(path)), path


def test_the_slurm_package_depends_on_no_other_part():
    for path in python_files("slurm"):
        assert not any(m.startswith("hpchub.") for m in imported_modules(path)), path
