"""A kernel release spec: the small YAML file a kernel maintainer writes per release.

Example (``desi-26.3.yaml``)::

    collaboration: desi
    version: "26.3"
    display_name: DESI 26.3
    environment: {kind: venv, prefix: /global/common/software/desi/envs/26.3}
    env: {DESI_ROOT: /global/cfs/desi}
    smoke_imports: [numpy, desiutil]
    suite: {notebooks: ["tests/*.ipynb"], exclude: ["tests/slow_*"], timeout_s: 600}
"""

from __future__ import annotations

import hashlib
import re
from pathlib import Path
from typing import Literal

from pydantic import Field, ValidationError, field_validator, model_validator

from hpchub.site_configs.loader import describe, yaml_mapping
from hpchub.site_configs.schema import Strict
from hpchub.slurm.jobs import ENV_NAME

VERSION = r"^[0-9a-z][0-9a-z._-]{0,31}$"
MODULE_NAME = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_./+-]{0,127}$")
IMPORT_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*$")


class ReleaseError(Exception):
    """A release spec or a registry operation is wrong; the message says what to fix."""


class Environment(Strict):
    """How the kernel enters the release's software environment."""

    kind: Literal["venv", "conda", "modules", "container"]
    prefix: str | None = Field(default=None, description="venv/conda: the environment's prefix")
    modules: tuple[str, ...] = Field(default=(), description="modules: `module load` these")
    python: str = Field(default="python3", description="modules/container: interpreter to run")
    image: str | None = Field(default=None, description=(
        "container: image (a .sif path for apptainer; an image directory made by "
        "`hpchub kernels unpack-image` for podman)"))
    runtime: Literal["podman", "apptainer", "podman-hpc", "shifter"] | None = None

    @field_validator("modules")
    @classmethod
    def _modules(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        for name in value:
            if not MODULE_NAME.match(name):
                raise ValueError(f"module name {name!r} has characters a module name cannot have")
        return value

    @model_validator(mode="after")
    def _needs(self) -> Environment:
        if self.kind in ("venv", "conda"):
            if not self.prefix or not self.prefix.startswith("/"):
                raise ValueError(f"a {self.kind} environment needs an absolute 'prefix'")
        if self.kind == "modules" and not self.modules:
            raise ValueError("a 'modules' environment needs at least one entry in 'modules'")
        if self.kind == "container" and not (self.image and self.runtime):
            raise ValueError("a 'container' environment needs 'image' and 'runtime'")
        if self.kind == "container" and self.runtime in ("podman", "apptainer") \
                and not self.image.startswith("/"):
            raise ValueError(f"a {self.runtime} image is a path on the shared software area: "
                             "give it as an absolute path")
        return self


class Suite(Strict):
    """The release's notebook suite: run at validation, each notebook in the release's kernel."""

    notebooks: tuple[str, ...] = Field(min_length=1, description="glob patterns, relative to the spec")
    exclude: tuple[str, ...] = ()
    timeout_s: int = Field(default=600, ge=10, le=86400, description="per notebook")


class ReleaseSpec(Strict):
    collaboration: str = Field(pattern=r"^[a-z][a-z0-9_-]{0,31}$")
    version: str = Field(pattern=VERSION)
    display_name: str = Field(min_length=1, max_length=80)
    environment: Environment
    env: dict[str, str] = {}
    logo: str | None = Field(default=None, description="PNG file, relative to the spec")
    smoke_imports: tuple[str, ...] = ()
    suite: Suite | None = None

    @field_validator("env")
    @classmethod
    def _env(cls, value: dict[str, str]) -> dict[str, str]:
        for name, val in value.items():
            if not ENV_NAME.match(name):
                raise ValueError(f"environment variable name {name!r} is not valid")
            if "\x00" in val or "\n" in val:
                raise ValueError(f"environment variable {name} contains a newline or NUL")
        return value

    @field_validator("smoke_imports")
    @classmethod
    def _imports(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        for name in value:
            if not IMPORT_NAME.match(name):
                raise ValueError(f"{name!r} is not a Python module name")
        return value

    @field_validator("display_name")
    @classmethod
    def _display(cls, value: str) -> str:
        if any(ord(ch) < 32 for ch in value):
            raise ValueError("display_name contains control characters")
        return value

    @property
    def kernel_name(self) -> str:
        """The kernelspec name, e.g. ``desi-26.3``."""
        return f"{self.collaboration}-{self.version}"


class LoadedSpec(Strict):
    """A spec with the directory its relative paths are resolved against."""

    spec: ReleaseSpec
    base: Path
    digest: str

    def path(self, relative: str) -> Path:
        return (self.base / relative).resolve()


def load_spec(path: str | Path) -> LoadedSpec:
    """Read and check a spec file; every error names the key and the file."""
    path = Path(path)
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise ReleaseError(f"cannot read release spec {path}: {exc.strerror}") from None
    data = yaml_mapping(raw, str(path), ReleaseError)
    try:
        spec = ReleaseSpec.model_validate(data)
    except ValidationError as exc:
        raise ReleaseError(f"{path}: {describe(exc.errors()[0])}") from None
    return LoadedSpec(spec=spec, base=path.resolve().parent, digest=hashlib.sha256(raw).hexdigest())
