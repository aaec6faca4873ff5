# Vanilla baseline for benchmarks: batchspawner 1.3.0 + wrapspawner 1.0.1 ProfilesSpawner,
# with only the minimal fix (import batchspawner first so its API handler is registered).
# spawn_latency.py installs both in their own venv on the shared software area (VANILLA_VENV),
# which sees the nodes' runtime (JupyterHub, JupyterLab) through a .pth file.
import batchspawner  # noqa: F401
import wrapspawner  # noqa: F401

VANILLA_VENV = "/global/common/software/hpchub-bench/vanilla"
c = get_config()  # noqa: F821
c.JupyterHub.bind_url = "http://0.0.0.0:8003"
c.JupyterHub.hub_port = 8082
c.JupyterHub.hub_ip = "0.0.0.0"
c.JupyterHub.hub_connect_ip = "login1"  # a submit host: vanilla needs sbatch and sudo
c.ConfigurableHTTPProxy.api_url = "http://127.0.0.1:8004"
c.JupyterHub.db_url = "sqlite:////srv/vanilla/jupyterhub.sqlite"
c.JupyterHub.cookie_secret_file = "/srv/vanilla/cookie_secret"
c.ConfigurableHTTPProxy.pid_file = "/srv/vanilla/proxy.pid"
c.JupyterHub.authenticator_class = "pam"
c.Authenticator.allow_all = True
c.PAMAuthenticator.open_sessions = False
c.JupyterHub.spawner_class = "wrapspawner.ProfilesSpawner"
c.Spawner.cmd = ["/opt/hpchub/venv/bin/jupyterhub-singleuser"]
# Without --get-user-env and --export=<list> (which implies it): Slurm 24.11's slurmd reads the
# user's login environment in new pid and mount namespaces (clone), which the testbed's node
# containers may not make, and dies ("fatal: clone: Operation not permitted"; docs/testbed.md).
# A real node can; the baseline only gets faster (the job inherits sbatch's environment).
c.SlurmSpawner.batch_script = "".join(
    line for line in batchspawner.SlurmSpawner.class_traits()["batch_script"].default_value
    .splitlines(keepends=True) if not line.startswith(("#SBATCH --get-user-env", "#SBATCH --export")))
c.Spawner.default_url = "/lab"
c.Spawner.http_timeout = 120
c.ProfilesSpawner.profiles = [
    ("Exclusive CPU node", "cpu", "batchspawner.SlurmSpawner",
     {"req_partition": "regular", "req_runtime": "04:00:00", "req_qos": "interactive",
      "batchspawner_singleuser_cmd": VANILLA_VENV + "/bin/batchspawner-singleuser"}),
]
