"""The network as the environment sets it: trusted CAs (SSL_CERT_FILE, SSL_CERT_DIR, the
operating system's trust store), proxies (HTTPS_PROXY, HTTP_PROXY, ALL_PROXY, NO_PROXY),
and a setting that cannot work ending the run with exit 1 and the variable's name.

Over real loopback: a TLS server whose certificate a CA made here signed, a forward proxy
that also tunnels (CONNECT), and the emulator.
"""

from __future__ import annotations

import datetime
import http.client
import ipaddress
import json
import shutil
import socket
import ssl
import subprocess
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, replace
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest

from provisioner.errors import TargetError
from provisioner.platform.client import ClientOptions, PlatformClient, RetryPolicy
from provisioner.platform.failures import UnreachableError
from provisioner.platform.network import network_from
from tests.emulator_support import platform_target
from tests.workspace import Workspace, kinesis

FAST = RetryPolicy(attempts=3, base_delay=0.001, max_delay=0.002)
PROXY_VARIABLES = ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "NO_PROXY")


@pytest.fixture(autouse=True)
def no_host_network_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    """The host's own proxy and CA settings stay out of these tests."""
    for name in (*PROXY_VARIABLES, "SSL_CERT_FILE", "SSL_CERT_DIR"):
        monkeypatch.delenv(name, raising=False)
        monkeypatch.delenv(name.lower(), raising=False)


def client_for(url: str, environ: dict[str, str], token: bool = True) -> PlatformClient:
    """A client of the platform at `url`, in `environ`; with a token of its own (for the
    servers here), or the emulator's credentials."""
    target = platform_target(url)
    if token:
        target = replace(target, access_token="t")
    return PlatformClient(target, ClientOptions(policy=FAST, sleep=lambda _: None, environ=environ))


# a CA of our own, a TLS server, a proxy ---------------------------------------------------


@dataclass(frozen=True)
class Certificates:
    ca: Path  # the CA's certificate, PEM
    cert: Path  # the server's, for 127.0.0.1, signed by the CA
    key: Path


@pytest.fixture(scope="module")
def certificates(tmp_path_factory: pytest.TempPathFactory) -> Certificates:
    pytest.importorskip("cryptography", reason="making a CA needs the cryptography package")
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

    folder = tmp_path_factory.mktemp("tls")
    now = datetime.datetime.now(datetime.UTC)

    def builder(subject: str, issuer: str, key: Any) -> Any:
        return (
            x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, subject)]))
            .issuer_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, issuer)]))
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(days=1))
            .not_valid_after(now + datetime.timedelta(days=1))
        )

    ca_key, key = ec.generate_private_key(ec.SECP256R1()), ec.generate_private_key(ec.SECP256R1())
    ca = (
        builder("provisioner test CA", "provisioner test CA", ca_key)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(True, False, False, False, False, True, True, False, False),
            critical=True,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), False)
        .sign(ca_key, hashes.SHA256())
    )
    leaf = (
        builder("127.0.0.1", "provisioner test CA", key)
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), False
        )
        .sign(ca_key, hashes.SHA256())
    )
    paths = Certificates(folder / "ca.pem", folder / "server.pem", folder / "server.key")
    paths.ca.write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    paths.cert.write_bytes(leaf.public_bytes(serialization.Encoding.PEM))
    paths.key.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return paths


class _Quiet(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request: Any, client_address: Any) -> None:
        pass  # a refused handshake or a closed tunnel is what some tests are about


@contextmanager
def serving(server: ThreadingHTTPServer, scheme: str) -> Iterator[str]:
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05})
    thread.start()
    try:
        yield f"{scheme}://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


class _FlowService(BaseHTTPRequestHandler):
    """Every read answers an empty list."""

    hits: list[str]

    def do_GET(self) -> None:
        self.hits.append(self.path)
        data = json.dumps({"items": []}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, format: str, *args: Any) -> None:
        pass


