"""Secret references resolve late, and their values never show in any output form."""

from __future__ import annotations

import json
import logging
import pickle
from pathlib import Path

import pytest
from click.testing import CliRunner

from provisioner.cli import cli
from provisioner.destinations.kinesis import KinesisDestination
from provisioner.manifest import SecretRef, load_and_check, resolve_secrets
from tests.test_manifest import KINESIS, write

CANARY = "canary-7f3a9c-never-print-me"


def test_secret_value_is_never_in_str_repr_json_log_or_pickle(
    caplog: pytest.LogCaptureFixture,
) -> None:
    ref = SecretRef.parse("${env:SECRET}")
    ref.resolve(Path("."), {"SECRET": CANARY})
    logging.getLogger("test").warning("secret is %s / %r", ref, ref)
    forms = [str(ref), repr(ref), f"{ref}", caplog.text, pickle.dumps(ref).decode("latin-1")]
    assert all(CANARY not in form for form in forms)
    assert ref.reveal() == CANARY
    assert pickle.loads(pickle.dumps(ref)).resolved is False


def test_model_json_carries_the_reference_only(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)  # the project: `${file:}` references resolve inside it
    (tmp_path / "aws-secret").write_text(CANARY + "\n", encoding="utf-8")
    result = load_and_check([write(tmp_path, "m.yaml", KINESIS.format(name="orders"))])
    assert resolve_secrets(result.manifests, {"AWS_KEY_ID": "AKIA"}) == []
    manifest = result.manifests[0].manifest
    dumped = manifest.model_dump_json()
    assert CANARY not in dumped and CANARY not in repr(manifest)
    credentials = json.loads(dumped)["destination"]["credentials"]
    assert credentials == {"accessKeyId": "${env:AWS_KEY_ID}", "secretKey": "${file:aws-secret}"}
    # one trailing newline is stripped from a secret file
    assert isinstance(manifest.destination, KinesisDestination)
    assert manifest.destination.credentials.secretKey.reveal() == CANARY


def test_unresolvable_references_name_the_variable_file_and_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    path = write(tmp_path, "m.yaml", KINESIS.format(name="orders"))
    result = load_and_check([path])
    problems = [p.format() for p in resolve_secrets(result.manifests, {})]
    assert problems == [
        f"{path}:8:18: error: cannot resolve ${{env:AWS_KEY_ID}}: environment variable "
        "AWS_KEY_ID is not set (at destination.credentials.accessKeyId)",
        f"{path}:9:16: error: cannot resolve ${{file:aws-secret}}: secret file "
        f"{tmp_path / 'aws-secret'} cannot be read (No such file or directory) "
        "(at destination.credentials.secretKey)",
    ]


def test_validate_checks_form_only_unless_asked(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    path = str(write(tmp_path, "m.yaml", KINESIS.format(name="orders")))
    assert CliRunner().invoke(cli, ["validate", path]).exit_code == 0
    result = CliRunner().invoke(cli, ["validate", "--resolve-secrets", path], env={})
    assert result.exit_code == 1
    assert "environment variable AWS_KEY_ID is not set" in result.output


def test_fingerprint_changes_with_the_value_and_hides_it() -> None:
    one, two = SecretRef.parse("${env:A}"), SecretRef.parse("${env:A}")
    one.resolve(Path("."), {"A": CANARY})
    two.resolve(Path("."), {"A": CANARY + "-rotated"})
    assert one.fingerprint(b"k") != two.fingerprint(b"k")
    assert one.fingerprint(b"k") != one.fingerprint(b"other-key")
    assert CANARY not in one.fingerprint(b"k")
