"""The fixed top-level folders import as hpchub.* (editable install on this machine)."""

from __future__ import annotations

import importlib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


@pytest.mark.parametrize("folder", ["spawners", "node", "kernels", "jobs", "site_configs", "containers",
                                    "slurm"])
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


def test_testbed_without_its_extra_says_which_extra_to_install():
    """As on a hub host without `[testbed]`: the docker package cannot be imported."""
    import subprocess
    import sys

    hide_docker = ("import sys\n"
                   "class Hide:\n"
                   "    def find_spec(self, name, path=None, target=None):\n"
                   "        if name == 'docker' or name.startswith('docker.'):\n"
                   "            raise ModuleNotFoundError(f'No module named {name!r}', name=name)\n"
                   "sys.meta_path.insert(0, Hide())\n"
                   "from hpchub.cli import main\n"
                   "main(['testbed', 'status'])\n")
    done = subprocess.run([sys.executable, "-c", hide_docker], capture_output=True, text=True)
    assert done.returncode == 2, done.stderr
    assert "pip install 'hpchub[testbed]'" in done.stderr and "Traceback" not in done.stderr


HUB_ONLY = ("batchspawner", "wrapspawner", "ldapauthenticator", "ldap3", "psycopg",
            "jupyterhub_idle_culler", "hpchub.spawners", "hpchub.hub")


def test_code_that_runs_on_nodes_needs_nothing_only_the_hub_has():
    """As in the nodes' runtime: the hub-only packages cannot be imported."""
    import subprocess
    import sys

    modules = [f"hpchub.node.{p.stem}" for p in (ROOT / "node").glob("*.py")]
    modules += ["hpchub.kernels.cli", "hpchub.kernels.visible", "hpchub.kernels.check",
                "hpchub.jobs.request", "hpchub.jobs.progress", "hpchub.slurm.cli"]
    code = (f"import sys\nHUB_ONLY = {HUB_ONLY!r}\n"
            "class Hide:\n"
            "    def find_spec(self, name, path=None, target=None):\n"
            "        if name.startswith(HUB_ONLY):\n"
            "            raise ModuleNotFoundError(f'{name} is hub-only', name=name)\n"
            "sys.meta_path.insert(0, Hide())\n"
            f"import importlib\nfor m in {modules!r}:\n    importlib.import_module(m)\n")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr[-2000:]
