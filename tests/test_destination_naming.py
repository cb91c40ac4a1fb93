"""Offline checks of destination names and places: the services' naming rules, Kinesis
regions against the list the package ships, and `validate` reporting them per environment
(the list itself and its generator: tests/test_kinesis_regions.py)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from pydantic import BaseModel, ValidationError

from provisioner import destinations
from provisioner.cli import cli
from provisioner.destinations.eventhubs import EventHubsDestination
from provisioner.destinations.kinesis import KinesisDestination
from provisioner.destinations.naming import (
    AWS_REGION,
    EVENT_HUB,
    EVENT_HUBS_NAMESPACE,
    KINESIS_STREAM,
    Finding,
    NameRule,
    one_edit_apart,
    region_finding,
)
from provisioner.manifest import load_and_check, substitute_vars

KINESIS = {
    "type": "amazon-kinesis",
    "region": "us-east-1",
    "stream": "orders",
    "credentials": {"accessKeyId": "${env:KEY_ID}", "secretKey": "${env:SECRET}"},
}
EVENT_HUBS = {
    "type": "azure-event-hubs",
    "namespace": "contoso-events",
    "eventHub": "orders",
    "credentials": {"sasKeyName": "${env:SAS_NAME}", "sasKey": "${env:SAS_KEY}"},
}
MODELS: dict[str, tuple[type[BaseModel], dict[str, Any]]] = {
    "region": (KinesisDestination, KINESIS),
    "stream": (KinesisDestination, KINESIS),
    "namespace": (EventHubsDestination, EVENT_HUBS),
    "eventHub": (EventHubsDestination, EVENT_HUBS),
}
RULES = {
    "region": AWS_REGION,
    "stream": KINESIS_STREAM,
    "namespace": EVENT_HUBS_NAMESPACE,
    "eventHub": EVENT_HUB,
}
CASES = [
    # Kinesis CreateStream: 1 to 128 of [a-zA-Z0-9_.-].
    ("stream", "a", True),
    ("stream", "a" * 128, True),
    ("stream", "a" * 129, False),
    ("stream", "", False),
    ("stream", "orders_v2.eu-1", True),
    ("stream", "-._", True),
    ("stream", "a b", False),
    ("stream", "orders/eu", False),
    ("stream", "ordérs", False),
    ("stream", "orders\n", False),
    # Event hub: 1 to 256; letters, digits, '.', '-', '_'; alphanumeric at both ends.
    ("eventHub", "a", True),
    ("eventHub", "7", True),
    ("eventHub", "a" * 256, True),
    ("eventHub", "a" * 257, False),
    ("eventHub", "", False),
    ("eventHub", "a.b-c_d", True),
    ("eventHub", "_orders", False),
    ("eventHub", "orders-", False),
    ("eventHub", "orders.", False),
    ("eventHub", "or ders", False),
    # Namespace: 6 to 50; letters, digits, hyphens; a letter first, no hyphen last.
    ("namespace", "abcdef", True),
    ("namespace", "abcde", False),
    ("namespace", "a" * 50, True),
    ("namespace", "a" * 51, False),
    ("namespace", "a--b-c9", True),
    ("namespace", "1abcdef", False),
    ("namespace", "-abcdef", False),
    ("namespace", "abcdef-", False),
    ("namespace", "abc_def", False),
    ("namespace", "contoso.servicebus.windows.net", False),
    # Region form: that of every partition's regions.
    ("region", "us-east-1", True),
    ("region", "us-gov-west-1", True),
    ("region", "us-isob-east-1", True),
    ("region", "eusc-de-east-1", True),
    ("region", "us-east-12", True),
    ("region", "mars-north-1", False),
    ("region", "eusc-east-1", True),
    ("region", "US-EAST-1", False),
    ("region", "us-east", False),
    ("region", "useast1", False),
    ("region", "us-east-1a", False),
    ("region", "us_east_1", False),
    ("region", "us-east-\u0661", False),  # an Arabic-Indic digit one
]


def model_accepts(field: str, value: str) -> bool:
    """Whether the destination's manifest model takes `value` for `field`; a refusal must
    concern that field alone."""
    model, valid = MODELS[field]
    try:
        model.model_validate({**valid, field: value})
    except ValidationError as error:
        assert {detail["loc"][0] for detail in error.errors()} == {field}
        return False
    return True


@pytest.mark.parametrize(("field", "value", "accepted"), CASES)
def test_each_naming_rule_at_its_boundaries(field: str, value: str, accepted: bool) -> None:
    assert model_accepts(field, value) is accepted
    assert RULES[field].accepts(value) is accepted


@pytest.mark.parametrize("field", sorted(RULES))
def test_the_models_messages_are_the_rules_hints(field: str) -> None:
    kind = "amazon-kinesis" if field in ("region", "stream") else "azure-event-hubs"
    assert destinations.by_type(kind).pattern_hints[field] == RULES[field].hint


@pytest.mark.parametrize(
    ("first", "second", "expected"),
    [
        ("us-east-1", "us-esat-1", True),  # neighbours swapped
        ("us-east-1", "us-eas-1", True),  # a letter left out
        ("us-east-1", "us-eaast-1", True),  # a letter doubled
        ("us-east-1", "us-eest-1", True),  # a letter replaced
        ("us-east-1", "sus-east-1", True),  # one more at the start
        ("us-east-1", "us-east-1", False),
        ("us-east-1", "us-west-1", False),  # two replaced
        ("us-east-1", "us-tsae-1", False),  # a swap of letters not neighbours
        ("us-east-1", "us-ea-1", False),  # two left out
        ("ab", "ba", True),
        ("", "a", True),
    ],
)
def test_one_edit_apart(first: str, second: str, expected: bool) -> None:
    assert one_edit_apart(first, second) is expected
    assert one_edit_apart(second, first) is expected


@pytest.mark.parametrize(
    ("region", "meant"),
    [
        ("us-esat-1", "us-east-1"),
        ("us-eas-1", "us-east-1"),
        ("eu-wset-1", "eu-west-1"),
        ("cn-nort-1", "cn-north-1"),
        ("us-gov-wset-1", "us-gov-west-1"),
        ("ap-southeat-2", "ap-southeast-2"),
    ],
)
def test_a_region_one_edit_from_a_known_one_is_an_error_naming_it(region: str, meant: str) -> None:
    assert region_finding("region", region) == Finding(
        "error",
        "region",
        f"'{region}' is not an AWS region where Kinesis is offered; did you mean '{meant}'?",
    )


@pytest.mark.parametrize(
    "region",
    [
        "ap-southeast-9",  # the next number of an area: how AWS opens most regions
        "us-east-3",  # one edit from us-east-1 and -2, but in the number alone
        "us-east-10",
        "xx-north-1",  # nowhere near a known one
        "us-gov-central-1",
    ],
)
def test_any_other_well_formed_unknown_region_is_a_warning(region: str) -> None:
    finding = region_finding("region", region)
    assert finding is not None and finding.severity == "warning"
    assert finding.message.startswith(f"'{region}' is not in this version's list")


@pytest.mark.parametrize("region", ["us-east-1", "eusc-de-east-1", "US East", "${var:region}"])
def test_known_malformed_or_templated_regions_are_not_the_lists_to_judge(region: str) -> None:
    """A known region passes; a malformed one is the model's error; a template is judged
    per environment, once substituted."""
    assert region_finding("region", region) is None


# `validate`, end to end.

MANIFEST = """\
version: 1
name: {name}
destination:
  type: amazon-kinesis
  region: {region}
  stream: {stream}
  credentials:
    accessKeyId: ${{env:AWS_KEY_ID}}
    secretKey: ${{env:AWS_SECRET}}
