"""Run commands as argv lists (never through a shell), optionally as a user through sudo."""

from __future__ import annotations

import asyncio
import subprocess
from dataclasses import dataclass


@dataclass(frozen=True)
class Result:
    code: int
    out: str
    err: str

    @property
    def ok(self) -> bool:
        return self.code == 0


class CommandTimeout(RuntimeError):
    """The command did not finish in time (Slurm controller busy or down)."""


def as_user(user: str, argv: list[str]) -> list[str]:
    """Prefix for running ``argv`` as ``user`` through the hub's narrow sudoers rule."""
    return ["sudo", "-n", "-u", user, "--", *argv]


async def run(argv: list[str], stdin: str | None = None, timeout: float = 30) -> Result:
    proc = await asyncio.create_subprocess_exec(
        *argv,
        stdin=asyncio.subprocess.PIPE if stdin is not None else asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    try:
        async with asyncio.timeout(timeout):
            out, err = await proc.communicate(stdin.encode() if stdin is not None else None)
    except TimeoutError:
        proc.kill()
        await proc.wait()
        raise CommandTimeout(f"{argv[0]} did not answer within {timeout:.0f} s") from None
    return Result(proc.returncode or 0, out.decode(errors="replace"), err.decode(errors="replace"))



def run_sync(argv: list[str], timeout: float = 30) -> Result:
    """:func:`run` for callers without an event loop of their own (notebook code, services)."""
    try:
        out = subprocess.run(argv, capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        raise CommandTimeout(f"{argv[0]} did not answer within {timeout:.0f} s") from None
    return Result(out.returncode, out.stdout, out.stderr)
