"""Kernel releases: start-to-ready through the release launchers (venv, Lmod modules, podman
container) vs a bare ipykernel of the same environment, in one run; and the time to validate a
release with a 5-notebook suite.

Run on the testbed as the DESI collaboration account, after tests/testbed/test_kernels.py has
published desi 26.3 (venv), 26.5 (modules) and 26.8 (container), e.g.
``.venv/bin/python benchmarks/kernel_start.py``.
"""

from __future__ import annotations

import argparse
import json
import re
import shlex
import time

from common import summary, testbed

# Runs inside login1 with the site runtime: each release's kernelspec and a bare kernelspec of
# its environment's Python, in an order that rotates each round; start -> kernel_info reply.
PROBE = r"""
import json, os, sys, tempfile, time
from jupyter_client.manager import start_new_kernel
pairs, rounds = json.loads(sys.argv[1]), int(sys.argv[2])
root = "/global/common/software/jupyter/kernels/desi"
bare = tempfile.mkdtemp()
for python in set(pairs.values()):
    name = "bare-" + python.replace("/", "_")
    os.makedirs(f"{bare}/kernels/{name}")
    json.dump({"argv": [python, "-m", "ipykernel_launcher", "-f", "{connection_file}"],
               "display_name": name, "language": "python"}, open(f"{bare}/kernels/{name}/kernel.json", "w"))
os.environ["JUPYTER_PATH"] = f"{root}/current:{bare}"
names = [*pairs, *{"bare-" + p.replace("/", "_") for p in pairs.values()}]
times = {name: [] for name in names}
for i in range(rounds):
    for name in names[i % len(names):] + names[:i % len(names)]:
        start = time.perf_counter()
        km, kc = start_new_kernel(kernel_name=name, startup_timeout=60)
        times[name].append(time.perf_counter() - start)
        kc.stop_channels(); km.shutdown_kernel(now=True)
print(json.dumps(times))
"""
ENVS = "/global/common/software/desi-envs"

NOTEBOOK = {"nbformat": 4, "nbformat_minor": 5, "metadata": {}, "cells": [
    {"cell_type": "code", "id": "c0", "metadata": {}, "outputs": [], "execution_count": None,
     "source": "import desiver\nsum(range(10**6))"}]}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rounds", type=int, default=10)
    ap.add_argument("--release", default="desi-26.3", help="a venv release (and the suite's env)")
    ap.add_argument("--modules-release", default="desi-26.5", help="'' to leave out")
    ap.add_argument("--container-release", default="desi-26.8", help="'' to leave out")
    args = ap.parse_args()
    bed = testbed()
    venv_python = f"{ENVS}/{args.release.split('-', 1)[1]}/bin/python"
    # The bare kernel of each: the same environment's Python without the launcher (for the
    # container release, whose Python is the image's, the venv release's bare kernel).
    pairs = {args.release: venv_python}
    if args.modules_release:
        pairs[args.modules_release] = f"{ENVS}/{args.modules_release.split('-', 1)[1]}/bin/python"
    if args.container_release:
        pairs[args.container_release] = venv_python
    out = bed.exec("login1", "/opt/hpchub/venv/bin/python", "-c", PROBE, json.dumps(pairs),
                   str(args.rounds), user="desi", workdir="/home/desi")
    assert out.code == 0, out.output
    times = json.loads(out.output.strip().splitlines()[-1])
    import statistics

    for release, python in pairs.items():
        bare = times["bare-" + python.replace("/", "_")]
        wrapped = times[release]
        print(f"{release}: start-to-ready {summary(wrapped)}; bare ipykernel ({python}) {summary(bare)}; "
              f"overhead {100 * (statistics.median(wrapped) / statistics.median(bare) - 1):+.1f}%")
    print("targets: venv and modules launchers <= +10%; the container's cost is reported as it is")

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