@contextmanager
def tls_server(certificates: Certificates) -> Iterator[tuple[str, list[str]]]:
    hits: list[str] = []
    handler = type("Handler", (_FlowService,), {"hits": hits})
    server = _Quiet(("127.0.0.1", 0), handler)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(certificates.cert, certificates.key)
    server.socket = context.wrap_socket(server.socket, server_side=True)
    with serving(server, "https") as url:
        yield url, hits


class _Proxy(BaseHTTPRequestHandler):
    """A forward proxy: absolute-form requests for http://, CONNECT tunnels for https://."""

    seen: list[str]

    def do_CONNECT(self) -> None:
        self.seen.append(f"CONNECT {self.path}")
        host, port = self.path.rsplit(":", 1)
        upstream = socket.create_connection((host, int(port)), timeout=5)
        self.send_response(200, "Connection established")
        self.end_headers()
        _relay(self.connection, upstream)
        self.close_connection = True

    def _forward(self) -> None:
        self.seen.append(f"{self.command} {self.path}")
        url = urlsplit(self.path)
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        headers = {k: v for k, v in self.headers.items() if k.lower() != "proxy-connection"}
        upstream = http.client.HTTPConnection(url.hostname or "", url.port, timeout=5)
        path = url.path + (f"?{url.query}" if url.query else "")
        upstream.request(self.command, path, body or None, headers)
        answer = upstream.getresponse()
        data = answer.read()
        self.send_response(answer.status)
        for name, value in answer.getheaders():
            if name.lower() not in ("transfer-encoding", "connection", "content-length"):
                self.send_header(name, value)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)
        upstream.close()

    do_GET = do_POST = do_PATCH = do_DELETE = _forward

    def log_message(self, format: str, *args: Any) -> None:
        pass


def _relay(client: socket.socket, upstream: socket.socket) -> None:
    def pump(source: socket.socket, sink: socket.socket) -> None:
        try:
            while chunk := source.recv(65536):
                sink.sendall(chunk)
        except OSError:
            pass
        finally:
            with suppress(OSError):
                sink.shutdown(socket.SHUT_WR)

    back = threading.Thread(target=pump, args=(upstream, client), daemon=True)
    back.start()
    pump(client, upstream)
    back.join(timeout=10)
    upstream.close()


@contextmanager
def proxy_server() -> Iterator[tuple[str, list[str]]]:
    seen: list[str] = []
    handler = type("Handler", (_Proxy,), {"seen": seen})
    with serving(_Quiet(("127.0.0.1", 0), handler), "http") as url:
        yield url, seen


def closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


# trust --------------------------------------------------------------------------------


def test_a_ca_file_makes_its_server_trusted(certificates: Certificates) -> None:
    with (
        tls_server(certificates) as (url, hits),
        client_for(url, {"SSL_CERT_FILE": str(certificates.ca)}) as client,
    ):
        assert client.list_all("flows", [], "read the dataflows") == []
    assert len(hits) == 1