"""
HUB_MANIFEST = """\
version: 1
name: hub
destination:
  type: azure-event-hubs
  namespace: {namespace}
  eventHub: {hub}
  credentials:
    sasKeyName: ${{env:SAS_NAME}}
    sasKey: ${{env:SAS_KEY}}
"""


def manifest(name: str = "orders", region: str = "us-east-1", stream: str = "orders") -> str:
    return MANIFEST.format(name=name, region=region, stream=stream)


def test_validate_catches_a_region_typo_and_an_invalid_stream_name_offline(
    tmp_path: Path,
) -> None:
    (tmp_path / "typo.yaml").write_text(manifest("typo", region="us-esat-1"), encoding="utf-8")
    (tmp_path / "stream.yaml").write_text(manifest("bad", stream="orders 2"), encoding="utf-8")
    (tmp_path / "new.yaml").write_text(manifest("new", region="ap-southeast-9"), encoding="utf-8")
    # No credentials, no AWS configuration, no proxy to reach anything: offline.
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("AWS_", "AZURE_", "HTTP", "http"))
    }
    outcome = subprocess.run(
        [sys.executable, "-m", "provisioner", "validate", "."],
        cwd=tmp_path,
        env={**env, "HTTPS_PROXY": "http://127.0.0.1:9", "HTTP_PROXY": "http://127.0.0.1:9"},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert outcome.returncode == 1
    assert outcome.stderr.splitlines() == [
        "stream.yaml:6:11: error: 'orders 2' is not a Kinesis stream name (letters, digits, "
        "'_', '.', '-'; at most 128) (at destination.stream)",
        "typo.yaml:5:11: error: 'us-esat-1' is not an AWS region where Kinesis is offered; "
        "did you mean 'us-east-1'? (at destination.region)",
        "2 manifest(s) in 3 file(s): 2 error(s), 1 warning(s)",  # one does not load
    ]
    assert outcome.stdout.splitlines() == [
        "new.yaml:5:11: warning: 'ap-southeast-9' is not in this version's list of AWS regions "
        "where Kinesis is offered: check its spelling (a region opened since is fine) "
        "(at destination.region)"
    ]


def invoke(monkeypatch: pytest.MonkeyPatch, directory: Path, *args: str) -> tuple[int, str]:
    """`validate ARGS` run in `directory` (where it looks for the project file)."""
    monkeypatch.chdir(directory)
    result = CliRunner().invoke(cli, ["validate", *args])
    return result.exit_code, result.output


def test_the_region_problems_in_every_format(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "typo.yaml").write_text(manifest("typo", region="eu-wset-1"), encoding="utf-8")
    (tmp_path / "new.yaml").write_text(manifest("new", region="us-east-3"), encoding="utf-8")

    code, output = invoke(monkeypatch, tmp_path, "--format", "json", ".")
    assert code == 1
    problems = json.loads(output)["problems"]
    assert [(p["severity"], p["file"], p["line"], p["column"], p["path"]) for p in problems] == [
        ("warning", "new.yaml", 5, 11, "destination.region"),
        ("error", "typo.yaml", 5, 11, "destination.region"),
    ]
    assert problems[1]["message"].endswith("did you mean 'eu-west-1'?")

    code, output = invoke(monkeypatch, tmp_path, "--format", "github", ".")
    assert code == 1
    assert output.splitlines()[1] == (
        "::error file=typo.yaml,line=5,col=11::'eu-wset-1' is not an AWS region where Kinesis "
        "is offered; did you mean 'eu-west-1'? (at destination.region)"
    )
    assert output.splitlines()[0].startswith("::warning file=new.yaml,line=5,col=11::'us-east-3'")

    code, output = invoke(monkeypatch, tmp_path, "--format", "sarif", ".")
    assert code == 1
    results = json.loads(output)["runs"][0]["results"]
    found = {
        (
            r["level"],
            r["locations"][0]["physicalLocation"]["artifactLocation"]["uri"],
            r["locations"][0]["physicalLocation"]["region"]["startLine"],
            r["locations"][0]["physicalLocation"]["region"]["startColumn"],
        )
        for r in results
    }
    assert found == {("warning", "new.yaml", 5, 11), ("error", "typo.yaml", 5, 11)}


PROJECT = """\
project: naming
manifests: [destinations/]
environments:
  dev:
    sandbox: dev
    vars: {{region: {dev}, stream: {dev_stream}}}
  prod:
    sandbox: prod
    vars: {{region: {prod}, stream: orders}}
