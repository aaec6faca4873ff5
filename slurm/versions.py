"""Which Slurm hpchub talks to: the releases (either backend) and the slurmrestd OpenAPI
versions, in one table with their paths, and how to find what a slurmrestd offers.

hpchub reads and writes the same fields in every version here (they did not change between
them for what it uses); what differs is the path prefix and which Slurm serves it. Slurm 22.05's
``v0.0.38`` (bare integers, a job state string, HTTP 304 for "no change") is not spoken: no
supported Slurm release serves it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from .client import SlurmUnavailable


@dataclass(frozen=True)
class ApiVersion:
    name: str
    served_by: tuple[str, ...]  # Slurm releases (major.minor) that serve it
    paths: tuple[tuple[str, str], ...] = (
        ("jobs", "/slurm/{v}/jobs"),
        ("job", "/slurm/{v}/job/{job_id}"),
        ("submit", "/slurm/{v}/job/submit"),
        ("reservations", "/slurm/{v}/reservations"),
        ("associations", "/slurmdb/{v}/associations"),
        ("accounting", "/slurmdb/{v}/jobs"),
    )

    def path(self, what: str, **names: str) -> str:
        return dict(self.paths)[what].format(v=self.name, **names)


# Newest first: the one chosen is the first a slurmrestd offers (v0.0.42 is the newest that
# 24.11, 25.05 and 25.11 all serve).
VERSIONS = (
    ApiVersion("v0.0.42", ("24.11", "25.05", "25.11", "26.05")),
    ApiVersion("v0.0.41", ("24.05", "24.11", "25.05", "25.11")),
    ApiVersion("v0.0.40", ("23.11", "24.05", "24.11", "25.05")),
)
SPOKEN = tuple(v.name for v in VERSIONS)
# Slurm releases hpchub talks to (both backends), oldest and newest major.minor; 24.11 is the
# one its testbed runs.
OLDEST, NEWEST, TESTED = (23, 11), (26, 5), "24.11"
PATH_VERSION = re.compile(r"^/slurm(db)?/(v\d+\.\d+\.\d+)/jobs/?$")
RELEASE = re.compile(r"(?:^|\D)(\d{2})\.(\d{2})\.(\d+)")


class UnsupportedSlurm(SlurmUnavailable):
    """This Slurm (or its REST API) is one hpchub does not speak; the message says what to do
    (for the poller, Slurm is unavailable: every server's state stays as it was)."""


def offered(spec: Any) -> tuple[str, ...]:
    """The API versions a slurmrestd's ``GET /openapi/v3`` document serves for both Slurm
    (``/slurm/<v>/jobs``) and its accounting (``/slurmdb/<v>/jobs``), newest first."""
    paths = spec.get("paths") if isinstance(spec, dict) else None
    found: dict[str, set[str]] = {}
    for path in paths if isinstance(paths, dict) else ():
        match = PATH_VERSION.match(path)
        if match:
            found.setdefault(match.group(2), set()).add("slurmdb" if match.group(1) else "slurm")
    both = [v for v, parts in found.items() if parts == {"slurm", "slurmdb"}]
    return tuple(sorted(both, key=lambda v: tuple(int(n) for n in v[1:].split(".")), reverse=True))


def release_of(text: str) -> tuple[int, int, int] | None:
    """(major, minor, micro) from ``Slurm-24.11.5&...`` or ``slurm 24.11.5``."""
    match = RELEASE.search(text or "")
    return tuple(int(n) for n in match.groups()) if match else None  # type: ignore[return-value]


def check_release(release: tuple[int, int, int] | None, where: str) -> None:
    """Refuse, in words, a Slurm release outside the supported range."""
    if release is None:
        raise UnsupportedSlurm(f"{where} did not say which Slurm it is: hpchub cannot tell "
                               "whether it can talk to it")
    if not OLDEST <= release[:2] <= NEWEST:
        shown = ".".join(map(str, release))
        raise UnsupportedSlurm(
            f"{where} runs Slurm {shown}; hpchub talks to Slurm {OLDEST[0]}.{OLDEST[1]:02d} to "
            f"{NEWEST[0]}.{NEWEST[1]:02d} (tested: {TESTED}). Upgrade Slurm, or use an hpchub "
            "release made for this one.")


def choose(versions: tuple[str, ...], where: str, spoken: tuple[str, ...] = SPOKEN) -> ApiVersion:
    """The newest version both slurmrestd and hpchub speak (``spoken``: fewer, for a test or
    a center that pins one); :class:`UnsupportedSlurm` if none."""
    for version in VERSIONS:
        if version.name in versions and version.name in spoken:
            return version
    served = ", ".join(versions) or "none (is the openapi/slurmctld and openapi/slurmdbd pair loaded?)"
    raise UnsupportedSlurm(
        f"{where} serves REST API versions {served}; hpchub speaks {', '.join(SPOKEN)}. Start "
        "slurmrestd with `-s openapi/slurmctld,openapi/slurmdbd` on Slurm 23.11 or newer.")
