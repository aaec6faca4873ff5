"""Everything hpchub knows about Slurm, in one place.

- :mod:`.jobs`: job records from ``squeue`` (strict parsers) and server-job identity;
- :mod:`.flags`: the job request model and its ``sbatch``/``srun`` flags;
- :mod:`.accounts`: the user's associations (one cache) and reservations;
- :mod:`.messages`: Slurm's states and reasons in the user's words;
- :mod:`.times`, :mod:`.hostlist`: durations and host lists;
- :mod:`.cli`: the client that runs Slurm's commands (as the user through sudo where needed);
  :mod:`.runner`: argv-only subprocesses.

Spawners, the reconciler, notebook launchers and the kernels CLI use only this package.
"""
