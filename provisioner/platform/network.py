"""The network as the environment configures it: which CA certificates are trusted, and
which proxy (if any) a request goes through.

- Trust: `SSL_CERT_FILE` (a PEM file of CA certificates) or `SSL_CERT_DIR` (a directory
  of them, as OpenSSL's `c_rehash` lays it out) when set, as OpenSSL, curl and Python's own
  `ssl` read them; else the operating system's trust store (through `truststore`: a
  company's CA installed on the machine is trusted as the browser trusts it); else, where
  that cannot load, the CA bundle that ships with httpx (`certifi`).
- Proxies: `HTTPS_PROXY` for https:// URLs, `HTTP_PROXY` for http:// ones, `ALL_PROXY`
  for either when the other is not set (each also in lower case, which wins, as curl
  reads them), and `NO_PROXY`: a comma-separated list of hosts reached directly (`*` for
  all; `example.com` for it and its subdomains; `.example.com` likewise; an IP address, a
  CIDR block such as `10.0.0.0/8`, or any of these with `:port`).

A value that cannot work (a CA file that does not exist or holds no certificate, a proxy
URL that is not one) is an error naming the variable before any request is sent. A proxy
URL's user and password are never shown.
"""

from __future__ import annotations

import ipaddress
import logging
import ssl
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from provisioner.errors import TargetError

log = logging.getLogger("provisioner.http")

CA_FILE = "SSL_CERT_FILE"
CA_DIR = "SSL_CERT_DIR"
NO_PROXY = "NO_PROXY"
PROXY_SCHEMES = ("http", "https", "socks5", "socks5h")


@dataclass(frozen=True)
class Proxy:
    """A proxy, and the variable that named it."""

    variable: str
    url: str = field(repr=False)  # as given: may hold a user and password, never shown
    shown: str  # scheme://host:port, for messages
    password: str = field(default="", repr=False)


@dataclass(frozen=True)
class Network:
    """Trust and proxies, read from the environment once per client."""

    ssl_context: ssl.SSLContext
    trust: str  # what the trusted CAs come from, for messages
    proxies: Mapping[str, Proxy] = field(default_factory=dict)  # by URL scheme
    direct: tuple[str, ...] = ()  # NO_PROXY's entries, lowercased

    @property
    def secrets(self) -> tuple[str, ...]:
        """The proxies' passwords: redacted wherever they would appear."""
        return tuple(proxy.password for proxy in self.proxies.values() if proxy.password)

    def proxy_for(self, url: httpx.URL) -> Proxy | None:
        """The proxy a request to `url` goes through, or None when it goes directly."""
        proxy = self.proxies.get(url.scheme)
        if proxy is None or any(_bypasses(entry, url) for entry in self.direct):
            return None
        return proxy

    def hint(self, url: httpx.URL, error: Exception, url_variable: str) -> str:
        """What to check when a request to `url` got no answer (`error`): the trusted CAs
        or the proxy where they are the likely cause, and the variable that named `url`."""
        if untrusted(error):
            return (
                "the server's certificate is not signed by a CA trusted here "
                f"({self.trust}); set {CA_FILE} to a PEM file that holds its CA, or check "
                f"{url_variable}"
            )
        proxy = self.proxy_for(url)
        if proxy is not None:
            return (
                f"check the network, the proxy {proxy.shown} that {proxy.variable} names "
                f"(or {NO_PROXY}), and {url_variable}"
            )
        return f"check the network and {url_variable}"

    def transport(self) -> httpx.BaseTransport:
        """A transport that sends each request directly or through its proxy."""
        direct = httpx.HTTPTransport(verify=self.ssl_context, trust_env=False)
        through: dict[str, httpx.BaseTransport] = {}
        for proxy in self.proxies.values():
            if proxy.url not in through:
                through[proxy.url] = _proxy_transport(proxy, self.ssl_context)
        return _Routes(self, direct, through)


def network_from(environ: Mapping[str, str]) -> Network:
    """The network settings of `environ`; raises TargetError naming a variable that cannot
    work."""
    context, trust = _trust(environ)
    return Network(context, trust, _proxies(environ), _direct(environ))


def untrusted(error: BaseException) -> bool:
    """Whether `error` comes of a certificate that failed verification."""
    seen: BaseException | None = error
    for _ in range(10):  # the chain of causes is short; a cycle must not hang
        if seen is None:
            return False
        if isinstance(seen, ssl.SSLCertVerificationError):
            return True
        seen = seen.__cause__ or seen.__context__
    return False


# trust ---------------------------------------------------------------------------------


def _trust(environ: Mapping[str, str]) -> tuple[ssl.SSLContext, str]:
    ca_file = environ.get(CA_FILE, "").strip()
    ca_dir = environ.get(CA_DIR, "").strip()
    if ca_file:
        return _from_file(ca_file), f"{CA_FILE} ({ca_file})"
    if ca_dir:
        return _from_dir(ca_dir), f"{CA_DIR} ({ca_dir})"
    return _system_store()


def _from_file(path: str) -> ssl.SSLContext:
    try:
        return ssl.create_default_context(cafile=path)
    except FileNotFoundError:
        raise TargetError(f"{CA_FILE} names {path}, which does not exist") from None
    except (ssl.SSLError, OSError, ValueError) as error:
        raise TargetError(
            f"{CA_FILE} names {path}, which is not a PEM file of CA certificates ({_reason(error)})"
        ) from None


