"""Runs on the node under test: start a release's kernel, run the smoke cell and the notebooks.

``python -m hpchub.kernels.check --jupyter-path DIR --kernel NAME --output-dir DIR
[--imports a,b] [--notebook PATH ...] [--timeout S]`` prints one JSON report as its last line.
A failing notebook never stops the others (the Astro Data Lab practice); every executed
notebook, with its tracebacks, is saved in the output directory for inspection.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import socket
import sys
import tempfile
import time
from pathlib import Path

MARK = "HPCHUB-SMOKE "


def smoke_code(imports: list[str]) -> str:
    return (
        "import importlib, json, socket, sys\n"
        f"_mods = {{n: getattr(importlib.import_module(n), '__version__', None) for n in {imports!r}}}\n"
        f"print({MARK!r} + json.dumps({{'host': socket.gethostname(), 'python': sys.executable,"
        " 'version': sys.version.split()[0], 'modules': _mods}))\n"
    )


def describe_error(exc: BaseException) -> str:
    """One line for the summary table: the exception and, for a failing cell, its name and value."""
    ename, evalue = getattr(exc, "ename", None), getattr(exc, "evalue", None)
    if ename:
        return f"{ename}: {evalue}"
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[-1] if text else ''}"[:300]


def launcher_said(stderr) -> str:  # noqa: ANN001 - a binary file
    """What the kernel's launcher wrote in ``stderr`` before it died (see :func:`summarize`)."""
    stderr.seek(0)
    return summarize(stderr.read().decode(errors="replace"))


def summarize(output: str) -> str:
    """The paragraph of a launcher's output that reports an error (e.g. Lmod's "The following
    module(s) are unknown: ...") and its last line."""
    lines = [line.strip() for line in output.splitlines()
             if not line.startswith("[")]  # not ipykernel's own log
    said = [line for line in lines if line][-1:]
    for i, line in enumerate(lines):
        if "error" in line.lower():
            paragraph = []
            for more in lines[i:]:
                if not more:
                    break
                paragraph.append(more)
            said = [" ".join(paragraph)] + [s for s in said if s not in paragraph]
            break
    return " | ".join(said)[-400:]


async def run_notebook(nb, kernel: str, timeout: float, cwd: str) -> tuple[bool, str]:  # noqa: ANN001
    from nbclient import NotebookClient
    from nbclient.exceptions import DeadKernelError

    # The budget is for the whole notebook (no per-cell limit): asyncio enforces it.
    client = NotebookClient(nb, kernel_name=kernel, timeout=None, startup_timeout=120,
                            resources={"metadata": {"path": cwd}})
    start = time.monotonic()
    with tempfile.TemporaryFile() as stderr:
        try:
            # The kernel's stderr is kept, so a launcher that fails can say why.
            await asyncio.wait_for(client.async_execute(stderr=stderr), timeout)
        except Exception as exc:  # noqa: BLE001 - any failure is this notebook's result
            # Cancelled at the deadline, nbclient may report the kernel it shut down as dead.
            if isinstance(exc, TimeoutError) or time.monotonic() - start >= timeout:
                return False, f"timed out: still running after {timeout:.0f} s (suite.timeout_s)"
            said = launcher_said(stderr) if isinstance(exc, (DeadKernelError, RuntimeError)) else ""
            return False, describe_error(exc) + (f"; the kernel's launcher said: {said}" if said else "")
    return True, ""


async def smoke(kernel: str, imports: list[str]) -> dict:
    import nbformat

    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(smoke_code(imports))])
    start = time.monotonic()
    passed, detail = await run_notebook(nb, kernel, 180, os.getcwd())
    result = {"passed": passed, "detail": detail, "seconds": round(time.monotonic() - start, 2)}
    for output in nb.cells[0].get("outputs", []):
        text = output.get("text", "")
        if output.get("name") == "stdout" and MARK in text:
            result.update(json.loads(text.split(MARK, 1)[1].splitlines()[0]))
    return result


async def suite(kernel: str, notebooks: list[str], timeout: float, output_dir: Path) -> list[dict]:
    import nbformat

    results = []
    for path in notebooks:
        start = time.monotonic()
        try:
            nb = nbformat.read(path, as_version=4)
        except Exception as exc:  # noqa: BLE001
            results.append({"notebook": path, "passed": False, "seconds": 0.0,
                            "detail": f"cannot read notebook: {describe_error(exc)}"})
            continue
        # Kernel switching: whatever the notebook was saved with, it runs in the release under test.
        nb.metadata["kernelspec"] = {"name": kernel, "display_name": kernel, "language": "python"}
        passed, detail = await run_notebook(nb, kernel, timeout, str(Path(path).parent))
        saved = output_dir / Path(path).name
        nbformat.write(nb, saved)
        results.append({"notebook": path, "passed": passed, "detail": detail, "output": str(saved),
                        "seconds": round(time.monotonic() - start, 2)})
    return results


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(prog="python -m hpchub.kernels.check")
    ap.add_argument("--jupyter-path", required=True)
    ap.add_argument("--kernel", required=True)
    ap.add_argument("--target", default="local")
    ap.add_argument("--imports", default="")
    ap.add_argument("--notebook", action="append", default=[])
    ap.add_argument("--timeout", type=float, default=600)
    ap.add_argument("--output-dir", required=True)
    args = ap.parse_args(argv)
    os.environ["JUPYTER_PATH"] = args.jupyter_path
    output_dir = Path(args.output_dir)
    output_dir.mkdir(parents=True, exist_ok=True)
    imports = [name for name in args.imports.split(",") if name]
    report: dict = {"target": args.target, "host": socket.gethostname()}
    report["smoke"] = asyncio.run(smoke(args.kernel, imports))
    report["suite"] = asyncio.run(suite(args.kernel, args.notebook, args.timeout, output_dir))
    print("\n" + json.dumps(report))
    sys.exit(0)


if __name__ == "__main__":
    main()
