"""The fixed top-level folders import as hpchub.* (editable install on this machine)."""

from __future__ import annotations

import importlib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


@pytest.mark.parametrize("folder", ["spawners", "kernels", "jobs", "site_configs", "containers", "slurm"])
def test_folder_imports_as_subpackage(folder):
    module = importlib.import_module(f"hpchub.{folder}")
    assert Path(module.__file__).resolve().parent == ROOT / folder


def test_wheel_installs_jupyterlabs_settings_defaults(tmp_path):
    """The wheel puts hpchub's JupyterLab overrides where JupyterLab reads them in any
    environment it is installed into (<prefix>/share/jupyter/lab/settings/overrides.d)."""
    import json
    import subprocess
    import sys
    import zipfile

    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation",
                    "-q", "-w", str(tmp_path), str(ROOT)], check=True, capture_output=True)
    wheel = next(tmp_path.glob("hpchub-*.whl"))
    with zipfile.ZipFile(wheel) as zf:
        name = next(n for n in zf.namelist()
                    if n.endswith("data/share/jupyter/lab/settings/overrides.d/hpchub.json"))
        settings = json.loads(zf.read(name))
    assert settings["@jupyterlab/apputils-extension:notification"]["fetchNews"] == "false"
