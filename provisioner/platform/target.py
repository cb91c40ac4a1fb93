"""Where the tool connects (contract section 2): a platform over HTTP, or the embedded emulator.

Everything configured is checked here, before any request: URLs, the sandbox name, and every
value that goes into a header. A value that cannot be sent is refused with the name of its
variable, never with the value itself (it may be a secret).
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Literal
from urllib.parse import SplitResult, urlsplit

from provisioner.errors import TargetError

DEFAULT_PLATFORM_URL = "https://platform.adobe.io"
DEFAULT_IMS_URL = "https://ims-na1.adobelogin.com"
DEFAULT_SCOPES = "openid,AdobeID,read_organizations,additional_info.projectedProductContext,session"
DEFAULT_SANDBOX = "prod"

SANDBOX_NAME = re.compile(r"[a-z0-9](?:[a-z0-9-]*[a-z0-9])?")
# What an HTTP header value may hold here: visible ASCII, with spaces inside.
_HEADER_SAFE = re.compile(r"[\x21-\x7e](?:[\x20-\x7e]*[\x21-\x7e])?")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


@dataclass(frozen=True)
class Target:
    kind: Literal["platform", "emulator"]
    url: str  # the platform's base URL, or the emulator's data file
    org: str
    sandbox: str
    ims_url: str = ""
    client_id: str = ""
    scopes: str = DEFAULT_SCOPES
    # Kept out of repr: these are secrets of the user's, never to be printed.
    client_secret: str = field(default="", repr=False)
    access_token: str = field(default="", repr=False)
    # Which setting named the platform URL (`AEP_PLATFORM_URL`, `--platform-url`, the
    # project file's environment); empty for the default URL or when not known. Where the
    # URL came from, not where requests go: targets that differ only in it are the same.
    source: str = field(default="", compare=False)

    @property
    def where(self) -> str:
        return describe_where(self.kind, self.url, self.org, self.sandbox)

    def describe(self) -> str:
        """The line that opens every plan, apply and destroy: the target, and for a platform
        which setting named its URL, so a log shows whose choice received the token."""
        shown = f", URL from {self.source}" if self.source else ""
        return f"Target: {self.where}{shown}"

    def as_json(self) -> dict[str, str]:
        return {"kind": self.kind, "url": self.url, "org": self.org, "sandbox": self.sandbox}

    @property
    def secrets(self) -> list[str]:
        return [s for s in (self.client_secret, self.access_token) if s]

    def check_headers(self) -> None:
        """Every value this target puts in a header can be sent as it is."""
        check_header_value("AEP_CLIENT_ID", self.client_id, required=False)
        check_header_value("AEP_ORG_ID", self.org, required=False)
        check_header_value("AEP_ACCESS_TOKEN", self.access_token, required=False)
        check_sandbox(self.sandbox, "the sandbox name")


def describe_where(kind: str, url: str, org: str, sandbox: str) -> str:
    """`https://platform.adobe.io (org …, sandbox …)`, or the emulator's file instead."""
    place = f"embedded emulator {url}" if kind == "emulator" else url
    return f"{place} (org {org}, sandbox {sandbox})"


def configured(env: Mapping[str, str], name: str) -> str:
    """A variable's value without surrounding whitespace (a secret store's trailing newline)."""
    return env.get(name, "").strip()


def platform_target(env: Mapping[str, str], url: str, sandbox: str) -> Target:
    url = check_url(url, "AEP_PLATFORM_URL")
    ims_url = check_url(configured(env, "AEP_IMS_URL") or DEFAULT_IMS_URL, "AEP_IMS_URL")
    values = {name: configured(env, name) for name in _VARIABLES}
    missing = [name for name in ("AEP_ORG_ID", "AEP_CLIENT_ID") if not values[name]]
    if not values["AEP_ACCESS_TOKEN"] and not values["AEP_CLIENT_SECRET"]:
        missing.append("AEP_CLIENT_SECRET (or AEP_ACCESS_TOKEN)")
    if missing:
        raise TargetError(f"the platform at {url} needs {', '.join(missing)} to be set")
    for name in ("AEP_ORG_ID", "AEP_CLIENT_ID", "AEP_ACCESS_TOKEN"):
        check_header_value(name, values[name], required=False)
    if _CONTROL.search(values["AEP_CLIENT_SECRET"]):
        raise TargetError(_control_message("AEP_CLIENT_SECRET"))
    return Target(
        "platform",
        url,
        values["AEP_ORG_ID"],
        check_sandbox(sandbox, "the sandbox name"),
        ims_url=ims_url,
        client_id=values["AEP_CLIENT_ID"],
        scopes=check_header_value("AEP_SCOPES", values["AEP_SCOPES"] or DEFAULT_SCOPES),
        client_secret=values["AEP_CLIENT_SECRET"],
        access_token=values["AEP_ACCESS_TOKEN"],
    )


_VARIABLES = (
    "AEP_ORG_ID",
    "AEP_CLIENT_ID",
    "AEP_CLIENT_SECRET",
    "AEP_ACCESS_TOKEN",
    "AEP_SCOPES",
)


def check_sandbox(name: str, source: str) -> str:
    """A sandbox name as the platform makes them: lowercase letters, digits and hyphens."""
    if not name:
        raise TargetError(f"{source} is empty; give a sandbox name such as 'prod'")
    if not SANDBOX_NAME.fullmatch(name):
        shown = ascii(name) if name.isprintable() and len(name) <= 64 else "given"
        lower = " (sandbox names are lowercase)" if name.lower() != name else ""
        raise TargetError(
            f"{source} {shown} is not a sandbox name: use lowercase letters, digits and "
            f"hyphens{lower}"
        )
    return name


