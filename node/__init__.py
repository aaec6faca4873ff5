"""What runs on the nodes, inside server jobs: the single-user launcher, its fast start and
start-up window, the walltime warnings, the shared-node launcher and cgroup confinement.
It imports nothing that only the hub needs (batchspawner, wrapspawner, the authenticators,
the database drivers)."""
