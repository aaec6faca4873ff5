"""The batch script of a server job: exported environment and the server command, every value
shell-quoted (the Slurm flags travel as argv, see :mod:`hpchub.slurm.flags`)."""

from __future__ import annotations

import shlex
from importlib import resources

import jinja2

from hpchub.slurm.jobs import ENV_NAME

_ENV = jinja2.Environment(undefined=jinja2.StrictUndefined, autoescape=False,
                          keep_trailing_newline=True, trim_blocks=True, lstrip_blocks=True)
_ENV.filters["shquote"] = lambda value: shlex.quote(str(value))


def render_script(*, user: str, profile: str, env: dict[str, str], command: list[str],
                  runtime_bin: str, grace_s: int, stop_after_s: int,
                  template: str | None = None) -> str:
    bad = [k for k in env if not ENV_NAME.match(k)]
    if bad:
        raise ValueError(f"invalid environment variable names: {bad}")
    text = template or resources.files("hpchub.spawners").joinpath(
        "templates/singleuser.sh.j2").read_text()
    return _ENV.from_string(text).render(user=user, profile=profile, env=env, command=command,
                                         runtime_bin=runtime_bin, grace_s=grace_s,
                                         stop_after_s=stop_after_s)
