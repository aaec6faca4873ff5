"""The node image: build context, source fingerprint, and the build itself."""

from __future__ import annotations

import functools
import hashlib
import shutil
import subprocess
import sys
import time
import tomllib
from concurrent.futures import ThreadPoolExecutor
from importlib import metadata, resources
from pathlib import Path

import docker
from docker.errors import APIError, NotFound

from hpchub.node.start_up import PEM

from .engine import TestbedError, client

# node: every cluster node (the runtime without hub-only packages); hub: the hub off the
# cluster (no Slurm); hub-cli: the hub on a submit host (node + the hub's packages).
IMAGES = {"node": "hpchub/node:latest", "hub": "hpchub/hub:latest", "hub-cli": "hpchub/hub-cli:latest"}
STAGE = "hpchub/stage:{}"  # intermediate images the final two are built from
SOURCE = Path(__file__).resolve().parent.parent


def build_image(cli: docker.DockerClient, state: Path) -> dict[str, str]:
    """Build the node and hub images unless both exist from the same sources; their ids."""
    ctx = state / "build"
    shutil.rmtree(ctx, ignore_errors=True)
    ctx.mkdir(parents=True)
    shutil.copytree(Path(str(resources.files("hpchub.containers").joinpath("images"))), ctx,
                    dirs_exist_ok=True)
    split_ca_bundle(Path("/etc/ssl/certs/ca-certificates.crt"), ctx / "host-ca")
    (ctx / "requirements-node.txt").write_text("\n".join(node_requirements()) + "\n")
    (ctx / "requirements-hub.txt").write_text("\n".join(node_requirements("hub")) + "\n")
    source = source_hash(ctx)
    try:
        images = {target: cli.images.get(tag) for target, tag in IMAGES.items()}
        if all(image.labels.get("hpchub.source") == source for image in images.values()):
            return {target: image.id for target, image in images.items()}
    except NotFound:
        pass
    (ctx / "wheels").mkdir()
    build_labextensions()
    build_wheel(ctx / "wheels")
    install_chp(state / "chp", ctx / "chp")
    logs = state / "build-logs"
    shutil.rmtree(logs, ignore_errors=True)
    logs.mkdir()
    build = functools.partial(build_target, ctx=ctx, source=source, logs=logs)
    build(cli.api, "system", STAGE.format("system"))
    # Independent stages at once: the runtime's Python packages and the nodes' Debian packages.
    with ThreadPoolExecutor(2) as pool:
        debs = pool.submit(build, client().api, "node-debs", STAGE.format("node-debs"))
        build(cli.api, "runtime", STAGE.format("runtime"))
        hub = pool.submit(build, client().api, "hub", IMAGES["hub"])  # needs only the runtime
        debs.result()
        build(cli.api, "node", IMAGES["node"])
        build(cli.api, "hub-cli", IMAGES["hub-cli"])  # node + the hub's packages
        hub.result()
    return {target: cli.images.get(tag).id for target, tag in IMAGES.items()}


def build_target(api: docker.APIClient, name: str, tag: str, *, ctx: Path, source: str,
                 logs: Path) -> None:
    """The image of ``images/<name>.Dockerfile``, tagged ``tag``."""
    logfile = logs / f"{name}.log"
    started = time.monotonic()
    with logfile.open("w") as log:
        try:
            # Only the final images carry the source label: a label on a stage would change its
            # id with every source change and rebuild every stage after it.
            labels = {"hpchub.source": source} if tag in IMAGES.values() else None
            for chunk in api.build(path=str(ctx), dockerfile=f"{name}.Dockerfile", tag=tag,
                                   rm=True, decode=True, labels=labels):
                if "stream" in chunk:
                    log.write(chunk["stream"])
                if "error" in chunk:
                    log.write(chunk["error"])
                    raise TestbedError(f"image build failed: {chunk['error'].strip()}"
                                       f" (full log: {logfile})")
        except APIError as exc:
            raise TestbedError(f"image build failed: {exc} (full log: {logfile})") from None
        log.write(f"hpchub: image {name} took {time.monotonic() - started:.1f} s\n")


