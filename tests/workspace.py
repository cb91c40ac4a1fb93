"""A user's working directory for end-to-end scenarios: manifests, environment, the CLI.

The CLI runs through its real entry point (`provisioner.cli.main`, exit codes included)
against an emulator served over loopback HTTP.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from provisioner.cli import main
from provisioner.emulator import EmulatorApp
from provisioner.emulator.identity import DEFAULT_CLIENT_ID, DEFAULT_CLIENT_SECRET, DEFAULT_ORG
from tests.contract.recording import RequestLog

AUDIENCES = [
    "72ddd79b-6b0a-4e97-a8d2-112ccd81bd02",
    "7841ba61-23c1-4bb3-a495-00d695fe1e93",
    "0b5f7e1c-3f1a-4a8e-9b1d-6f2f3c4d5e6a",
    "1c6a8f2d-4a2b-4b9f-8c2e-7a3b4c5d6e7f",
    "2d7b9a3e-5b3c-4c0a-9d3f-8b4c5d6e7f80",
    "3e8c0b4f-6c4d-4d1b-8e4a-9c5d6e7f8091",
]
SECRETS = {
    "AWS_KEY_ID": "AKIAEXAMPLE",
    "AWS_SECRET": "aws-secret-canary-77ab",
    "SAS_NAME": "send-policy",
    "SAS_KEY": "sas-secret-canary-19cd",
}


@dataclass
class Outcome:
    code: int
    out: str
    err: str

    @property
    def json(self) -> Any:
        return json.loads(self.out)


def kinesis(
    name: str,
    audiences: Sequence[str | dict[str, str]] = (),
    attributes: Sequence[str] = (),
    description: str = "",
    enabled: bool = True,
    account: str | None = None,
    stream: str = "orders",
    region: str = "us-east-1",
    secret: str = "AWS_SECRET",
) -> str:
    lines = [
        "version: 1",
        f"name: {name}",
        f"description: {json.dumps(description)}",
        f"enabled: {'true' if enabled else 'false'}",
        "destination:",
        "  type: amazon-kinesis",
    ]
    if account:
        lines.append(f"  account: {account}")
    lines += [
        f"  region: {region}",
        f"  stream: {stream}",
        "  credentials:",
        "    accessKeyId: ${env:AWS_KEY_ID}",
        f"    secretKey: ${{env:{secret}}}",
    ]
    return "\n".join(lines + _lists(audiences, attributes)) + "\n"


def event_hubs(
    name: str,
    audiences: Sequence[str | dict[str, str]] = (),
    attributes: Sequence[str] = (),
    account: str | None = None,
) -> str:
    lines = ["version: 1", f"name: {name}", "destination:", "  type: azure-event-hubs"]
    if account:
        lines.append(f"  account: {account}")
    lines += [
        "  namespace: contoso-events",
        "  eventHub: orders",
        "  credentials:",
        "    sasKeyName: ${env:SAS_NAME}",
        "    sasKey: ${env:SAS_KEY}",
    ]
    return "\n".join(lines + _lists(audiences, attributes)) + "\n"


def _lists(audiences: Sequence[str | dict[str, str]], attributes: Sequence[str]) -> list[str]:
    lines = []
    if audiences:
        lines.append("audiences:")
        for audience in audiences:
            if isinstance(audience, str):
                lines.append(f"  - {audience}")
            else:
                lines.append(f"  - id: {audience['id']}")
                lines += [f"    {k}: {json.dumps(v)}" for k, v in audience.items() if k != "id"]
    if attributes:
        lines.append("attributes:")
        lines += [f"  - {a}" for a in attributes]
    return lines


class Workspace:
    log: RequestLog | None = None  # the requests the emulator got, when the fixture records

    def __init__(self, root: Path, url: str, emulator: EmulatorApp) -> None:
        self.root = root
        self.url = url
        self.emulator = emulator
        self.env = {
            "AEP_PLATFORM_URL": url,
            "AEP_IMS_URL": url,
            "AEP_CLIENT_ID": DEFAULT_CLIENT_ID,
            "AEP_CLIENT_SECRET": DEFAULT_CLIENT_SECRET,
            "AEP_ORG_ID": DEFAULT_ORG,
            **SECRETS,
        }
        (root / "manifests").mkdir(parents=True, exist_ok=True)

    def write(self, filename: str, text: str) -> Path:
        path = self.root / "manifests" / filename
        path.write_text(text, encoding="utf-8")
        return path

    def remove(self, filename: str) -> None:
        (self.root / "manifests" / filename).unlink()

    def run(self, *args: str) -> Outcome:
        """`provisioner ARGS` in this workspace: its own cwd, environment and streams."""
        out, err = io.StringIO(), io.StringIO()
        with (
            _environment(self.env),
            _cwd(self.root),
            contextlib.redirect_stdout(out),
            contextlib.redirect_stderr(err),
        ):
            try:
                main(list(args))
                code = 0
            except SystemExit as stop:
                code = stop.code if isinstance(stop.code, int) else 1
        return Outcome(code, out.getvalue(), err.getvalue())

    def plan(self, *args: str) -> Outcome:
        return self.run("plan", "manifests", *args)

    def apply(self, *args: str) -> Outcome:
        return self.run("apply", "manifests", "--auto-approve", *args)

    def resources(self, kind: str, sandbox: str = "prod") -> list[dict[str, Any]]:
        return [r for _, r in self.emulator.store.entries(kind, sandbox)]

    def flow(self, name: str) -> dict[str, Any]:
        found = [f for f in self.resources("flows") if f["name"] == name]
        assert len(found) == 1, f"{len(found)} flows named {name}"
        return found[0]


@contextlib.contextmanager
def _environment(values: dict[str, str]) -> Iterator[None]:
    saved = dict(os.environ)
    os.environ.clear()
    os.environ.update(
        {k: v for k, v in saved.items() if not k.startswith("AEP_") and k not in ("CI", "NO_COLOR")}
    )
    os.environ.update(values)
    try:
        yield
    finally:
        os.environ.clear()
        os.environ.update(saved)


@contextlib.contextmanager
def _cwd(path: Path) -> Iterator[None]:
    before = Path.cwd()
    os.chdir(path)
    try:
        yield
    finally:
        os.chdir(before)
