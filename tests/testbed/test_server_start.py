"""JupyterLab starts in a job without running node (hpchub.node.fast_start), and its
start-up window (hpchub.node.start_up) is closed before kernels start."""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from hubclient import HubUser  # noqa: E402

PYTHON = "/opt/hpchub/venv/bin/python"
FAKE_NODE = "/tmp/hpchub-fake-node"

# A `node` first on the PATH that leaves a mark when JupyterLab runs it.
SETUP = f"""
rm -rf {FAKE_NODE}; mkdir -p {FAKE_NODE}
printf '#!/bin/sh\\necho ran >> {FAKE_NODE}/ran\\nexit 1\\n' > {FAKE_NODE}/node
chmod +x {FAKE_NODE}/node
"""


def import_with_fake_node(testbed, code: str) -> tuple[bool, str]:
    script = (SETUP + f"cd /tmp && PATH={FAKE_NODE}:$PATH {PYTHON} -c {code!r} && "
              f"test -e {FAKE_NODE}/ran && echo NODE-RAN || echo NODE-NOT-RUN")
    result = testbed.exec("c1", "bash", "-c", script, user="alice")
    assert result.ok, result.output
    return "NODE-RAN" in result.output, result.output


def test_plain_jupyterlab_import_runs_node(testbed):
    """The cost fast_start removes is real: importing JupyterLab's app runs node."""
    ran, output = import_with_fake_node(testbed, "import jupyterlab.labapp")
    assert ran, output


def test_fast_start_imports_jupyterlab_without_node_and_restores_the_lookup(testbed):
    code = ("from hpchub.node.fast_start import import_lab_without_node; "
            "import_lab_without_node(); import jupyterlab.commands as c, jupyterlab.labapp as l; "
            "assert c._yarn_config.__name__ == '_yarn_config', c._yarn_config; "
            "assert l.app_version, l.app_version")
    ran, output = import_with_fake_node(testbed, code)
    assert not ran, output


def test_jupyterlab_does_not_call_out_for_news_or_updates(testbed):
    """Compute nodes often have no internet: no news prompt, no update check (hpchub-center.json)."""
    dave = HubUser(testbed, "dave")
    dave.stop("quiet")
    dave.start("quiet", {"profile": "shared"})
    try:
        page = dave.server_get("quiet", "lab").text
        data = re.search(r'id="jupyter-config-data"[^>]*>(.*?)</script>', page, re.S)
        assert data, page[:500]
        assert json.loads(data.group(1))["news"] == {"disabled": True}
        update = dave.server_get("quiet", "lab/api/update")
        assert update.status_code == 200 and update.json()["notification"] is None, update.text
    finally:
        dave.stop("quiet")


WINDOW_CLOSED = """
import json, os, ssl
log = os.path.expanduser(f"~/.hpchub-jupyter-{os.environ['SLURM_JOB_ID']}.log")
print(json.dumps({
    "ssl_cert_file": os.environ.get("SSL_CERT_FILE"),
    "cas_loaded": len(ssl.create_default_context().get_ca_certs()),
    "serving": [line for line in open(log) if "hpchub: serving" in line],
}))
"""


def test_start_up_window_is_closed_before_kernels_start(testbed):
    """hpchub.node.start_up: the server says when it serves; kernels get the normal CA
    bundle (no start-up override in their environment)."""
    dave = HubUser(testbed, "dave")
    dave.stop("window")
    dave.start("window", {"profile": "debug"})
    try:
        seen = json.loads(dave.run_code("window", WINDOW_CLOSED).strip().splitlines()[-1])
    finally:
        dave.stop("window")
    assert seen["ssl_cert_file"] is None, seen
    assert seen["cas_loaded"] > 0, seen
    assert len(seen["serving"]) == 1, seen
    assert re.search(r"serving \d+\.\d\d s after", seen["serving"][0]), seen
    # The testbed's image installs its extra CAs one per file (hashed): the bundle's parse
    # is skipped during start-up (hpchub.containers.image.split_ca_bundle).
    assert "system CA bundle skipped" in seen["serving"][0], seen
