"""``hpchub notebooks sync``: fetch a collection's ref, run its notebook suite, publish on success.

The suite is the kernel releases' own machinery (:mod:`hpchub.kernels.check`): every notebook
runs in the collection's kernel, here (the login node) and on a compute node through ``srun``
at the same time, with a per-notebook timeout; a failing notebook does not stop the others.
Notebooks run in a scratch copy, so what they write is never published.
"""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

from hpchub.kernels.registry import now
from hpchub.kernels.validate import format_report, match_notebooks, run_checks
from hpchub.site_configs import Site
from hpchub.slurm.cli import srun
from hpchub.slurm.flags import validation_flags

from .collection import Collection, CollectionError, SyncResult


def kernel_path(site: Site, collection: Collection, scratch: Path) -> Path:
    """The JUPYTER_PATH entry holding the suite's kernel: the collaboration's kernel view for
    ``<collaboration>-*`` kernels, else an empty directory (the runtime's own kernels)."""
    kernel, collab = collection.spec.suite.kernel, collection.spec.collaboration
    if collab and kernel.startswith(f"{collab}-"):
        return Path(site.kernel_root) / collab / "current"
    empty = scratch / "jupyter"
    empty.mkdir(parents=True, exist_ok=True)
    return empty


def check_argvs(site: Site, collection: Collection, notebooks: list[str], scratch: Path,
                use_slurm: bool) -> dict[str, list[str]]:
    suite = collection.spec.suite
    jupyter = kernel_path(site, collection, scratch)
    argvs = {}
    targets = {"local": []}
    if use_slurm:
        kv = site.kernel_validation
        partition = kv.partition or site.default_partition
        account = collection.spec.collaboration or site.default_account
        targets["slurm"] = srun(validation_flags(partition, kv.time, account, kv.qos,
                                                 f"hpchub-notebooks-{collection.spec.name}"))
    for target, prefix in targets.items():
        out = scratch / "executed" / target
        out.mkdir(parents=True, exist_ok=True)
        argv = [*prefix, f"{site.runtime_prefix}/bin/python", "-m", "hpchub.kernels.check",
                "--jupyter-path", str(jupyter), "--kernel", suite.kernel, "--target", target,
                "--output-dir", str(out), "--timeout", str(suite.timeout_s)]
        for path in notebooks:
            argv += ["--notebook", path]
        argvs[target] = argv
    return argvs


def sync(site: Site, collection: Collection, trigger: str = "manual", use_slurm: bool = True,
         force: bool = False) -> SyncResult:
    """One sync, under the collection's lock; recorded in its history whatever happens."""
    collection.require_writable()
    spec = collection.spec
    with collection.locked():
        started = now()
        try:
            commit = collection.fetch()
        except CollectionError as exc:
            outcome = SyncResult("failed", "", str(exc))
            collection.record(spec.ref, outcome, trigger, started)
            return outcome
        if commit == collection.current_commit() and not force:
            outcome = SyncResult("unchanged", commit, f"{spec.ref} is still {commit[:12]}")
            collection.record(spec.ref, outcome, trigger, started)
            return outcome
        try:
            tree = collection.export(commit)
        except CollectionError as exc:
            outcome = SyncResult("failed", commit, str(exc))
            collection.record(spec.ref, outcome, trigger, started)
            return outcome
        scratch = tree.with_name(tree.name + ".suite")
        shutil.rmtree(scratch, ignore_errors=True)
        shutil.copytree(tree, scratch / "run")
        notebooks = match_notebooks(scratch / "run", spec.suite.notebooks, spec.suite.exclude)
        print(f"{spec.name}: {spec.ref} is {commit[:12]}; running {len(notebooks)} notebook(s) "
              f"in {spec.suite.kernel} here{' and on a compute node' if use_slurm else ''} ...",
              flush=True)
        budget = 300 + spec.suite.timeout_s * max(1, len(notebooks))
        targets = run_checks(check_argvs(site, collection, notebooks, scratch, use_slurm), budget)
        passed = all(t["smoke"]["passed"] and all(nb["passed"] for nb in t["suite"])
                     for t in targets)
        report = {"kernel": f"{spec.name} {commit[:12]}", "passed": passed, "targets": targets}
        print(format_report(report), end="", flush=True)
        if not passed:
            shutil.rmtree(tree, ignore_errors=True)
            outcome = SyncResult("failed", commit, f"the suite failed; executed notebooks in "
                                 f"{scratch / 'executed'}", report)
        else:
            collection.publish(tree, commit)
            shutil.rmtree(scratch, ignore_errors=True)
            outcome = SyncResult("published", commit, f"{len(notebooks)} notebook(s) passed", report)
        collection.record(spec.ref, outcome, trigger, started)
        return outcome


def say(outcome: SyncResult, collection: Collection) -> int:
    name = collection.spec.name
    if outcome.result == "failed":
        kept = collection.current_commit()
        print(f"{name}: not published: {outcome.detail}. Users still see "
              f"{kept[:12] if kept else 'nothing yet'}.", file=sys.stderr)
        return 1
    print(f"{name}: {outcome.result} {outcome.commit[:12]} ({outcome.detail})")
    return 0
