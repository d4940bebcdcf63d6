"""Throwaway PKI for TLS tests, made with the `openssl` command (no Python dependency): two CAs
(one signs the server, one signs clients) and their leaves, valid for one day (the shortest
`openssl x509 -days` allows), P-256 keys (fast to make). The server certificate names 127.0.0.1
and localhost, the only addresses tests use."""

from __future__ import annotations

import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

_EXTENSIONS = """
[ca]
basicConstraints = critical, CA:TRUE
keyUsage = critical, keyCertSign, cRLSign
subjectKeyIdentifier = hash
[server]
basicConstraints = critical, CA:FALSE
keyUsage = critical, digitalSignature
extendedKeyUsage = serverAuth
subjectAltName = IP:127.0.0.1, DNS:localhost
authorityKeyIdentifier = keyid
[client]
basicConstraints = critical, CA:FALSE
keyUsage = critical, digitalSignature
extendedKeyUsage = clientAuth
authorityKeyIdentifier = keyid
"""


@dataclass(frozen=True)
class Pki:
    server_ca: Path          # what clients trust
    server_cert: Path
    server_key: Path
    client_ca: Path          # what the server trusts for mTLS
    client_cert: Path        # signed by client_ca
    client_key: Path
    rogue_client_cert: Path  # self-signed: a client the server must refuse
    rogue_client_key: Path


def openssl_available() -> bool:
    return shutil.which("openssl") is not None


def _openssl(directory: Path, *arguments: str) -> None:
    subprocess.run(["openssl", *arguments], cwd=directory, check=True, timeout=30,
                   stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)


def _request(directory: Path, name: str, subject: str) -> None:
    _openssl(directory, "req", "-new", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
             "-nodes", "-keyout", f"{name}.key", "-out", f"{name}.csr", "-subj", subject)


def _self_signed(directory: Path, name: str, subject: str, section: str) -> None:
    _request(directory, name, subject)
    _openssl(directory, "x509", "-req", "-in", f"{name}.csr", "-signkey", f"{name}.key",
             "-days", "1", "-out", f"{name}.pem", "-extfile", "extensions.cnf",
             "-extensions", section)


def _signed(directory: Path, name: str, subject: str, ca: str, section: str, serial: int) -> None:
    _request(directory, name, subject)
    _openssl(directory, "x509", "-req", "-in", f"{name}.csr", "-CA", f"{ca}.pem",
             "-CAkey", f"{ca}.key", "-set_serial", str(serial), "-days", "1",
             "-out", f"{name}.pem", "-extfile", "extensions.cnf", "-extensions", section)


def make_pki(directory: Path) -> Pki:
    """Writes the PKI into `directory` (a test's tmp dir) and names its files."""
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "extensions.cnf").write_text(_EXTENSIONS)
    _self_signed(directory, "server-ca", "/CN=vcc test server CA", "ca")
    _signed(directory, "server", "/CN=localhost", "server-ca", "server", 1001)
    _self_signed(directory, "client-ca", "/CN=vcc test client CA", "ca")
    _signed(directory, "client", "/CN=test-pbx", "client-ca", "client", 2001)
    _self_signed(directory, "rogue", "/CN=rogue client", "client")
    return Pki(*(directory / name for name in (
        "server-ca.pem", "server.pem", "server.key", "client-ca.pem", "client.pem", "client.key",
        "rogue.pem", "rogue.key")))
