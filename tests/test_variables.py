"""`${var:NAME}` references: where they may be, their form, listing and substitution."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from provisioner.destinations.eventhubs import EventHubsDestination
from provisioner.destinations.kinesis import KinesisDestination
from provisioner.manifest import (
    LoadedManifest,
    load_and_check,
    substitute_vars,
    variable_uses,
)
from provisioner.manifest.checks import account_settings

KINESIS = """\
version: 1
name: {name}
description: {description}
destination:
  type: amazon-kinesis
  account: {account}
  region: {region}
  stream: {stream}
  credentials:
    accessKeyId: ${{env:AWS_KEY_ID}}
    secretKey: ${{env:AWS_SECRET}}
"""
EVENT_HUBS = """\
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
DEFAULTS = {
    "name": "orders",
    "description": "Orders",
    "account": "acct",
    "region": "us-east-1",
    "stream": "orders",
}


def kinesis(**fields: str) -> str:
    return KINESIS.format(**{**DEFAULTS, **fields})


def load(tmp_path: Path, text: str) -> tuple[list[LoadedManifest], list[str]]:
    path = tmp_path / "m.yaml"
    path.write_text(text, encoding="utf-8")
    result = load_and_check([path])
    return result.manifests, [p.format().removeprefix(f"{path}:") for p in result.problems]


def test_uses_are_listed_with_their_positions(tmp_path: Path) -> None:
    text = kinesis(
        description="Orders of ${var:team} in ${var:region} (${var:team})",
        region="${var:region}",
        stream="orders-${var:suffix}",
        account="${var:team}-kinesis",
    )
    manifests, found = load(tmp_path, text)
    assert found == []
    uses = [
        (u.name, u.manifest, u.path, u.location.line, u.location.column)
        for u in variable_uses(manifests)
    ]
    assert uses == [
        ("team", "orders", "description", 3, 14),
        ("region", "orders", "description", 3, 14),
        ("team", "orders", "destination.account", 6, 12),
        ("region", "orders", "destination.region", 7, 11),
        ("suffix", "orders", "destination.stream", 8, 11),
    ]


@pytest.mark.parametrize(
    ("fields", "values", "expected"),
    [
        ({"region": "${var:r}"}, {"r": "eu-west-1"}, ("region", "eu-west-1")),
        ({"stream": "${var:s}"}, {"s": "orders-dev"}, ("stream", "orders-dev")),
        ({"stream": "orders-${var:env}"}, {"env": "dev"}, ("stream", "orders-dev")),
        ({"account": "${var:a}"}, {"a": "Team A"}, ("account", "Team A")),
        ({"description": "For ${var:who}."}, {"who": "sales"}, ("description", "For sales.")),
        # A value is literal text: a reference in it is not substituted again.
        ({"description": "${var:d}"}, {"d": "${var:d}"}, ("description", "${var:d}")),
    ],
)
def test_kinesis_fields_take_variables(
    tmp_path: Path, fields: dict[str, str], values: dict[str, str], expected: tuple[str, str]
) -> None:
    manifests, found = load(tmp_path, kinesis(**fields))
    assert found == []
    substituted, problems = substitute_vars(manifests, values, "dev")
    assert problems == []
    manifest = substituted[0].manifest
    field, value = expected
    owner = manifest if field == "description" else manifest.destination
    assert getattr(owner, field) == value
    assert substituted[0].file == manifests[0].file


def test_event_hubs_fields_take_variables(tmp_path: Path) -> None:
    text = EVENT_HUBS.format(namespace="${var:ns}", hub="${var:hub}")
    manifests, found = load(tmp_path, text)
    assert found == []
    substituted, problems = substitute_vars(manifests, {"ns": "contoso-dev", "hub": "h1"}, "dev")
    assert problems == []
    destination = substituted[0].manifest.destination
    assert isinstance(destination, EventHubsDestination)
    assert (destination.namespace, destination.eventHub) == ("contoso-dev", "h1")


@pytest.mark.parametrize(
    ("text", "values", "expected"),
    [
        (
            kinesis(region="${var:r}"),
            {"r": "US East"},
            "7:11: error: 'US East' is not an AWS region (such as us-east-1) (with the values "
            "of environment 'dev') (at destination.region)",
        ),
        (
            kinesis(stream="${var:s}"),
            {"s": "a b"},
            "8:11: error: 'a b' is not a Kinesis stream name",
        ),
        (
            kinesis(stream="${var:s}"),
            {"s": "${var:s}"},
            "8:11: error: '${var:s}' is not a Kinesis stream name",
        ),
        (
            kinesis(account="${var:a}"),
            {"a": " padded"},
            "6:12: error: must not be empty or start or end with spaces",
        ),
        (
            kinesis(description="${var:d}"),
            {"d": "line\nbreak"},
            "3:14: error: contains the control character \\n (character 5)",
        ),
        (
            EVENT_HUBS.format(namespace="${var:ns}", hub="hub"),
            {"ns": "ab"},
            "5:14: error: 'ab' is not an Event Hubs namespace",
        ),
        (
            EVENT_HUBS.format(namespace="contoso-events", hub="${var:h}"),
            {"h": "-bad-"},
            "6:13: error: '-bad-' is not an event hub name",
        ),
        (
            kinesis(stream="${var:s}"),
            {},
            "8:11: error: variable 's' is not defined in environment 'dev' "
            "(environments.dev.vars) (at destination.stream)",
        ),
    ],
)
def test_substituted_values_are_checked_in_their_format(
    tmp_path: Path, text: str, values: dict[str, str], expected: str
) -> None:
    manifests, found = load(tmp_path, text)
    assert found == []
    substituted, problems = substitute_vars(manifests, values, "dev")
    assert substituted == []
    assert len(problems) == 1
    assert problems[0].format().removeprefix(f"{tmp_path / 'm.yaml'}:").startswith(expected)