"""


def project(tmp_path: Path, dev: str, prod: str, dev_stream: str = "orders-dev") -> Path:
    (tmp_path / "provisioner.yaml").write_text(
        PROJECT.format(dev=dev, prod=prod, dev_stream=dev_stream), encoding="utf-8"
    )
    destinations = tmp_path / "destinations"
    destinations.mkdir(exist_ok=True)
    text = manifest(region="${var:region}", stream="${var:stream}")
    (destinations / "m.yaml").write_text(text, encoding="utf-8")
    return destinations / "m.yaml"


def test_a_templated_region_is_checked_in_each_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = project(tmp_path, dev="us-west-2", prod="us-wset-2")
    code, output = invoke(monkeypatch, tmp_path)
    assert code == 1
    assert output.splitlines() == [
        f"{path.resolve()}:5:11: error: 'us-wset-2' is not an AWS region where Kinesis is "
        "offered; did you mean 'us-west-2'? (with the values of environment 'prod') "
        "(at destination.region)",
        "1 manifest(s) in 1 file(s): 1 error(s), 0 warning(s)",
    ]


def test_an_unknown_templated_region_warns_for_its_environment_alone(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = project(tmp_path, dev="eu-south-7", prod="eu-south-1")
    code, output = invoke(monkeypatch, tmp_path, "--format", "json")
    assert code == 0
    problems = json.loads(output)["problems"]
    assert [(p["severity"], p["file"], p["line"], p["column"]) for p in problems] == [
        ("warning", str(path.resolve()), 5, 11)
    ]
    assert problems[0]["message"].endswith("(with the values of environment 'dev')")


def test_other_templated_fields_are_checked_in_each_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = project(tmp_path, dev="us-east-1", prod="us-east-1", dev_stream="'orders dev'")
    code, output = invoke(monkeypatch, tmp_path)
    assert code == 1
    assert output.splitlines()[0] == (
        f"{path.resolve()}:6:11: error: 'orders dev' is not a Kinesis stream name (letters, "
        "digits, '_', '.', '-'; at most 128) (with the values of environment 'dev') "
        "(at destination.stream)"
    )


def test_a_literal_region_is_reported_once_not_again_per_environment(tmp_path: Path) -> None:
    path = tmp_path / "m.yaml"
    path.write_text(manifest(region="us-esat-1", stream="${var:stream}"), encoding="utf-8")
    loaded = load_and_check([path])
    assert [(p.severity, p.location.line) for p in loaded.problems] == [("error", 5)]
    substituted, problems = substitute_vars(loaded.manifests, {"stream": "s"}, "prod")
    assert problems == []
    destination = substituted[0].manifest.destination
    assert isinstance(destination, KinesisDestination) and destination.stream == "s"


def test_a_templated_region_typo_stops_a_run_in_that_environment(tmp_path: Path) -> None:
    """What plan and apply substitute is checked as validate's environments are."""
    path = tmp_path / "m.yaml"
    path.write_text(manifest(region="${var:region}"), encoding="utf-8")
    loaded = load_and_check([path])
    assert loaded.problems == []
    _, problems = substitute_vars(loaded.manifests, {"region": "ca-cental-1"}, "prod")
    assert [(p.severity, p.location.line, p.location.column, p.path) for p in problems] == [
        ("error", 5, 11, "destination.region")
    ]
    assert "did you mean 'ca-central-1'?" in problems[0].message


def test_event_hubs_names_are_reported_at_their_lines(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    text = HUB_MANIFEST.format(namespace="ns", hub="-orders")
    (tmp_path / "hub.yaml").write_text(text, encoding="utf-8")
    code, output = invoke(monkeypatch, tmp_path, ".")
    assert code == 1
    assert output.splitlines()[:2] == [
        "hub.yaml:5:14: error: 'ns' is not an Event Hubs namespace (6 to 50 letters, digits "
        "and hyphens, starting with a letter) (at destination.namespace)",
        "hub.yaml:6:13: error: '-orders' is not an event hub name (letters, digits, '.', '_', "
        "'-') (at destination.eventHub)",
    ]


def test_a_name_rule_without_lengths_decides_by_its_pattern_alone() -> None:
    rule = NameRule(pattern=r"^[a-z]+$", hint="is not lowercase")
    assert rule.accepts("abc") and not rule.accepts("") and not rule.accepts("aBc")
