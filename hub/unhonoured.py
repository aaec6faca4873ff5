"""Settings of batchspawner, wrapspawner and JupyterHub's Spawner that a center coming from them
may still have and hpchub does not honour: the hub stops at start-up, naming the site-config
key to use instead."""

from __future__ import annotations

from traitlets.config import Config

from .settings import HubConfigError

_SCRIPT_HINT = ("hpchub writes the batch script and talks to Slurm itself; set the node profile "
                "in the site config's profiles[] instead")
# Inherited traits that hpchub's spawners do not honour, with the site-config key to use.
UNHONOURED: dict[str, dict[str, str]] = {
    "SlurmSpawner": {
        "req_partition": "profiles[].partition", "req_queue": "profiles[].partition",
        "req_runtime": "profiles[].time (and partitions[].max_time)",
        "req_nprocs": "profiles[].cpus_per_task", "req_ngpus": "profiles[].gpus_per_node",
        "req_gres": "profiles[].gpus_per_node",
        "req_memory": "node_groups[].memory_mb (batch profiles get whole nodes or their share)",
        "req_account": "default_account (users choose among their Slurm associations)",
        "req_qos": "profiles[].qos", "req_reservation": "profiles[].configurable (users pick a "
        "reservation they may use)",
        "pending_timeout": "profiles[].pending_timeout_s", "runtime_prefix": "runtime_prefix",
        **{name: _SCRIPT_HINT for name in (
            "req_options", "req_srun", "req_prologue", "req_epilogue", "req_host", "req_cluster",
            "req_keepvars_extra", "batch_script", "batch_submit_cmd", "batch_query_cmd",
            "batch_cancel_cmd", "exec_prefix", "batchspawner_singleuser_cmd", "state_pending_re",
            "state_running_re", "state_unknown_re", "state_exechost_re", "state_exechost_exp",
            "startup_poll_interval")},
    },
    "ProfilesSpawner": {name: "profiles[] in the site config" for name in (
        "profiles", "child_class", "child_config", "first_template", "form_template",
        "input_template")},
    "Spawner": {
        "mem_limit": "shared_nodes[].max_memory_mb_per_user (batch servers: their Slurm job)",
        "mem_guarantee": "shared_nodes[].max_memory_mb_per_user (batch servers: their Slurm job)",
        "cpu_limit": "shared_nodes[].max_cpus_per_user (batch servers: their Slurm job)",
        "cpu_guarantee": "shared_nodes[].max_cpus_per_user (batch servers: their Slurm job)",
    },
}
UNHONOURED["BatchSpawnerBase"] = UNHONOURED["BatchSpawnerRegexStates"] = UNHONOURED["SlurmSpawner"]
UNHONOURED["WrapSpawner"] = UNHONOURED["ProfilesSpawner"]


def refuse_unhonoured(config: Config) -> None:
    """Stop on an inherited trait hpchub would silently ignore, naming the key to use."""
    for section, names in UNHONOURED.items():
        if section not in config:
            continue
        for name in sorted(set(config[section]) & set(names)):
            raise HubConfigError(f"c.{section}.{name} has no effect in hpchub: use the site "
                                 f"config's {names[name]}.")
