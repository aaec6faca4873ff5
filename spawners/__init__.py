"""Spawners that start a user's JupyterLab on a node profile: Slurm batch or shared node."""
