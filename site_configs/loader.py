"""Read a site YAML file into a validated :class:`Site`, with errors that name the key."""

from __future__ import annotations

import functools
from importlib import resources
from pathlib import Path

import yaml
from pydantic import ValidationError

from hpchub.node.contract import SITE as SITE_VARIABLE

from .schema import Site


class SiteConfigError(ValueError):
    """The site config is unreadable or invalid; the message names file and key."""


def key_path(loc: tuple) -> str:
    """Render a pydantic location as ``profiles[2].time``."""
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out or "(top level)"


def describe(error: dict) -> str:
    message = error["msg"].removeprefix("Value error, ")
    if error["type"] == "extra_forbidden":
        message = "unknown key (check the spelling)"
    where = key_path(error["loc"])
    # Cross-reference errors already start with the key they are about.
    return message if where == "(top level)" else f"{where}: {message}"


def yaml_mapping(text: str | bytes, source: str, error: type[Exception] = ValueError) -> dict:
    """A YAML document that must be a mapping; ``error(message naming source)`` otherwise."""
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise error(f"{source}: not valid YAML: {exc}") from None
    if not isinstance(data, dict):
        raise error(f"{source}: expected a mapping of keys at the top level")
    return data


def parse_site(text: str, source: str = "<string>") -> Site:
    data = yaml_mapping(text, source, SiteConfigError)
    try:
        return Site.model_validate(data)
    except ValidationError as exc:
        lines = [describe(e) for e in exc.errors()]
        raise SiteConfigError(f"{source}: invalid site config:\n  " + "\n  ".join(lines)) from None


def load_site(path: str | Path) -> Site:
    """Load a site file, or a bundled site by name (``testbed``, ``perlmutter``)."""
    candidate = Path(path)
    if not candidate.exists() and candidate.suffix == "":
        return bundled_site(str(path))
    try:
        text = candidate.read_text()
    except OSError as exc:
        raise SiteConfigError(f"{path}: cannot read: {exc.strerror}") from None
    return _parsed(text, str(path))


@functools.lru_cache(maxsize=16)
def _parsed(text: str, source: str) -> Site:
    """One Site per file content (it is immutable): every spawner of a hub loads the site, and
    parsing a site of 100 users takes 80 ms, 80 s for 1,000 servers at a hub restart
    (benchmarks/scale.py). A changed file is parsed again."""
    return parse_site(text, source)


def bundled_site(name: str) -> Site:
    """A site config shipped inside the package."""
    res = resources.files("hpchub.site_configs").joinpath(f"{name}.yaml")
    if not res.is_file():
        raise SiteConfigError(f"no site config file {name!r} and no bundled site of that name")
    return parse_site(res.read_text(), f"{name}.yaml")


INSTALLED = ("/etc/hpchub/site.yaml", "/etc/hpchub/generated/site.yaml")


def installed_site(explicit: str | None = None) -> Site:
    """The site config of this machine: ``explicit``, ``$HPCHUB_SITE``, or the installed file."""
    import os

    path = explicit or os.environ.get(SITE_VARIABLE) or next(
        (p for p in INSTALLED if Path(p).exists()), None)
    if not path:
        raise SiteConfigError("no site config found: pass --site, set HPCHUB_SITE, or install "
                              f"one at {INSTALLED[0]}")
    return load_site(path)
