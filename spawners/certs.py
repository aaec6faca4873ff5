"""Internal SSL for servers on batch and shared nodes.

JupyterHub's ``internal_ssl`` gives each server a key and certificate signed by its
``notebooks-ca``, and expects ``move_certs`` to copy the files to wherever the server runs.
A batch server runs on a node Slurm picks after submission, as a user the (unprivileged) hub
cannot write files for. So hpchub:

- issues each server its own key and certificate in memory, naming every node the server
  may land on (the nodes of its partition, or the shared nodes), and writes nothing to disk;
- hands the PEM text to the job through its batch script (or the shared launcher's stdin),
  as ``HPCHUB_SSL_*`` variables; the script is kept by Slurm readable only by the user and
  Slurm's own account;
- in the job, :func:`hpchub.node.server_certs.write_from_env` writes them to a fresh 0700
  directory on the node,
  points JupyterHub's ``JUPYTERHUB_SSL_*`` variables at them, removes the PEM text from the
  environment that kernels and terminals inherit, and deletes the directory when the server
  exits. (The server's own ``/proc/<pid>/environ`` keeps its start-up environment; only the
  user and root can read it, as with the files.)
"""

from __future__ import annotations

import datetime
import functools
import ipaddress
from pathlib import Path

from hpchub.node.server_certs import PATH_ENV, PEM_ENV

VALID_FOR = datetime.timedelta(days=14)  # longer than any partition's time limit


@functools.lru_cache(maxsize=4)
def load_ca(ca_key_pem: bytes, ca_cert_pem: bytes) -> tuple:
    """The CA's key and certificate as objects. Cached: loading an RSA key checks it, which
    takes 70 ms on the testbed, for every server otherwise."""
    from cryptography import x509
    from cryptography.hazmat.primitives import serialization

    return (serialization.load_pem_private_key(ca_key_pem, password=None),
            x509.load_pem_x509_certificate(ca_cert_pem))


def issue(ca_key_pem: bytes, ca_cert_pem: bytes, trust_pem: str, common_name: str,
          hosts: list[str]) -> dict[str, str]:
    """A new key and a certificate for ``hosts`` (plus localhost), signed by the CA, as PEM."""
    # Imported here: servers import this module at start and need none of it.
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    ca_key, ca_cert = load_ca(ca_key_pem, ca_cert_pem)
    key = ec.generate_private_key(ec.SECP256R1())
    now = datetime.datetime.now(datetime.UTC)
    names = [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1")),
             *(x509.DNSName(h) for h in dict.fromkeys(hosts))]
    cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)]))
        .issuer_name(ca_cert.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + VALID_FOR)
        .add_extension(x509.SubjectAlternativeName(names), critical=False)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        # Python 3.13's default contexts verify strictly (VERIFY_X509_STRICT): a certificate
        # must name its issuer's key.
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()),
                       critical=False)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    key_pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                serialization.NoEncryption())
    return {"key": key_pem.decode(), "cert": cert.public_bytes(serialization.Encoding.PEM).decode(),
            "ca": trust_pem}


def issue_for_server(certs_location: str, trust_bundle: str, common_name: str,
                     hosts: list[str]) -> dict[str, str]:
    """:func:`issue` with JupyterHub's ``notebooks-ca`` from its internal certificate store."""
    ca_dir = Path(certs_location, "notebooks-ca")
    return issue((ca_dir / "notebooks-ca.key").read_bytes(),
                 (ca_dir / "notebooks-ca.crt").read_bytes(),
                 Path(trust_bundle).read_text(), common_name, hosts)


def env_with_pems(env: dict[str, str], pems: dict[str, str] | None) -> dict[str, str]:
    """The server's environment with the PEM text instead of hub-side certificate paths."""
    if not pems:
        return env
    out = {k: v for k, v in env.items() if k not in PATH_ENV.values()}
    out.update({PEM_ENV[part]: pems[part] for part in PEM_ENV})
    return out