def test_a_ca_directory_makes_its_server_trusted(
    certificates: Certificates, tmp_path: Path
) -> None:
    """SSL_CERT_DIR as OpenSSL reads it: each CA under the hash of its subject."""
    if shutil.which("openssl") is None:
        pytest.skip("naming a CA by its subject's hash needs the openssl command")
    subject_hash = subprocess.run(
        ["openssl", "x509", "-hash", "-noout", "-in", str(certificates.ca)],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    shutil.copy(certificates.ca, tmp_path / f"{subject_hash}.0")
    with (
        tls_server(certificates) as (url, hits),
        client_for(url, {"SSL_CERT_DIR": str(tmp_path)}) as client,
    ):
        assert client.list_all("flows", [], "read the dataflows") == []
    assert len(hits) == 1


def test_an_untrusted_certificate_says_what_to_set_and_is_not_retried(
    certificates: Certificates,
) -> None:
    with (
        tls_server(certificates) as (url, hits),
        client_for(url, {}) as client,
        pytest.raises(UnreachableError) as caught,
    ):
        client.list_all("flows", [], "read the dataflows")
    message = str(caught.value)
    assert "no answer after 1 tries" in message
    assert "not signed by a CA trusted here (the operating system's trust store)" in message
    assert "set SSL_CERT_FILE to a PEM file that holds its CA" in message
    assert hits == []


@pytest.mark.parametrize(
    ("variable", "value", "said"),
    [
        ("SSL_CERT_FILE", "{tmp}/missing.pem", "which does not exist"),
        ("SSL_CERT_FILE", "{tmp}/not-a-ca.pem", "which is not a PEM file of CA certificates"),
        ("SSL_CERT_FILE", "{tmp}", "which is not a PEM file of CA certificates"),
        ("SSL_CERT_DIR", "{tmp}/missing", "which is not a directory"),
    ],
)
def test_a_ca_setting_that_cannot_work_is_refused_naming_it(
    tmp_path: Path, variable: str, value: str, said: str
) -> None:
    (tmp_path / "not-a-ca.pem").write_text("this is no certificate\n")
    path = value.format(tmp=tmp_path)
    with pytest.raises(TargetError) as caught:
        network_from({variable: path})
    assert str(caught.value).startswith(f"{variable} names {path}, {said}")


def test_the_operating_systems_trust_store_is_used_by_default() -> None:
    truststore = pytest.importorskip("truststore")
    network = network_from({})
    assert isinstance(network.ssl_context, truststore.SSLContext)
    assert network.trust == "the operating system's trust store"


def test_without_truststore_the_bundled_cas_are_used(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "truststore", None)  # `import truststore` fails
    network = network_from({})
    assert network.trust == "certifi's CA bundle"
    assert network.ssl_context.verify_mode == ssl.CERT_REQUIRED
    assert network.ssl_context.cert_store_stats()["x509_ca"] > 0


# proxies ------------------------------------------------------------------------------


def test_an_http_proxy_carries_every_request(served: str) -> None:
    with (
        proxy_server() as (proxy, seen),
        client_for(served, {"HTTP_PROXY": proxy}, token=False) as client,
    ):
        assert client.list_all("flows", [], "read the dataflows") == []
    assert seen == [
        f"POST {served}/ims/token/v3",
        f"GET {served}/data/foundation/flowservice/flows?limit=100",
    ]


def test_no_proxy_sends_those_hosts_directly(served: str) -> None:
    environ = {"HTTP_PROXY": "http://127.0.0.1:1", "NO_PROXY": "localhost,127.0.0.1"}
    with client_for(served, environ, token=False) as client:
        assert client.list_all("flows", [], "read the dataflows") == []


def test_https_goes_through_the_proxys_tunnel(certificates: Certificates) -> None:
    with tls_server(certificates) as (url, hits), proxy_server() as (proxy, seen):
        environ = {"HTTPS_PROXY": proxy, "SSL_CERT_FILE": str(certificates.ca)}
        with client_for(url, environ) as client:
            assert client.list_all("flows", [], "read the dataflows") == []
    assert seen == [f"CONNECT {url.removeprefix('https://')}"]
    assert len(hits) == 1


def test_an_unreachable_proxy_is_named_without_its_password() -> None:
    port = closed_port()
    environ = {"HTTPS_PROXY": f"http://me:proxy-password-8d1e@127.0.0.1:{port}"}
    with (
        client_for("https://platform.example", environ) as client,
        pytest.raises(UnreachableError) as caught,
    ):
        client.list_all("flows", [], "read the dataflows")
    message = str(caught.value)
    assert f"the proxy http://127.0.0.1:{port} that HTTPS_PROXY names" in message
    assert "proxy-password-8d1e" not in message and "me:" not in message


@pytest.mark.parametrize(
    ("variable", "value", "said"),
    [
        ("HTTPS_PROXY", "ftp://proxy.example:21", "is not a usable proxy URL"),
        ("https_proxy", "http://", "is not a usable proxy URL"),
        ("ALL_PROXY", "http://proxy.example:port", "is not a proxy URL"),
        ("HTTP_PROXY", "socks5://127.0.0.1:1080", "which needs the socksio package"),
    ],
)
def test_a_proxy_that_cannot_work_is_refused_naming_it(
    variable: str, value: str, said: str
) -> None:
    if variable == "HTTP_PROXY" and _installed("socksio"):
        pytest.skip("socksio is installed: a SOCKS proxy can work")
    with pytest.raises(TargetError) as caught:
        network_from({variable: value}).transport()
    assert str(caught.value).startswith(variable) and said in str(caught.value)


def _installed(module: str) -> bool:
    try:
        __import__(module)
    except ImportError:
        return False
    return True


@pytest.mark.parametrize(
    ("no_proxy", "url", "direct"),
    [
        ("*", "https://platform.adobe.io/x", True),
        ("adobe.io", "https://platform.adobe.io/x", True),
        ("adobe.io", "https://adobe.io/x", True),
        (".adobe.io", "https://platform.adobe.io/x", True),
        ("*.adobe.io", "https://platform.adobe.io/x", True),
        ("adobe.io", "https://notadobe.io/x", False),
        ("10.0.0.0/8", "http://10.1.2.3:8080/x", True),
        ("10.0.0.0/8", "http://11.1.2.3/x", False),
        ("127.0.0.1", "http://127.0.0.1:9/x", True),
        ("::1", "http://[::1]:9/x", True),
        ("platform.adobe.io:443", "https://platform.adobe.io/x", True),
        ("platform.adobe.io:8443", "https://platform.adobe.io/x", False),
        ("example.com, ADOBE.IO", "https://platform.adobe.io/x", True),
    ],
)
def test_no_proxy_names_hosts_domains_addresses_and_ports(
    no_proxy: str, url: str, direct: bool
) -> None:
    network = network_from(
        {
            "HTTPS_PROXY": "http://proxy:3128",
            "HTTP_PROXY": "http://proxy:3128",
            "NO_PROXY": no_proxy,
        }
    )
    assert (network.proxy_for(httpx.URL(url)) is None) is direct


def test_lower_case_wins_and_all_proxy_fills_in() -> None:
    network = network_from(
        {
            "HTTPS_PROXY": "http://upper:1",
            "https_proxy": "http://lower:2",
            "ALL_PROXY": "proxy.example:3",
        }
    )
    https = network.proxy_for(httpx.URL("https://platform.adobe.io"))
    plain = network.proxy_for(httpx.URL("http://platform.adobe.io"))
    assert https is not None and (https.variable, https.shown) == ("https_proxy", "http://lower:2")
    assert plain is not None and (plain.variable, plain.shown) == (
        "ALL_PROXY",
        "http://proxy.example:3",
    )


# the command line -----------------------------------------------------------------------


def test_a_wrong_ca_file_is_exit_1_naming_it(workspace: Workspace, tmp_path: Path) -> None:
    workspace.write("orders.yaml", kinesis("orders"))
    workspace.env["SSL_CERT_FILE"] = str(tmp_path / "missing.pem")
    outcome = workspace.plan()
    assert outcome.code == 1, outcome.err
    assert f"SSL_CERT_FILE names {tmp_path / 'missing.pem'}, which does not exist" in outcome.err
    assert "Traceback" not in outcome.err and "bug" not in outcome.err


def test_a_wrong_proxy_is_exit_1_naming_it(workspace: Workspace) -> None:
    workspace.write("orders.yaml", kinesis("orders"))
    workspace.env["HTTPS_PROXY"] = "ftp://proxy.example:21"
    outcome = workspace.plan()
    assert outcome.code == 1, outcome.err
    assert "HTTPS_PROXY is not a usable proxy URL" in outcome.err


def test_a_plan_through_a_proxy(workspace: Workspace) -> None:
    workspace.write("orders.yaml", kinesis("orders"))
    with proxy_server() as (proxy, seen):
        workspace.env["HTTP_PROXY"] = proxy
        outcome = workspace.plan()
    assert outcome.code == 0, outcome.err
    assert any("/ims/token/v3" in line for line in seen)
    assert any("/data/foundation/flowservice/flows" in line for line in seen)
