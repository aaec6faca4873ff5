"""``hpchub kernels validate``: start a release's kernel for real where users will run it.

The release is staged (launcher + kernelspec) on shared storage; then, at the same time,
``hpchub.kernels.check`` runs here (the shared/login node) and on a compute node through
``srun``. Each starts the kernel and runs the smoke cell; the notebook suite runs on the
compute node (or here when Slurm is not used). Nothing users see changes.
"""

from __future__ import annotations

import fnmatch
import json
import os
import shutil
import subprocess
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from hpchub.slurm.cli import srun
from hpchub.slurm.flags import validation_flags

from .images import looks_unpacked
from .launcher import kernelspec, launch_script
from .registry import now
from .release import LoadedSpec, ReleaseError


@dataclass(frozen=True)
class SlurmTarget:
    partition: str
    time: str
    account: str
    qos: str | None = None


@dataclass
class Validation:
    report: dict
    output_dir: Path

    @property
    def passed(self) -> bool:
        return bool(self.report["passed"])


def preflight(loaded: LoadedSpec) -> list[str]:
    """Problems that need no kernel start to find; returns the suite's notebooks."""
    spec, env = loaded.spec, loaded.spec.environment
    if env.kind in ("venv", "conda"):
        python = Path(env.prefix) / "bin" / "python"
        if not Path(env.prefix).is_dir():
            raise ReleaseError(f"environment.prefix {env.prefix} does not exist (or you cannot read it)")
        if not os.access(python, os.X_OK):
            raise ReleaseError(f"environment.prefix {env.prefix} has no bin/python: is it a {env.kind}?")
    if env.kind == "container":
        if not shutil.which(env.runtime):
            raise ReleaseError(f"environment.runtime {env.runtime} is not installed on this node")
        if env.runtime == "apptainer" and not Path(env.image).is_file():
            raise ReleaseError(f"environment.image {env.image} does not exist")
        if env.runtime == "podman" and not looks_unpacked(Path(env.image)):
            raise ReleaseError(
                f"environment.image {env.image} is not an image directory made by `hpchub kernels "
                "unpack-image`" + ("" if Path(env.image).exists() else " (it does not exist)"))
    if spec.logo and not loaded.path(spec.logo).is_file():
        raise ReleaseError(f"logo {loaded.path(spec.logo)} does not exist")
    return suite_notebooks(loaded)


def suite_notebooks(loaded: LoadedSpec) -> list[str]:
    suite = loaded.spec.suite
    if not suite:
        return []
    kept = match_notebooks(loaded.base, suite.notebooks, suite.exclude)
    if not kept:
        raise ReleaseError(f"suite.notebooks: no notebook matches {list(suite.notebooks)} "
                           f"(excluding {list(suite.exclude)}) under {loaded.base}")
    return kept


def match_notebooks(base: Path, patterns: tuple[str, ...], exclude: tuple[str, ...]) -> list[str]:
    """The ``.ipynb`` files under ``base`` matching a pattern and no exclusion, sorted."""
    found: set[Path] = set()
    for pattern in patterns:
        found.update(p for p in base.glob(pattern) if p.suffix == ".ipynb" and p.is_file())
    return [str(p) for p in sorted(found) if not any(
        fnmatch.fnmatch(str(p.relative_to(base)), ex) for ex in exclude)]


def stage(loaded: LoadedSpec, staging: Path, modules_from: Sequence[str] = ()) -> Path:
    """A private kernelspec for the release under test; returns its JUPYTER_PATH entry."""
    spec = loaded.spec
    shutil.rmtree(staging, ignore_errors=True)
    kdir = staging / "jupyter" / "kernels" / spec.kernel_name
    kdir.mkdir(parents=True)
    launcher = staging / "launch.sh"
    launcher.write_text(launch_script(spec, modules_from))
    ks = kernelspec(spec.collaboration, spec.version, launcher, f"{spec.display_name} (validating)",
                    "validating", False)
    (kdir / "kernel.json").write_text(json.dumps(ks, indent=1))
    return staging / "jupyter"


