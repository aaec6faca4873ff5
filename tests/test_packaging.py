"""The fixed top-level folders import as hpchub.* (editable install on this machine)."""

from __future__ import annotations

import importlib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


@pytest.mark.parametrize("folder", ["spawners", "kernels", "jobs", "site_configs", "containers"])
def test_folder_imports_as_subpackage(folder):
    module = importlib.import_module(f"hpchub.{folder}")
    assert Path(module.__file__).resolve().parent == ROOT / folder