CHP_VERSION = "5.3.0"


def install_chp(cache: Path, target: Path) -> None:
    """configurable-http-proxy from the npm registry (cached; pure JavaScript)."""
    marker = cache / f".chp-{CHP_VERSION}"
    if not marker.exists():
        shutil.rmtree(cache, ignore_errors=True)
        cache.mkdir(parents=True)
        npm = shutil.which("npm")
        if not npm:
            raise TestbedError("no npm: run `scripts/bootstrap-host` (installs Debian's npm)")
        done = subprocess.run([npm, "install", "--prefix", str(cache), "--no-fund", "--no-audit",
                               f"configurable-http-proxy@{CHP_VERSION}"],
                              capture_output=True, text=True)
        if done.returncode:
            raise TestbedError("npm install configurable-http-proxy failed:\n" + done.stderr[-2000:])
        marker.touch()
    shutil.copytree(cache, target, symlinks=True, ignore=shutil.ignore_patterns(".chp-*"))


def split_ca_bundle(bundle: Path, out: Path) -> None:
    """The host's CA bundle as one certificate per file, as ``update-ca-certificates`` wants
    local CAs: each then gets OpenSSL's hash link too, so a lookup in ``/etc/ssl/certs``
    trusts the same CAs as the bundle (which :mod:`hpchub.node.start_up` relies on)."""
    out.mkdir()
    for i, pem in enumerate(dict.fromkeys(PEM.findall(bundle.read_bytes()))):
        (out / f"host-ca-{i:03d}.crt").write_bytes(pem + b"\n")


def build_labextensions() -> None:
    """hpchub's JupyterLab extensions, from TypeScript, into the sources the wheel ships."""
    done = subprocess.run([str(SOURCE / "scripts" / "build-labextensions")],
                          capture_output=True, text=True)
    if done.returncode:
        raise TestbedError("building the JupyterLab extensions failed:\n"
                           + (done.stdout + done.stderr)[-2000:])


def build_wheel(out: Path) -> None:
    """A wheel of this checkout."""
    if not (SOURCE / "pyproject.toml").exists():
        raise TestbedError("build the image from a source checkout of hpchub (no pyproject.toml)")
    # setuptools reuses build/ and would ship files since deleted from the checkout.
    shutil.rmtree(SOURCE / "build", ignore_errors=True)
    done = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q",
         "-w", str(out), str(SOURCE)],
        capture_output=True, text=True,
    )
    if done.returncode:
        raise TestbedError("building the hpchub wheel failed:\n" + done.stderr[-2000:])


def node_requirements(extra: str = "node") -> list[str]:
    """From the installed metadata: hpchub's own dependencies plus its ``node`` extra, or
    (``extra="hub"``) only what the hub needs besides."""
    reqs = []
    for req in metadata.requires("hpchub") or []:
        spec, _, marker = req.partition(";")
        if (not marker and extra == "node") or f'extra == "{extra}"' in marker:
            reqs.append(spec.strip())
    return reqs


def source_hash(context: Path) -> str:
    """Hash of what goes into the image: the build context files and hpchub's sources."""
    digest = hashlib.sha256()
    files = sorted(p for p in context.rglob("*") if p.is_file())
    tracked = subprocess.run(["git", "-C", str(SOURCE), "ls-files", "-co", "--exclude-standard"],
                             capture_output=True, text=True)
    names = tracked.stdout.split() if tracked.returncode == 0 else []
    pyproject = tomllib.loads((SOURCE / "pyproject.toml").read_text())
    packaged = tuple(f"{folder}/" for folder in pyproject["tool"]["setuptools"]["package-dir"].values())
    files += sorted(SOURCE / n for n in names if n.startswith(packaged) or n == "pyproject.toml")
    for path in files:
        if path.is_file():
            digest.update(str(path.relative_to(SOURCE if path.is_relative_to(SOURCE) else context)
                              ).encode() + b"\0" + path.read_bytes())
    return digest.hexdigest()[:20]