def _from_dir(path: str) -> ssl.SSLContext:
    if not Path(path).is_dir():
        raise TargetError(f"{CA_DIR} names {path}, which is not a directory")
    try:
        return ssl.create_default_context(capath=path)
    except (ssl.SSLError, OSError, ValueError) as error:
        raise TargetError(
            f"{CA_DIR} names {path}, which cannot be read ({_reason(error)})"
        ) from None


def _system_store() -> tuple[ssl.SSLContext, str]:
    """The operating system's trust store; certifi's bundle where truststore cannot load
    (not installed, or a platform it does not support)."""
    try:
        import truststore

        context: ssl.SSLContext = truststore.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        return context, "the operating system's trust store"
    except Exception as error:  # any failure to load leaves the bundled CAs, not a crash
        log.debug("the system trust store is not available (%s): using certifi's CAs", error)
    import certifi

    return ssl.create_default_context(cafile=certifi.where()), "certifi's CA bundle"


def _reason(error: Exception) -> str:
    said = getattr(error, "reason", None) or getattr(error, "strerror", None) or error
    return str(said)[:200]


# proxies -------------------------------------------------------------------------------


def _variable(environ: Mapping[str, str], name: str) -> tuple[str, str] | None:
    """(the variable's name as set, its value) for `name` in lower case, else upper."""
    for spelling in (name.lower(), name.upper()):
        value = environ.get(spelling, "").strip()
        if value:
            return spelling, value
    return None


def _proxies(environ: Mapping[str, str]) -> dict[str, Proxy]:
    every = _variable(environ, "ALL_PROXY")
    proxies = {}
    for scheme in ("http", "https"):
        named = _variable(environ, f"{scheme}_proxy") or every
        if named is not None:
            proxies[scheme] = _proxy(*named)
    return proxies


def _proxy(variable: str, value: str) -> Proxy:
    url_text = value if "://" in value else f"http://{value}"
    try:
        url = httpx.URL(url_text)
    except httpx.InvalidURL:
        raise TargetError(f"{variable} is not a proxy URL (expected http://HOST:PORT)") from None
    if url.scheme not in PROXY_SCHEMES or not url.host:
        raise TargetError(
            f"{variable} is not a usable proxy URL: expected http://HOST:PORT (or https://, "
            f"socks5://), got one with scheme '{url.scheme}'" + ("" if url.host else " and no host")
        )
    shown = f"{url.scheme}://{url.host}" + (f":{url.port}" if url.port else "")
    return Proxy(variable, url_text, shown, url.password or "")


def _proxy_transport(proxy: Proxy, context: ssl.SSLContext) -> httpx.BaseTransport:
    try:
        return httpx.HTTPTransport(verify=context, trust_env=False, proxy=proxy.url)
    except ImportError:  # socks5:// needs httpx's socks extra
        raise TargetError(
            f"{proxy.variable} names a SOCKS proxy ({proxy.shown}), which needs the socksio "
            "package (pip install 'httpx[socks]')"
        ) from None
    except (ValueError, httpx.InvalidURL):
        raise TargetError(f"{proxy.variable} is not a usable proxy URL ({proxy.shown})") from None


def _direct(environ: Mapping[str, str]) -> tuple[str, ...]:
    named = _variable(environ, NO_PROXY)
    if named is None:
        return ()
    return tuple(entry.strip().lower() for entry in named[1].split(",") if entry.strip())


def _bypasses(entry: str, url: httpx.URL) -> bool:
    """Whether NO_PROXY's `entry` names the host (and port) of `url`."""
    if entry == "*":
        return True
    host = url.host.lower()
    entry, port = _split_port(entry)
    if port is not None and port != (url.port or (443 if url.scheme == "https" else 80)):
        return False
    if "/" in entry:
        return _in_block(host, entry)
    domain = entry.lstrip("*").lstrip(".")
    return host == domain or host.endswith("." + domain)


def _split_port(entry: str) -> tuple[str, int | None]:
    """`host:port` into its parts; an IPv6 address (several colons) is left whole."""
    if entry.startswith("["):
        address, _, rest = entry[1:].partition("]")
        port = rest.lstrip(":")
        return address, int(port) if port.isdigit() else None
    host, colon, port = entry.rpartition(":")
    if colon and port.isdigit() and ":" not in host:
        return host, int(port)
    return entry, None


def _in_block(host: str, block: str) -> bool:
    try:
        return ipaddress.ip_address(host) in ipaddress.ip_network(block, strict=False)
    except ValueError:
        return False


class _Routes(httpx.BaseTransport):
    """Each request directly, or through the proxy its URL's scheme and host call for."""

    def __init__(
        self,
        network: Network,
        direct: httpx.BaseTransport,
        through: dict[str, httpx.BaseTransport],
    ) -> None:
        self._network = network
        self._direct = direct
        self._through = through

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        proxy = self._network.proxy_for(request.url)
        transport = self._direct if proxy is None else self._through[proxy.url]
        return transport.handle_request(request)

    def close(self) -> None:
        self._direct.close()
        for transport in self._through.values():
            transport.close()
