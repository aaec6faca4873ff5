"""hpchub: a JupyterHub for supercomputing centers.

Subpackages: :mod:`hpchub.spawners` (node profiles on Slurm and shared nodes),
:mod:`hpchub.kernels` (curated collaboration kernels), :mod:`hpchub.jobs` (multi-node
launchers), :mod:`hpchub.site_configs` (the site description) and
:mod:`hpchub.containers` (the Docker Slurm testbed).
"""

__version__ = "0.1.0"
