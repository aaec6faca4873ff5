"""Job requests from notebooks are checked against the site and the user's associations."""

from __future__ import annotations

import pytest

from hpchub.jobs.dask import dashboard_link, worker_lifetime
from hpchub.jobs.request import JobRequest, JobRequestError, check, notebook_job_name
from hpchub.site_configs import bundled_site
from hpchub.slurm.flags import job_flags

SITE = bundled_site("testbed")
ALICE = {"general": ("debug", "interactive", "normal"), "desi": ("debug", "interactive", "normal")}


def test_defaults_come_from_the_site():
    req = check(JobRequest(), SITE, ALICE)
    assert (req.partition, req.account, req.qos) == ("regular", "general", None)


@pytest.mark.parametrize("req, message", [
    (JobRequest(nodes=4), "partition 'regular' has 3 node(s)"),
    (JobRequest(partition="gpu", tasks_per_node=3, gpus_per_task=1), "have 2 GPU(s)"),
    (JobRequest(gpus_per_task=1), "use a GPU partition"),
    (JobRequest(tasks_per_node=65), "have 64 CPUs"),
    (JobRequest(partition="debug", time="01:00:00"), "longer than 'debug' allows"),
    (JobRequest(time="soon"), "walltime 'soon'"),
    (JobRequest(account="lsst"), "you cannot charge account 'lsst'"),
    (JobRequest(qos="premium"), "QOS 'premium' is not allowed"),
    (JobRequest(partition="x; rm -rf /"), "unknown partition"),
    (JobRequest(nodes=0), "nodes must be a whole number"),
    (JobRequest(gpus_per_task=-1), "gpus_per_task"),
])
def test_refusals_name_the_problem(req, message):
    with pytest.raises(JobRequestError) as info:
        check(req, SITE, ALICE)
    assert message in str(info.value)


def test_no_association_at_all():
    with pytest.raises(JobRequestError, match="no Slurm account"):
        check(JobRequest(), SITE, {})


def test_sbatch_options_are_argv_with_gpu_binding():
    req = check(JobRequest(nodes=1, tasks_per_node=2, gpus_per_task=1, partition="gpu", account="desi",
                           qos="debug"), SITE, ALICE)
    argv = job_flags(req, "hpchub-nb-x")
    assert "--gpus-per-task=1" in argv and "--gpu-bind=per_task:1" in argv
    assert "--account=desi" in argv and "--qos=debug" in argv and "--no-requeue" in argv


def test_job_name_is_safe_for_any_server_name(monkeypatch):
    assert notebook_job_name("my gpu;server") == "hpchub-nb-my_gpu_server"
    monkeypatch.setenv("JUPYTERHUB_SERVER_NAME", "")
    assert notebook_job_name() == "hpchub-nb-default"


def test_dask_helpers(monkeypatch):
    assert worker_lifetime("00:30:00") == "27m"
    assert worker_lifetime("02:00:00") == "108m"
    monkeypatch.setenv("JUPYTERHUB_SERVICE_PREFIX", "/user/alice/")
    assert dashboard_link() == "/user/alice/proxy/{port}/status"
