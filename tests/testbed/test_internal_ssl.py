"""Internal SSL on the testbed: every server speaks only mutual TLS, with its own certificate."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))
from hubclient import HubUser  # noqa: E402

INSIDE = """
import json, os, socket, stat
from urllib.parse import urlparse
key = os.environ["JUPYTERHUB_SSL_KEYFILE"]
print(json.dumps({
    "host": socket.gethostname(),
    "port": urlparse(os.environ["JUPYTERHUB_SERVICE_URL"]).port,
    "key": key,
    "key_mode": oct(stat.S_IMODE(os.stat(key).st_mode)),
    "dir_mode": oct(stat.S_IMODE(os.stat(os.path.dirname(key)).st_mode)),
    "pem_in_env": sorted(k for k in os.environ if k.startswith("HPCHUB_SSL")),
    "api": os.environ["JUPYTERHUB_API_URL"],
}))
"""


@pytest.fixture(scope="module")
def dave(testbed):
    user = HubUser(testbed, "dave")
    for name in ("tls", "tlsshared"):
        user.stop(name)
    yield user
    for name in ("tls", "tlsshared"):
        user.stop(name)


def inside(user: HubUser, name: str, profile: str) -> dict:
    user.start(name, {"profile": profile})
    return json.loads(user.run_code(name, INSIDE).strip().splitlines()[-1])


def presented_names(testbed, host: str, port: int) -> str:
    """The server certificate's names, as seen by a client without a certificate."""
    out = testbed.exec("login1", "bash", "-c",
                       f"openssl s_client -connect {host}:{port} </dev/null 2>/dev/null"
                       " | openssl x509 -noout -ext subjectAltName").output
    return out


@pytest.mark.parametrize(("name", "profile", "nodes", "not_nodes"), [
    ("tls", "debug", {"c1", "c2", "c3"}, {"g1", "login1"}),
    ("tlsshared", "shared", {"login1"}, {"c1", "g1"}),
])
def test_server_speaks_only_mutual_tls_with_its_own_private_certificate(
        testbed, dave, name, profile, nodes, not_nodes):
    seen = inside(dave, name, profile)
    assert seen["api"].startswith("https://"), seen
    assert seen["key_mode"] == "0o600" and seen["dir_mode"] == "0o700", seen
    assert seen["pem_in_env"] == [], "the kernel inherited the key's PEM text"
    host, port = seen["host"], seen["port"]

    names = presented_names(testbed, host, port)
    for node in nodes:
        assert f"DNS:{node}" in names, names
    for node in not_nodes:
        assert f"DNS:{node}" not in names, names

    # From another node: plain HTTP and TLS without a client certificate are both refused.
    plain = testbed.exec("login1" if host != "login1" else "c1", "curl", "-s", "-o", "/dev/null",
                         "-w", "%{http_code}", "--max-time", "5", f"http://{host}:{port}/")
    assert plain.output.strip() in ("000", "400"), plain.output
    no_cert = testbed.exec("login1" if host != "login1" else "c1", "curl", "-sk", "-o",
                           "/dev/null", "-w", "%{http_code}", "--max-time", "5",
                           f"https://{host}:{port}{dave.server(name)['url']}api/status")
    assert no_cert.output.strip() == "000", no_cert.output

    # Through the proxy (which has a client certificate) the server answers.
    assert dave.server_get(name, "api/status").status_code == 200

    # The private directory goes with the server.
    dave.stop(name)
    left = testbed.exec(host, "bash", "-c", f"ls -d {Path(seen['key']).parent} 2>&1; true")
    assert "No such file" in left.output, left.output
