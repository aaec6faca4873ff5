"""The hub-to-job contract: one home for every HPCHUB_* variable, and a lossless round trip."""

from __future__ import annotations

import ast
import re
from pathlib import Path

from hpchub.node.contract import PEM_ENV, JobContract
from hpchub.node.shared_launch import MARK
from hpchub.node.walltime import walltime_reply

ROOT = Path(__file__).resolve().parent.parent
CODE = ("spawners", "jobs", "kernels", "notebooks", "node", "hpchub", "site_configs", "containers",
        "slurm")
NAME = re.compile(r"^HPCHUB_[A-Z0-9_]+$")


def test_no_variable_name_is_spelled_outside_the_contract():
    found = []
    for folder in CODE:
        for path in (ROOT / folder).rglob("*.py"):
            if path == ROOT / "node" / "contract.py":
                continue
            for node in ast.walk(ast.parse(path.read_text())):
                if isinstance(node, ast.Constant) and isinstance(node.value, str) \
                        and NAME.match(node.value):
                    found.append(f"{path.relative_to(ROOT)}:{node.lineno}: {node.value}")
                if isinstance(node, ast.keyword) and node.arg and NAME.match(node.arg):
                    found.append(f"{path.relative_to(ROOT)}:{node.lineno}: {node.arg}=")
    assert not found, "HPCHUB_* names outside hpchub.node.contract:\n" + "\n".join(found)


def test_the_contract_round_trips_through_the_environment():
    contract = JobContract(kernel_root="/k", notebook_root="/n", time_limit_s=3600,
                           shutdown_grace_s=60, memory_mb=4096, shared_server=True,
                           job_output="/home/a/job.log", job_started=1765000000.5,
                           ssl_key="K", ssl_cert="C", ssl_ca="A")
    env = contract.to_env()
    assert env["HPCHUB_TIME_LIMIT_S"] == "3600" and env["HPCHUB_SHARED_SERVER"] == "1"
    assert {env[name] for name in PEM_ENV.values()} == {"K", "C", "A"}
    assert JobContract.from_env(env) == contract
    assert f"{JobContract.name('shared_server')}={env['HPCHUB_SHARED_SERVER']}".encode() == MARK


def test_absent_and_malformed_values_read_as_absent():
    assert JobContract().to_env() == {}
    read = JobContract.from_env({"HPCHUB_TIME_LIMIT_S": "soon", "HPCHUB_MEMORY_MB": "",
                                 "HPCHUB_SHARED_SERVER": "yes", "OTHER": "x"})
    assert read == JobContract()


def test_the_walltime_reply_reads_the_contract():
    env = {**JobContract(job_started=1000.0, time_limit_s=600, shutdown_grace_s=60,
                         memory_mb=2048, shared_server=True).to_env(), "SLURM_JOB_ID": "7"}
    reply = walltime_reply(env, now=1100.0)
    assert reply["remaining_s"] == 440 and reply["stops_at"] == 1540.0
    assert reply["memory_mb"] == 2048 and reply["shared"] is True
    assert walltime_reply({"SLURM_JOB_ID": "7"}, now=1.0)["remaining_s"] is None
