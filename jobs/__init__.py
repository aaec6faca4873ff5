"""Multi-node work from a notebook: ipyparallel, MPI and Dask on Slurm."""
