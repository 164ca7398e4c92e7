"""PyPI's JSON API on loopback, for the real pip-audit: an HTTPS server with a certificate for
pypi.org from a throwaway CA, and an HTTP CONNECT proxy that tunnels pypi.org:443 to it.

pip-audit asks `https://pypi.org/pypi/<name>/<version>/json` (the address is fixed in pip-audit), so
the subprocess gets `HTTPS_PROXY` (this proxy) and `REQUESTS_CA_BUNDLE` (the CA) in its environment.
Vulnerabilities come from real advisories of the Python Packaging Advisory Database
(tests/fixtures/pypa_advisories/), in the entry shape PyPI's JSON API gives them.
"""

import datetime
import json
import select
import socket
import socketserver
import ssl
import threading
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

ADVISORIES = Path(__file__).parent.parent / "fixtures/pypa_advisories"
PYPI_HOST = "pypi.org"
# This engineer's port range; the OS picks a free port when every one of them is taken.
PORT_RANGE = range(18800, 18900)


def advisory(name: str) -> dict:
    return json.loads((ADVISORIES / f"{name}.json").read_text())


def pypi_vulnerability(record: dict) -> dict:
    """An OSV record as PyPI's JSON API lists it under `vulnerabilities`."""
    events = [event for affected in record["affected"] for span in affected["ranges"] for event in span["events"]]
    fixed = [event["fixed"] for event in events if "fixed" in event]
    return {
        "aliases": record.get("aliases", []),
        "details": record.get("details"),
        "summary": record.get("summary"),
        "fixed_in": fixed,
        "id": record["id"],
        "link": f"https://osv.dev/vulnerability/{record['id']}",
        "source": "osv",
        "withdrawn": record.get("withdrawn"),
    }


class Catalogue:
    """What this PyPI knows: (name, version) -> advisories; anything else is a 404, as on PyPI."""

    def __init__(self):
        self.releases: dict[tuple[str, str], list[dict]] = {}
        self.asked: list[str] = []

    def release(self, name: str, version: str, *advisories: dict) -> None:
        self.releases[(name.lower(), version)] = [pypi_vulnerability(record) for record in advisories]

    def answer(self, path: str) -> tuple[int, dict]:
        self.asked.append(path)
        parts = path.strip("/").split("/")
        if len(parts) != 4 or parts[0] != "pypi" or parts[3] != "json":
            return 404, {"message": "Not Found"}
        key = (parts[1].lower(), parts[2])
        if key not in self.releases:
            return 404, {"message": "Not Found"}
        info = {"name": parts[1], "version": parts[2], "summary": "", "yanked": False}
        return 200, {"info": info, "last_serial": 1, "urls": [], "vulnerabilities": self.releases[key]}


def _certificates(folder: Path) -> tuple[Path, Path, Path]:
    """(CA certificate, server certificate, server key) files for pypi.org."""
    now = datetime.datetime.now(datetime.timezone.utc)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "EchoPilot test CA")])
    ca = (
        x509.CertificateBuilder()
        .subject_name(ca_name)
        .issuer_name(ca_name)
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(x509.KeyUsage(True, False, False, False, False, True, True, False, False), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    key = ec.generate_private_key(ec.SECP256R1())
    cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, PYPI_HOST)]))
        .issuer_name(ca_name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName(PYPI_HOST)]), critical=False)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.ExtendedKeyUsage([x509.oid.ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    paths = folder / "ca.pem", folder / "pypi.pem", folder / "pypi.key"
    paths[0].write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    paths[1].write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    paths[2].write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    return paths


class _PyPIHandler(BaseHTTPRequestHandler):
    catalogue: Catalogue

    def do_GET(self):  # noqa: N802 - the name http.server calls
        status, body = self.catalogue.answer(self.path)
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        # Nothing of this fake PyPI may land in a shared HTTP cache.
        self.send_header("Cache-Control", "no-store")
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, format, *args):
        pass


class _TunnelHandler(socketserver.BaseRequestHandler):
    """CONNECT pypi.org:443 -> the loopback PyPI; anything else is refused."""

    target: tuple[str, int]

    def handle(self):
        head = b""
        while b"\r\n\r\n" not in head and len(head) < 65536:
            chunk = self.request.recv(4096)
            if not chunk:
                return
            head += chunk
        if not head.startswith(f"CONNECT {PYPI_HOST}:443 ".encode()):
            self.request.sendall(b"HTTP/1.1 403 Forbidden\r\nContent-Length: 0\r\n\r\n")
            return
        with socket.create_connection(self.target) as upstream:
            self.request.sendall(b"HTTP/1.1 200 Connection established\r\n\r\n")
            _pipe(self.request, upstream)


def _pipe(one: socket.socket, other: socket.socket) -> None:
    peers = {one: other, other: one}
    while True:
        readable, _, _ = select.select(list(peers), [], [], 30)
        if not readable:
            return
        for sock in readable:
            data = sock.recv(65536)
            if not data:
                return
            peers[sock].sendall(data)


class _ThreadingTCPServer(socketserver.ThreadingTCPServer):
    daemon_threads = True
    allow_reuse_address = True


def _bind(factory, handler):
    for port in PORT_RANGE:
        try:
            return factory(("127.0.0.1", port), handler)
        except OSError:
            continue
    return factory(("127.0.0.1", 0), handler)


def _serve(server) -> threading.Thread:
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    return thread


@contextmanager
def pypi_api(folder: Path):
    """A running loopback PyPI behind a CONNECT proxy; yields (catalogue, environment for pip-audit)."""
    ca, cert, key = _certificates(folder)
    catalogue = Catalogue()
    pypi = _bind(ThreadingHTTPServer, type("PyPI", (_PyPIHandler,), {"catalogue": catalogue}))
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert, key)
    pypi.socket = context.wrap_socket(pypi.socket, server_side=True)
    tunnel_handler = type("Tunnel", (_TunnelHandler,), {"target": pypi.server_address[:2]})
    proxy = _bind(_ThreadingTCPServer, tunnel_handler)
    _serve(pypi)
    _serve(proxy)
    proxy_url = f"http://127.0.0.1:{proxy.server_address[1]}"
    environment = {"HTTPS_PROXY": proxy_url, "https_proxy": proxy_url, "REQUESTS_CA_BUNDLE": str(ca)}
    try:
        yield catalogue, environment
    finally:
        for server in (proxy, pypi):
            server.shutdown()
            server.server_close()
