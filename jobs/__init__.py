"""Multi-node work from a notebook: ipyparallel, MPI and Dask on Slurm.

>>> from hpchub.jobs import ipyparallel_cluster
>>> cluster = ipyparallel_cluster(nodes=3, tasks_per_node=2, mpi=True)   # doctest: +SKIP
>>> rc = cluster.start_and_connect_sync()                                 # doctest: +SKIP
"""

from .request import JobRequest, JobRequestError, notebook_job_name

__all__ = ["JobRequest", "JobRequestError", "dask_cluster", "ipyparallel_cluster", "notebook_job_name"]


def __getattr__(name: str):  # noqa: ANN202 - import ipyparallel/dask only when used
    if name == "ipyparallel_cluster":
        from .ipp import ipyparallel_cluster

        return ipyparallel_cluster
    if name == "dask_cluster":
        from .dask import dask_cluster

        return dask_cluster
    raise AttributeError(name)
