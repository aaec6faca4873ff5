"""``hpchub hub --site FILE``: a JupyterHub config for the site, and JupyterHub run with it."""

from __future__ import annotations

import os
from pathlib import Path

from hpchub.site_configs import load_site

CONFIG_TEMPLATE = """\
# Written by `hpchub hub`. Put your own settings in {config_dir}/*.py: they are loaded
# first, and hpchub fills in only what they leave unset.
import glob
c.HPCHub.site_config = {site!r}
c.HPCHub.state_dir = {state!r}
if {mode!r}:
    c.HPCHub.slurm_access = {mode!r}
for path in sorted(glob.glob({config_dir!r} + "/*.py")):
    load_subconfig(path)
import hpchub.hub
hpchub.hub.configure(c)
"""


def run_hub(site_path: str, state_dir: str, slurm_access: str | None = None,
            config_dir: str = "/etc/jupyterhub/jupyterhub_config.d") -> int:
    """``hpchub hub``: write the config for this site and exec JupyterHub with it."""
    state = Path(state_dir)
    state.mkdir(parents=True, exist_ok=True)
    state.chmod(0o700)
    load_site(site_path)  # fail here, with the key named, rather than inside JupyterHub
    config = state / "jupyterhub_config.py"
    config.write_text(CONFIG_TEMPLATE.format(site=str(Path(site_path).resolve()), state=str(state),
                                             mode=slurm_access, config_dir=config_dir))
    os.chdir(state)
    os.execvp("jupyterhub", ["jupyterhub", "-f", str(config)])
    return 0
