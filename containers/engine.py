"""The Docker engine and the local ``debian:trixie`` (Debian 13) base image.

No registry is assumed: when the base image is missing it is made with ``debootstrap`` from
the Debian mirror this machine's apt is configured with (whatever Debian the machine itself
runs), then ``docker import``-ed.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

import docker
from docker.errors import DockerException, ImageNotFound

SUITE = "trixie"
BASE_IMAGE = f"debian:{SUITE}"
PYTHON = "python3.13"  # Debian 13's, which the nodes' runtime and example environments use
DEBIAN_SUITES = ("bookworm", "trixie", "forky", "sid")
DOCKERD_LOG = Path("/var/log/hpchub/dockerd.log")


class TestbedError(RuntimeError):
    """Something in the testbed did not come up; the message says what and how to look."""


def client(start: bool = True, wait_s: float = 60) -> docker.DockerClient:
    """A client for the local engine, starting ``dockerd`` by hand when none runs."""
    try:
        cli = docker.from_env(timeout=300)
        cli.ping()
        return cli
    except DockerException:
        if not start:
            raise
    dockerd = shutil.which("dockerd")
    if not dockerd:
        raise TestbedError("no Docker engine: run `scripts/bootstrap-host` (installs docker.io)")
    DOCKERD_LOG.parent.mkdir(parents=True, exist_ok=True)
    with DOCKERD_LOG.open("ab") as log:
        subprocess.Popen([dockerd], stdout=log, stderr=log, start_new_session=True)
    deadline = time.monotonic() + wait_s
    while time.monotonic() < deadline:
        try:
            cli = docker.from_env(timeout=300)
            cli.ping()
            return cli
        except DockerException:
            time.sleep(0.5)
    tail = DOCKERD_LOG.read_text(errors="replace").splitlines()[-10:]
    raise TestbedError(f"dockerd did not answer within {wait_s:.0f} s:\n" + "\n".join(tail))


def apt_mirror(sources_dir: Path = Path("/etc/apt")) -> str:
    """The Debian mirror URI this machine's apt uses for the main archive (of any release: the
    same mirror serves them all)."""
    texts = [p.read_text() for p in sorted((sources_dir / "sources.list.d").glob("*.sources"))]
    for text in texts:
        for stanza in text.split("\n\n"):
            uris = re.search(r"^URIs:\s*(\S+)", stanza, re.M)
            suites = re.search(r"^Suites:\s*(.+)$", stanza, re.M)
            if uris and suites and set(DEBIAN_SUITES) & set(suites.group(1).split()):
                return uris.group(1)
    legacy = sources_dir / "sources.list"
    names = "|".join(DEBIAN_SUITES)
    if legacy.exists():
        match = re.search(rf"^deb\s+(?:\[[^\]]*\]\s+)?(\S+)\s+({names})\s", legacy.read_text(), re.M)
        if match:
            return match.group(1)
    raise TestbedError("cannot find a Debian mirror in /etc/apt: set one up for apt")


def ensure_base_image(cli: docker.DockerClient) -> bool:
    """Make ``debian:trixie`` locally if missing. Returns True when it had to be built."""
    try:
        cli.images.get(BASE_IMAGE)
        return False
    except ImageNotFound:
        pass
    if not shutil.which("debootstrap"):
        raise TestbedError("no debootstrap: run `scripts/bootstrap-host`")
    with tempfile.TemporaryDirectory(prefix="hpchub-rootfs-") as root:
        done = subprocess.run(
            ["debootstrap", "--variant=minbase", SUITE, root, apt_mirror()],
            capture_output=True, text=True,
        )
        if done.returncode:
            raise TestbedError("debootstrap failed:\n" + done.stdout[-2000:] + done.stderr[-2000:])
        tar = subprocess.Popen(["tar", "-C", root, "-c", "."], stdout=subprocess.PIPE)
        imported = subprocess.run(["docker", "import", "-", BASE_IMAGE], stdin=tar.stdout,
                                  capture_output=True, text=True)
        tar.wait()
        if imported.returncode:
            raise TestbedError("docker import of the base image failed: " + imported.stderr)
    return True