def test_without_an_environment_a_variable_has_no_value(tmp_path: Path) -> None:
    manifests, _ = load(tmp_path, kinesis(region="${var:r}"))
    _, problems = substitute_vars(manifests, {}, None)
    assert [p.message for p in problems] == [
        "variable 'r' has no value: no environment is selected (environments and their vars "
        "are defined in the project file, provisioner.yaml)"
    ]


def test_manifests_without_variables_come_back_unchanged(tmp_path: Path) -> None:
    manifests, _ = load(tmp_path, kinesis() + "---\n" + kinesis(name="b", stream="${var:s}"))
    substituted, problems = substitute_vars(manifests, {"s": "x"}, "dev")
    assert problems == []
    assert substituted[0] is manifests[0]
    destination = substituted[1].manifest.destination
    assert isinstance(destination, KinesisDestination)
    assert destination.stream == "x"


def test_resolved_secrets_stay_resolved(tmp_path: Path) -> None:
    manifests, _ = load(tmp_path, kinesis(stream="${var:s}"))
    for _, ref in manifests[0].manifest.destination.credentials:
        ref.resolve(tmp_path, {"AWS_KEY_ID": "id", "AWS_SECRET": "secret"})
    substituted, _ = substitute_vars(manifests, {"s": "x"}, "dev")
    credentials = dict(substituted[0].manifest.destination.credentials)
    assert credentials["secretKey"].reveal() == "secret"


def test_shared_accounts_are_compared_once_substituted(tmp_path: Path) -> None:
    text = (
        kinesis(account="shared", region="${var:r}")
        + "---\n"
        + kinesis(name="b", account="shared", region="us-east-1")
    )
    manifests, found = load(tmp_path, text)
    assert found == []  # the reference may well be us-east-1
    _, problems = substitute_vars(manifests, {"r": "us-east-1"}, "prod")
    assert problems == []
    _, problems = substitute_vars(manifests, {"r": "eu-west-1"}, "dev")
    assert [p.message for p in problems] == [
        f"account 'shared' is shared with the manifest at {tmp_path / 'm.yaml'}:5:3 but differs "
        "in region; one account has one type, place and credentials (with the values of "
        "environment 'dev')"
    ]
    assert isinstance(manifests[0].manifest.destination, KinesisDestination)
    assert account_settings(manifests[0])["region"] == "${var:r}"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (kinesis(name="orders-${var:env}"), "2:7: error: variables are not allowed here"),
        (kinesis(stream='"${var:}"'), "8:11: error: the ${var:} reference names nothing"),
        (kinesis(stream='"${var:1x}"'), "8:11: error: '1x' is not a variable name"),
        (kinesis(stream='"${var:a b}"'), "8:11: error: 'a b' is not a variable name"),
        (kinesis(stream='"x${var:s"'), "8:11: error: a ${var:NAME} reference is missing"),
        (kinesis(region="${env:REGION}"), "7:11: error: ${env:…} and ${file:…} references"),
        (kinesis(description="${file:d.txt}"), "3:14: error: ${env:…} and ${file:…}"),
        (
            kinesis().replace("${env:AWS_SECRET}", "${var:secret}"),
            "11:16: error: malformed secret reference: unknown reference kind 'var'",
        ),
        (
            kinesis() + "audiences:\n  - name: ${var:a}\n",
            "13:11: error: variables are not allowed here",
        ),
        (kinesis() + "attributes: ['${var:a}']\n", "12:14: error: '${var:a}' is not an XDM"),
        (
            kinesis().replace("amazon-kinesis", "${var:t}"),
            "5:9: error: unknown destination type '${var:t}'",
        ),
    ],
)
def test_references_refused_where_they_may_not_be(tmp_path: Path, text: str, expected: str) -> None:
    _, problems = load(tmp_path, text)
    assert len(problems) == 1, problems
    assert problems[0].startswith(expected), problems[0]


def test_templates_conform_to_the_published_schema(tmp_path: Path) -> None:
    jsonschema = pytest.importorskip("jsonschema")
    schema = json.loads(
        (Path(__file__).parent.parent / "schemas" / "manifest.schema.json").read_text()
    )
    document = {
        "version": 1,
        "name": "orders",
        "description": "for ${var:team}",
        "destination": {
            "type": "amazon-kinesis",
            "region": "${var:region}",
            "stream": "orders-${var:env}",
            "credentials": {"accessKeyId": "${env:A}", "secretKey": "${env:B}"},
        },
        "audiences": [{"name": "Men over 50"}],
        "renamedFrom": ["old orders"],
    }
    jsonschema.validate(document, schema)
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate({**document, "audiences": [{"description": "no id"}]}, schema)
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate({**document, "name": "a\x1bb"}, schema)
