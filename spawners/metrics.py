"""Prometheus metrics, served by JupyterHub on /hub/metrics."""

from prometheus_client import Counter, Histogram

QUEUE_WAIT = Histogram(
    "hpchub_queue_wait_seconds", "Seconds a server job waited in the Slurm queue", ["profile"],
    buckets=(1, 5, 15, 30, 60, 120, 300, 600, 1800, 3600),
)
SPAWN_OUTCOMES = Counter(
    "hpchub_spawn_outcomes_total", "Spawn results by profile and reason", ["profile", "outcome"]
)
POLLER_LATENCY = Histogram(
    "hpchub_poller_latency_seconds", "Seconds one job list of the shared poller took (squeue or slurmrestd)",
    buckets=(0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 20),
)
POLLER_FAILURES = Counter(
    "hpchub_poller_failures_total", "Job-list reads of the shared poller that Slurm did not answer "
    "(servers keep their last state meanwhile: alert when this keeps growing)",
)
