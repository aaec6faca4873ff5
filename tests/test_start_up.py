"""A server's start-up window (hpchub.spawners.start_up): CA lookup without the bundle where
that keeps the same trust, no garbage collection until serving, everything restored after."""

from __future__ import annotations

import json
import os
import socket
import ssl
import subprocess
import sys
import threading
from pathlib import Path
from types import SimpleNamespace

from hpchub.spawners import certs, start_up
from test_certs import (
    ca,  # noqa: F401 - the CA fixture
    write_pems,
)


def fake_paths(monkeypatch, cafile, capath) -> None:
    monkeypatch.setattr(start_up.ssl, "get_default_verify_paths",
                        lambda: SimpleNamespace(cafile=cafile, capath=capath))


def pem(i: int) -> str:
    return f"-----BEGIN CERTIFICATE-----\nCERT{i}\n-----END CERTIFICATE-----\n"


def bundle_and_dir(root, in_bundle: int, hashed: int) -> tuple[str, str]:
    """A bundle of certificates 0..in_bundle-1; a directory with 0..hashed-1 under hash names."""
    directory = root / "certs"
    directory.mkdir(parents=True)
    bundle = root / "bundle.pem"
    bundle.write_text("".join(pem(i) for i in range(in_bundle)))
    for i in range(hashed):
        (directory / f"{i:08x}.0").write_text(pem(i))
    (directory / "ca-extra.pem").write_text(pem(in_bundle - 1))  # no hash name: not looked up
    return str(bundle), str(directory)


def test_bundle_is_skipped_only_when_the_directory_holds_every_ca(tmp_path, monkeypatch):
    monkeypatch.delenv("SSL_CERT_FILE", raising=False)
    fake_paths(monkeypatch, *bundle_and_dir(tmp_path / "debian", 3, 3))
    assert start_up.ca_lookup_env() == {"SSL_CERT_FILE": os.devnull}
    fake_paths(monkeypatch, *bundle_and_dir(tmp_path / "partial", 3, 2))
    assert start_up.ca_lookup_env() == {}  # a CA only in the bundle: it must stay


def test_same_count_is_not_enough_the_same_certificates_are_needed(tmp_path, monkeypatch):
    monkeypatch.delenv("SSL_CERT_FILE", raising=False)
    bundle, directory = bundle_and_dir(tmp_path, 2, 2)
    Path(directory, "00000000.1").write_text(pem(0))  # a duplicate link...
    Path(directory, "00000001.0").write_text(pem(7))  # ...and a different CA in its place
    fake_paths(monkeypatch, bundle, directory)
    assert start_up.ca_lookup_env() == {}


def test_a_site_bundle_or_missing_paths_are_left_alone(tmp_path, monkeypatch):
    fake_paths(monkeypatch, *bundle_and_dir(tmp_path, 1, 1))
    monkeypatch.setenv("SSL_CERT_FILE", "/site/bundle.pem")
    assert start_up.ca_lookup_env() == {}
    monkeypatch.delenv("SSL_CERT_FILE")
    fake_paths(monkeypatch, None, str(tmp_path))
    assert start_up.ca_lookup_env() == {}


def test_directory_lookup_verifies_like_the_bundle(tmp_path, ca):  # noqa: F811
    """The premise: with the bundle skipped, OpenSSL still finds the CA in a hashed directory."""
    ca_key, ca_cert = ca
    directory = tmp_path / "certs"
    directory.mkdir()
    (directory / "ca.pem").write_bytes(ca_cert)
    subprocess.run(["openssl", "rehash", str(directory)], check=True)
    files = write_pems(tmp_path, certs.issue(ca_key, ca_cert, ca_cert.decode(), "s", ["node7"]))
    server_ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    server_ctx.load_cert_chain(files["cert"], files["key"])
    listener = socket.create_server(("127.0.0.1", 0))

    def serve() -> None:
        conn, _ = listener.accept()
        with server_ctx.wrap_socket(conn, server_side=True) as tls:
            tls.recv(1)

    threading.Thread(target=serve, daemon=True).start()
    code = ("import socket, ssl, sys; ctx = ssl.create_default_context(); "
            "s = socket.create_connection(('127.0.0.1', int(sys.argv[1]))); "
            "t = ctx.wrap_socket(s, server_hostname='node7'); t.send(b'x'); "
            "print(len(ctx.get_ca_certs()))")
    env = {**os.environ, "SSL_CERT_FILE": os.devnull, "SSL_CERT_DIR": str(directory)}
    done = subprocess.run([sys.executable, "-c", code, str(listener.getsockname()[1])],
                          env=env, capture_output=True, text=True, timeout=30)
    listener.close()
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "1"  # the CA was looked up, not loaded in advance


WINDOW = """
import gc, json, os, sys
from hpchub.spawners import start_up
start_up.ca_lookup_env = lambda: {"SSL_CERT_FILE": os.devnull}
start_up.begin()
during = {"gc": gc.isenabled(), "env": os.environ.get("SSL_CERT_FILE")}
start_up.end()
after = {"gc": gc.isenabled(), "env": os.environ.get("SSL_CERT_FILE"), "frozen": gc.get_freeze_count() > 0}
start_up.settle()
settled = {"frozen": gc.get_freeze_count()}
print(json.dumps([during, after, settled]))
"""


def test_the_window_is_closed_once_serving():
    env = {k: v for k, v in os.environ.items() if k != "SSL_CERT_FILE"}
    done = subprocess.run([sys.executable, "-c", WINDOW], env=env, capture_output=True,
                          text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    during, after, settled = json.loads(done.stdout)
    assert during == {"gc": False, "env": os.devnull}
    assert after == {"gc": True, "env": None, "frozen": True}
    assert settled == {"frozen": 0}  # start-up's garbage can be collected after all
