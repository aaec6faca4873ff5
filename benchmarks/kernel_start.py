"""Kernel releases: start-to-ready through the release launcher vs a bare ipykernel, same env;
and the time to validate a release with a 5-notebook suite.

Run on the testbed as the DESI collaboration account, after tests/testbed/test_kernels.py has
published desi 26.3 (or any release), e.g. ``.venv/bin/python benchmarks/kernel_start.py``.
"""

from __future__ import annotations

import argparse
import json
import re
import shlex
import time

from common import summary, testbed

# Runs inside login1 with the site runtime: alternate the two kernelspecs, time start->kernel_info.
PROBE = r"""
import json, os, sys, tempfile, time
from jupyter_client.manager import start_new_kernel
release, rounds = sys.argv[1], int(sys.argv[2])
root = "/global/common/software/jupyter/kernels/desi"
spec = json.load(open(f"{root}/current/kernels/{release}/kernel.json"))
launcher = spec["argv"][1]
python = [l.split()[1].strip("'") for l in open(launcher) if l.startswith("exec ")][0]
bare = tempfile.mkdtemp()
os.makedirs(f"{bare}/kernels/bare")
json.dump({"argv": [python, "-m", "ipykernel_launcher", "-f", "{connection_file}"],
           "display_name": "bare", "language": "python"}, open(f"{bare}/kernels/bare/kernel.json", "w"))
os.environ["JUPYTER_PATH"] = f"{root}/current:{bare}"
times = {release: [], "bare": []}
for i in range(rounds):
    for name in ([release, "bare"] if i % 2 else ["bare", release]):
        start = time.perf_counter()
        km, kc = start_new_kernel(kernel_name=name, startup_timeout=60)
        times[name].append(time.perf_counter() - start)
        kc.stop_channels(); km.shutdown_kernel(now=True)
print(json.dumps(times))
"""

NOTEBOOK = {"nbformat": 4, "nbformat_minor": 5, "metadata": {}, "cells": [
    {"cell_type": "code", "id": "c0", "metadata": {}, "outputs": [], "execution_count": None,
     "source": "import desiver\nsum(range(10**6))"}]}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rounds", type=int, default=10)
    ap.add_argument("--release", default="desi-26.3")
    args = ap.parse_args()
    bed = testbed()
    out = bed.exec("login1", "/opt/hpchub/venv/bin/python", "-c", PROBE, args.release, str(args.rounds),
                   user="desi", workdir="/home/desi")
    assert out.code == 0, out.output
    times = json.loads(out.output.strip().splitlines()[-1])
    import statistics

    wrapped, bare = statistics.median(times[args.release]), statistics.median(times["bare"])
    print(f"kernel start-to-ready through the launcher ({args.release}): {summary(times[args.release])}")
    print(f"kernel start-to-ready, bare python -m ipykernel, same env:   {summary(times['bare'])}")
    print(f"launcher overhead: {100 * (wrapped / bare - 1):+.1f}% (target <= +10%)")

    suite = "/home/desi/bench-suite"
    nb = json.dumps(NOTEBOOK)
    version = json.loads(bed.exec("login1", "cat", "/global/common/software/jupyter/kernels/desi/current/"
                                  f"kernels/{args.release}/kernel.json").output)["metadata"]["hpchub"]
    prefix = f"/global/common/software/desi-envs/{version['version']}"
    files = " && ".join(f"printf %s {shlex.quote(nb)} > {suite}/nb{i}.ipynb" for i in range(5))
    spec = (f"collaboration: desi\nversion: bench\ndisplay_name: bench\n"
            f"environment: {{kind: venv, prefix: {prefix}}}\nsmoke_imports: [desiver]\n"
            "suite: {notebooks: ['*.ipynb'], timeout_s: 120}\n")
    bed.exec("login1", "bash", "-c", f"rm -rf {suite} && mkdir -p {suite} && {files} && "
             f"printf %s {shlex.quote(spec)} > {suite}/bench.yaml", user="desi")
    for where, extra in (("here only", ["--no-slurm"]), ("here + compute node", [])):
        start = time.perf_counter()
        res = bed.exec("login1", "hpchub", "kernels", "validate", f"{suite}/bench.yaml", *extra,
                       user="desi", workdir=suite)
        took = time.perf_counter() - start
        passed = len(re.findall(r"nb\d\.ipynb\s+passed", res.output))
        print(f"validate with a 5-notebook suite ({where}): {took:.1f} s, {passed}/5 notebooks passed")
    bed.exec("login1", "bash", "-c", "rm -rf /global/common/software/jupyter/kernels/desi/staging/bench.*",
             user="desi")


if __name__ == "__main__":
    main()
