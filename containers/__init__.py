"""The Slurm-in-Docker testbed: image, node entrypoint and lifecycle manager."""