def check_header_value(name: str, value: str, required: bool = True) -> str:
    """`value` if it can be sent in an HTTP header; else an error that does not show it."""
    if not value and not required:
        return value
    if _CONTROL.search(value):
        raise TargetError(_control_message(name))
    if not _HEADER_SAFE.fullmatch(value):
        raise TargetError(
            f"{name} holds characters an HTTP header cannot carry (only visible ASCII "
            "characters are allowed); check its value (not shown)"
        )
    return value


def _control_message(name: str) -> str:
    return (
        f"{name} contains a control character (such as a newline inside the value); "
        "check how it is stored (the value is not shown)"
    )


def check_url(url: str, name: str) -> str:
    """HTTPS anywhere; plain HTTP only to a loopback address; no user or password in it."""
    url = url.strip().rstrip("/")
    try:
        parts = urlsplit(url)
        host, _ = parts.hostname, parts.port  # .port raises on a malformed port
    except ValueError:
        raise TargetError(f"{name} is not a valid URL: '{_shown(url)}'") from None
    if parts.username is not None or parts.password is not None:
        raise TargetError(
            f"{name} has a user or password in it ({_shown(url)}); credentials go in "
            "AEP_CLIENT_ID and AEP_CLIENT_SECRET (or AEP_ACCESS_TOKEN), never in the URL"
        )
    if _CONTROL.search(url) or " " in url or not url.isascii():
        raise TargetError(f"{name} has spaces, control or non-ASCII characters in it")
    if parts.scheme not in ("http", "https") or not host:
        raise TargetError(f"{name} must be an http(s) URL, got '{_shown(url)}'")
    if parts.query or parts.fragment:
        raise TargetError(f"{name} must be a base URL, without a query or fragment")
    if parts.scheme == "http" and not is_loopback(host):
        raise TargetError(
            f"{name} uses plain http:// to {host}; only loopback addresses may "
            "use http, use https:// for anything else"
        )
    return url


# Experience Platform's own hosts: `platform.adobe.io` and its regional siblings
# (`platform-va7.adobe.io`), all under `adobe.io`.
ADOBE_DOMAIN = ("adobe", "io")
_DNS_LABEL = re.compile(r"[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?")
REPOSITORY_URL_RULE = (
    "a URL from the repository must be https to platform.adobe.io or another host under "
    ".adobe.io (default port), or a loopback address; any other host only from "
    "AEP_PLATFORM_URL or --platform-url"
)


def is_adobe_host(host: str) -> bool:
    """`host` is under `adobe.io` at a label boundary: `platform.adobe.io`, `x.adobe.io`,
    never `evil-adobe.io`, `adobe.io.evil.com`, nor a name with a trailing dot (which would
    be another name to some resolvers and proxies, and to no Adobe certificate)."""
    labels = host.lower().split(".")
    return (
        len(labels) > len(ADOBE_DOMAIN)
        and tuple(labels[-len(ADOBE_DOMAIN) :]) == ADOBE_DOMAIN
        and all(_DNS_LABEL.fullmatch(label) for label in labels)
    )


def repository_url_refusal(url: str) -> str | None:
    """Why a platform URL named by the repository (the project file) may not receive the
    operator's credentials, or None when it may.

    A pull request can change the project file, and `plan` runs on pull requests with the
    pipeline's credentials: the URL it names must be Adobe's platform or a loopback address
    (the emulator). Anywhere else is the operator's choice alone.
    """
    if _CONTROL.search(url) or " " in url or not url.isascii():
        return "it has spaces, control or non-ASCII characters in it"
    try:
        parts = urlsplit(url.strip())
        port = parts.port
    except ValueError:
        return "it is not a valid URL"
    host = parts.hostname or ""
    if parts.username is not None or parts.password is not None:
        return "it holds a user or password"
    if is_loopback(host):
        return None
    if parts.scheme != "https":
        return f"it does not use https (to {host or 'no host'})"
    if port is not None and port != 443:
        return f"it names port {port} of {host}; only the default port is accepted"
    if not is_adobe_host(host):
        return f"{host} is not platform.adobe.io nor a host under .adobe.io"
    return None


def check_repository_url(url: str, name: str) -> str:
    """`url`, checked as any platform URL (`check_url`) and then as one the repository
    names (`repository_url_refusal`); a TargetError naming `name` otherwise."""
    url = check_url(url, name)
    refusal = repository_url_refusal(url)
    if refusal is not None:
        raise TargetError(f"{name} ({_shown(url)}) is refused: {refusal}; {REPOSITORY_URL_RULE}")
    return url


def _shown(url: str) -> str:
    """`url` safe to print: any user and password replaced."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return "(not shown)"
    if "@" not in parts.netloc:
        return url if url.isprintable() else "(not shown)"
    host = parts.netloc.rsplit("@", 1)[1]
    return SplitResult(parts.scheme, f"***@{host}", parts.path, "", "").geturl()


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def ci_is_set(environ: Mapping[str, str]) -> bool:
    """`CI` counts when it is non-empty and not `false` or `0` (contract section 2)."""
    value = environ.get("CI", "").strip().lower()
    return value not in ("", "false", "0")
