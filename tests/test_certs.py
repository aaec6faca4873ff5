"""Per-server internal SSL certificates: issued in memory, valid only on the named nodes,
written privately in the job, and usable for mutual TLS with the hub."""

from __future__ import annotations

import datetime
import socket
import ssl
import stat
import threading

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID

from hpchub.node import server_certs
from hpchub.spawners import certs


@pytest.fixture(scope="module")
def ca():
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "notebooks-ca")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name)
            .public_key(key.public_key()).serial_number(1)
            .not_valid_before(now).not_valid_after(now + datetime.timedelta(days=1))
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
            .add_extension(x509.KeyUsage(digital_signature=False, content_commitment=False,
                                         key_encipherment=False, data_encipherment=False,
                                         key_agreement=False, key_cert_sign=True, crl_sign=True,
                                         encipher_only=False, decipher_only=False), critical=True)
            .sign(key, hashes.SHA256()))  # a CA as JupyterHub's (certipy) makes it
    key_pem = key.private_bytes(serialization.Encoding.PEM,
                                serialization.PrivateFormat.TraditionalOpenSSL,
                                serialization.NoEncryption())
    return key_pem, cert.public_bytes(serialization.Encoding.PEM)


def write_pems(tmp_path, pems):
    for part, text in pems.items():
        (tmp_path / f"{part}.pem").write_text(text)
    return {part: str(tmp_path / f"{part}.pem") for part in pems}


def handshake(server_files: dict, ca_pem: bytes, hostname: str) -> None:
    """A TLS server with the issued certificate; a client that checks ``hostname``."""
    server_ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    server_ctx.load_cert_chain(server_files["cert"], server_files["key"])
    client_ctx = ssl.create_default_context(cadata=ca_pem.decode())
    client_ctx.verify_flags |= ssl.VERIFY_X509_STRICT  # Python 3.13's default, as on the nodes
    listener = socket.create_server(("127.0.0.1", 0))
    port = listener.getsockname()[1]

    def serve():
        conn, _ = listener.accept()
        try:
            with server_ctx.wrap_socket(conn, server_side=True):
                pass
        except (ssl.SSLError, OSError):
            pass

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        with socket.create_connection(("127.0.0.1", port)) as raw:
            with client_ctx.wrap_socket(raw, server_hostname=hostname):
                pass
    finally:
        listener.close()
        thread.join(5)


def test_certificate_is_valid_on_the_named_nodes_only(ca, tmp_path):
    pems = certs.issue(*ca, ca[1].decode(), "alice/gpu", ["g1", "c2"])
    files = write_pems(tmp_path, pems)
    handshake(files, ca[1], "g1")
    handshake(files, ca[1], "c2")
    with pytest.raises(ssl.SSLCertVerificationError, match="c3"):
        handshake(files, ca[1], "c3")


def test_each_server_gets_its_own_key(ca):
    one = certs.issue(*ca, "", "alice/a", ["c1"])
    two = certs.issue(*ca, "", "alice/b", ["c1"])
    assert one["key"] != two["key"] and one["cert"] != two["cert"]


def test_job_env_carries_pem_text_instead_of_hub_paths():
    env = {"JUPYTERHUB_SSL_KEYFILE": "/srv/hub/key", "JUPYTERHUB_SSL_CERTFILE": "/srv/hub/crt",
           "JUPYTERHUB_SSL_CLIENT_CA": "/srv/hub/ca", "JUPYTERHUB_API_URL": "https://hub:8081"}
    out = certs.env_with_pems(env, {"key": "K", "cert": "C", "ca": "A"})
    assert out == {"JUPYTERHUB_API_URL": "https://hub:8081", "HPCHUB_SSL_KEY": "K",
                   "HPCHUB_SSL_CERT": "C", "HPCHUB_SSL_CA": "A"}
    assert certs.env_with_pems(env, None) is env


def test_job_writes_private_files_and_drops_the_pem_text(ca):
    pems = certs.issue(*ca, ca[1].decode(), "alice/x", ["c1"])
    env = {"HPCHUB_SSL_KEY": pems["key"], "HPCHUB_SSL_CERT": pems["cert"],
           "HPCHUB_SSL_CA": pems["ca"], "OTHER": "kept"}
    directory = server_certs.write_from_env(env)
    try:
        assert stat.S_IMODE(directory.stat().st_mode) == 0o700
        assert stat.S_IMODE((directory / "key.pem").stat().st_mode) == 0o600
        assert not any(k.startswith("HPCHUB_SSL_") for k in env)
        assert open(env["JUPYTERHUB_SSL_KEYFILE"]).read() == pems["key"]
        assert env["OTHER"] == "kept"
        context = server_certs.hub_client_context(env)
        assert context.verify_mode == ssl.CERT_REQUIRED and context.check_hostname
    finally:
        import shutil
        shutil.rmtree(directory)


def test_without_internal_ssl_nothing_changes():
    env = {"JUPYTERHUB_API_URL": "http://hub:8081"}
    assert server_certs.write_from_env(env) is None
    assert server_certs.hub_client_context(env) is None


def test_the_ca_key_is_loaded_once_for_many_servers(ca):
    """Loading an RSA CA key checks it (70 ms on the testbed): once, not per server."""
    key, cert = ca
    certs.load_ca.cache_clear()
    for name in ("a", "b", "c"):
        certs.issue(key, cert, cert.decode(), name, ["c1"])
    assert certs.load_ca.cache_info().misses == 1
    assert certs.load_ca.cache_info().hits == 2
