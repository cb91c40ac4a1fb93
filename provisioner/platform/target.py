"""Where the tool connects (contract section 2): a platform over HTTP, or the embedded emulator."""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass, field
from typing import Literal
from urllib.parse import urlsplit

from provisioner.errors import TargetError

DEFAULT_PLATFORM_URL = "https://platform.adobe.io"
DEFAULT_IMS_URL = "https://ims-na1.adobelogin.com"
DEFAULT_SCOPES = "openid,AdobeID,read_organizations,additional_info.projectedProductContext,session"
DEFAULT_SANDBOX = "prod"


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

    @property
    def where(self) -> str:
        return describe_where(self.kind, self.url, self.org, self.sandbox)

    def describe(self) -> str:
        """The line that opens every plan, apply and destroy."""
        return f"Target: {self.where}"

    def as_json(self) -> dict[str, str]:
        return {"kind": self.kind, "url": self.url, "org": self.org, "sandbox": self.sandbox}

    @property
    def secrets(self) -> list[str]:
        return [s for s in (self.client_secret, self.access_token) if s]


def describe_where(kind: str, url: str, org: str, sandbox: str) -> str:
    """`https://platform.adobe.io (org …, sandbox …)`, or the emulator's file instead."""
    place = f"embedded emulator {url}" if kind == "emulator" else url
    return f"{place} (org {org}, sandbox {sandbox})"


def platform_target(env: dict[str, str], url: str, sandbox: str) -> Target:
    url = check_url(url.rstrip("/"), "AEP_PLATFORM_URL")
    ims_url = check_url(env.get("AEP_IMS_URL", DEFAULT_IMS_URL).rstrip("/"), "AEP_IMS_URL")
    missing = [name for name in ("AEP_ORG_ID", "AEP_CLIENT_ID") if name not in env]
    if "AEP_ACCESS_TOKEN" not in env and "AEP_CLIENT_SECRET" not in env:
        missing.append("AEP_CLIENT_SECRET (or AEP_ACCESS_TOKEN)")
    if missing:
        raise TargetError(f"the platform at {url} needs {', '.join(missing)} to be set")
    return Target(
        "platform",
        url,
        env["AEP_ORG_ID"],
        sandbox,
        ims_url=ims_url,
        client_id=env["AEP_CLIENT_ID"],
        scopes=env.get("AEP_SCOPES", DEFAULT_SCOPES),
        client_secret=env.get("AEP_CLIENT_SECRET", ""),
        access_token=env.get("AEP_ACCESS_TOKEN", ""),
    )


def check_url(url: str, name: str) -> str:
    """HTTPS anywhere; plain HTTP only to a loopback address."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise TargetError(f"{name} must be an http(s) URL, got '{url}'")
    if parts.scheme == "http" and not is_loopback(parts.hostname):
        raise TargetError(
            f"{name} uses plain http:// to {parts.hostname}; only loopback addresses may "
            "use http, use https:// for anything else"
        )
    return url


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False