def check_argv(runtime_python: str, jupyter_path: Path, loaded: LoadedSpec, target: str,
               notebooks: list[str], output_dir: Path) -> list[str]:
    spec = loaded.spec
    argv = [runtime_python, "-m", "hpchub.kernels.check", "--jupyter-path", str(jupyter_path),
            "--kernel", spec.kernel_name, "--target", target, "--output-dir", str(output_dir),
            "--imports", ",".join(spec.smoke_imports)]
    if notebooks:
        argv += ["--timeout", str(spec.suite.timeout_s)]
        for path in notebooks:
            argv += ["--notebook", path]
    return argv


def srun_prefix(loaded: LoadedSpec, slurm: SlurmTarget) -> list[str]:
    return srun(validation_flags(slurm.partition, slurm.time, slurm.account, slurm.qos,
                                 f"hpchub-validate-{loaded.spec.kernel_name}"))


def validate(loaded: LoadedSpec, runtime_python: str, staging: Path, local: bool = True,
             slurm: SlurmTarget | None = None, modules_from: Sequence[str] = ()) -> Validation:
    """Stage, check on every target at once, and return the combined report."""
    if not (local or slurm):
        raise ReleaseError("validate needs at least one place to run: here and/or Slurm")
    notebooks = preflight(loaded)
    jupyter_path = stage(loaded, staging, modules_from)
    suite_target = "slurm" if slurm else "local"
    budget = 600 + (loaded.spec.suite.timeout_s * len(notebooks) if notebooks else 0)
    argvs = {}
    for target, prefix in (("slurm", srun_prefix(loaded, slurm) if slurm else None),
                           ("local", [] if local else None)):
        if prefix is None:
            continue
        out = staging / "validation" / target
        out.mkdir(parents=True, exist_ok=True)
        argvs[target] = prefix + check_argv(runtime_python, jupyter_path, loaded, target,
                                            notebooks if target == suite_target else [], out)
    targets = run_checks(argvs, budget)
    passed = all(t["smoke"]["passed"] and all(nb["passed"] for nb in t["suite"]) for t in targets)
    report = {"kernel": loaded.spec.kernel_name, "at": now(), "passed": passed, "targets": targets}
    (staging / "validation.json").write_text(json.dumps(report, indent=1))
    return Validation(report, staging / "validation")


def run_checks(argvs: dict[str, list[str]], budget: float) -> list[dict]:
    """Run ``hpchub.kernels.check`` on every target at once; one report per target."""
    runs = [(target, subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                      text=True)) for target, argv in argvs.items()]
    targets = []
    for target, proc in runs:
        try:
            stdout, stderr = proc.communicate(timeout=budget)
        except subprocess.TimeoutExpired:
            proc.kill()
            stdout, stderr = proc.communicate()
            stderr += f"\nno answer within {budget} s"
        targets.append(parse_report(target, proc.returncode, stdout, stderr))
    return targets


def parse_report(target: str, code: int, stdout: str, stderr: str) -> dict:
    lines = [line for line in stdout.splitlines() if line.strip()]
    if lines:
        try:
            return json.loads(lines[-1])
        except json.JSONDecodeError:
            pass
    tail = " | ".join(stderr.strip().splitlines()[-3:]) or f"exit status {code}"
    return {"target": target, "host": "?", "suite": [],
            "smoke": {"passed": False, "detail": f"the check did not run: {tail}", "seconds": 0}}


def format_report(report: dict) -> str:
    """The summary table a maintainer reads."""
    rows = [("where", "check", "result", "seconds", "detail")]
    for t in report["targets"]:
        where = f"{t['target']} ({t.get('host', '?')})"
        smoke = t["smoke"]
        detail = smoke.get("detail") or ", ".join(
            f"{k} {v}" for k, v in {"python": smoke.get("version"), **smoke.get("modules", {})}.items())
        rows.append((where, "smoke cell", "passed" if smoke["passed"] else "FAILED",
                     f"{smoke.get('seconds', 0):.1f}", detail))
        for nb in t["suite"]:
            rows.append((where, Path(nb["notebook"]).name, "passed" if nb["passed"] else "FAILED",
                         f"{nb['seconds']:.1f}", nb.get("detail", "")))
    widths = [max(len(str(r[i])) for r in rows) for i in range(4)]
    lines = ["  ".join(str(c).ljust(w) for c, w in zip(r[:4], widths, strict=True)) + "  " + r[4]
             for r in rows]
    verdict = "PASSED" if report["passed"] else "FAILED"
    return "\n".join(lines) + f"\n{report['kernel']}: validation {verdict}\n"
