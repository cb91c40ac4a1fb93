"""Resolving manifests' audiences against a sandbox, in-process: names to ids, ids checked,
the messages and their positions, 403, and how few requests it takes."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest

from provisioner.emulator import EmulatorApp
from provisioner.emulator.server import EmulatorTransport
from provisioner.manifest import LoadedManifest
from provisioner.manifest.checks import load_and_check
from provisioner.plan.labels import with_platform_names
from provisioner.plan.model import AudienceChanges
from provisioner.platform.audiences import SEGMENTATION_PATH, AudienceReader
from provisioner.platform.client import ClientOptions, PlatformClient, RetryPolicy
from provisioner.state.audiences import AudienceResolution, resolve_audiences
from tests.emulator_support import platform_target

FAST = RetryPolicy(attempts=3, base_delay=0.001, max_delay=0.002)
DEV_MEN = "17f89d3a-2720-5c75-9453-cb2b54e8d404"
PROD_MEN = "a388c647-97e9-59b5-b453-1796d8e0e422"
PROD_GOLD = "774fa3c2-e62c-5cd6-a747-c19e22c0821e"
SEEDS = {
    "dev": [{"id": DEV_MEN, "name": "Men over 50"}],
    "prod": [
        {"id": PROD_MEN, "name": "Men over 50"},
        {"id": PROD_GOLD, "name": "Gold members", "lifecycleState": "published"},
        {"id": "0d2c9a5e-1111-4aaa-8bbb-000000000001", "name": "Twins"},
        {"id": "0d2c9a5e-1111-4aaa-8bbb-000000000002", "name": "Twins"},
        {
            "id": "0d2c9a5e-1111-4aaa-8bbb-000000000003",
            "name": "Draft one",
            "lifecycleState": "draft",
        },
        {"id": "0d2c9a5e-1111-4aaa-8bbb-000000000004", "name": "Gold members (old)"},
    ],
}


class Counted:
    """The emulator's Audiences API requests, as (method, path)."""

    def __init__(self, app: EmulatorApp) -> None:
        self.seen: list[tuple[str, str]] = []
        app.observers.append(self._observe)

    def _observe(self, number: int, method: str, path: str) -> None:
        if path.startswith(SEGMENTATION_PATH):
            self.seen.append((method, path))

    def clear(self) -> None:
        self.seen.clear()


@pytest.fixture
def app() -> EmulatorApp:
    emulator = EmulatorApp()
    emulator.sandboxes.add("fresh")  # a sandbox that exists but holds no audiences yet
    for sandbox, audiences in SEEDS.items():
        emulator.seed_audiences(sandbox, audiences)
    return emulator


def client_for(app: EmulatorApp, sandbox: str = "prod") -> PlatformClient:
    target = replace(platform_target("http://emulator.invalid"), sandbox=sandbox)
    options = ClientOptions(EmulatorTransport(app), FAST, sleep=lambda _: None)
    return PlatformClient(target, options)


@pytest.fixture
def prod(app: EmulatorApp) -> Iterator[PlatformClient]:
    with client_for(app) as client:
        yield client


def manifest(tmp_path: Path, *audience_lines: str, name: str = "orders") -> list[LoadedManifest]:
    text = (
        f"version: 1\nname: {name}\ndestination:\n  type: amazon-kinesis\n  region: us-east-1\n"
        "  stream: orders\n  credentials:\n    accessKeyId: ${env:K}\n    secretKey: ${env:S}\n"
        "audiences:\n" + "".join(f"  {line}\n" for line in audience_lines)
    )
    path = tmp_path / f"{name}.yaml"
    path.write_text(text, encoding="utf-8")
    result = load_and_check([path])
    assert not result.errors, [p.format() for p in result.errors]
    return result.manifests


def resolve(client: PlatformClient, manifests: list[LoadedManifest]) -> AudienceResolution:
    return resolve_audiences(AudienceReader(client), manifests, client.target.sandbox)


def ids_of(resolution: AudienceResolution) -> list[str]:
    return [a.id for m in resolution.manifests for a in m.manifest.audience_objects()]


def test_a_name_resolves_to_its_id_in_each_sandbox(app: EmulatorApp, tmp_path: Path) -> None:
    manifests = manifest(tmp_path, "- name: Men over 50")
    with client_for(app, "dev") as dev, client_for(app, "prod") as prod:
        in_dev, in_prod = resolve(dev, manifests), resolve(prod, manifests)
    assert not in_dev.problems and not in_prod.problems
    assert ids_of(in_dev) == [DEV_MEN]
    assert ids_of(in_prod) == [PROD_MEN]
    # The name stays the label written into the dataflow.
    assert in_prod.manifests[0].manifest.audience_objects()[0].name == "Men over 50"


def test_a_published_audience_is_usable(prod: PlatformClient, tmp_path: Path) -> None:
    resolution = resolve(prod, manifest(tmp_path, "- name: Gold members"))
    assert not resolution.problems
    assert ids_of(resolution) == [PROD_GOLD]


def test_an_unknown_name_is_an_error_at_its_line_with_similar_names(
    prod: PlatformClient, tmp_path: Path
) -> None:
    resolution = resolve(prod, manifest(tmp_path, "- id: " + PROD_MEN, "- name: gold Members"))
    [error] = resolution.errors
    assert error.format() == (
        f"{tmp_path / 'orders.yaml'}:12:11: error: no audience named 'gold Members' in sandbox "
        "'prod'; similar names: 'Gold members', 'Gold members (old)' (at audiences[1].name)"
    )


def test_a_name_without_any_likeness_says_names_are_exact(
    prod: PlatformClient, tmp_path: Path
) -> None:
    resolution = resolve(prod, manifest(tmp_path, "- name: Zebra crossing"))
    assert "names are matched exactly, case included" in resolution.errors[0].message


def test_an_ambiguous_name_lists_the_candidates(prod: PlatformClient, tmp_path: Path) -> None:
    [error] = resolve(prod, manifest(tmp_path, "- name: Twins")).errors
    assert "audience name 'Twins' is ambiguous in sandbox 'prod': 2 active audiences" in str(
        error.message
    )
    assert "0d2c9a5e-1111-4aaa-8bbb-000000000001, 0d2c9a5e-1111-4aaa-8bbb-000000000002" in (
        error.message
    )
    assert (error.location.line, error.location.column) == (11, 11)


def test_a_draft_audience_is_not_resolved(prod: PlatformClient, tmp_path: Path) -> None:
    [error] = resolve(prod, manifest(tmp_path, "- name: Draft one")).errors
    assert "no active audience named 'Draft one'" in error.message
    assert "is draft" in error.message


def test_an_id_of_another_sandbox_is_an_error(prod: PlatformClient, tmp_path: Path) -> None:
    resolution = resolve(prod, manifest(tmp_path, "- " + DEV_MEN))
    [error] = resolution.errors
    assert str(error.location) == f"{tmp_path / 'orders.yaml'}:11:5"
    assert f"audience {DEV_MEN} does not exist in sandbox 'prod'" in error.message


def test_another_name_on_the_platform_is_a_warning_and_an_empty_one_is_not(
    app: EmulatorApp, prod: PlatformClient, tmp_path: Path
) -> None:
    lines = (f"- id: {PROD_MEN}", "  name: Men aged 50+")
    [warning] = resolve(prod, manifest(tmp_path, *lines)).problems
    assert warning.severity == "warning"
    assert "is named 'Men over 50' in sandbox 'prod', not 'Men aged 50+'" in warning.message
    # A sandbox never seeded answers any id with an empty name: no difference to report.
    with client_for(app, "fresh") as fresh:
        assert resolve(fresh, manifest(tmp_path, *lines)).problems == []


def test_two_entries_of_one_audience_are_a_duplicate(prod: PlatformClient, tmp_path: Path) -> None:
    resolution = resolve(prod, manifest(tmp_path, f"- {PROD_MEN}", "- name: Men over 50"))
    [error] = resolution.errors
    assert error.message == (
        f"audience 'Men over 50' (by name) is audience {PROD_MEN}, already listed as "
        f"{PROD_MEN} (first at line 11)"
    )


def test_a_sandbox_not_enabled_for_audiences(
    app: EmulatorApp, prod: PlatformClient, tmp_path: Path
) -> None:
    app.audiences.set_enabled("prod", False)
    by_name = resolve(prod, manifest(tmp_path, "- name: Men over 50"))
    assert "cannot be looked up by name: the Audiences API answered 403" in (
        by_name.errors[0].message
    )
    by_id = resolve(prod, manifest(tmp_path, f"- {DEV_MEN}"))
    assert not by_id.errors
    [warning] = by_id.warnings
    assert warning.message.startswith("audience ids were not checked: the Audiences API")
    assert ids_of(by_id) == [DEV_MEN]


def test_no_audiences_no_request(app: EmulatorApp, prod: PlatformClient, tmp_path: Path) -> None:
    counted = Counted(app)
    path = tmp_path / "plain.yaml"
    path.write_text(
        "version: 1\nname: plain\ndestination:\n  type: amazon-kinesis\n  region: us-east-1\n"
        "  stream: s\n  credentials:\n    accessKeyId: ${env:K}\n    secretKey: ${env:S}\n"
    )
    assert not resolve(prod, load_and_check([path]).manifests).problems
    assert counted.seen == []


def bulk_audiences(count: int, prefix: str) -> list[dict[str, str]]:
    return [
        {"id": str(uuid.uuid5(uuid.NAMESPACE_URL, f"{prefix}-{i}")), "name": f"{prefix} {i:03d}"}
        for i in range(count)
    ]


def test_250_ids_take_3_requests_and_a_missing_one_is_named(
    app: EmulatorApp, tmp_path: Path
) -> None:
    seeded = bulk_audiences(250, "bulk")
    app.seed_audiences("bulk", seeded)
    missing = str(uuid.uuid5(uuid.NAMESPACE_URL, "not-there"))
    lines = [f"- {a['id']}" for a in seeded]
    counted = Counted(app)
    with client_for(app, "bulk") as client:
        clean = resolve(client, manifest(tmp_path, *lines))
        assert not clean.problems
        assert counted.seen == [("POST", f"{SEGMENTATION_PATH}/audiences/bulk-get")] * 3
        assert clean.names_by_id[seeded[7]["id"]] == "bulk 007"
        counted.clear()
        # 101 ids in two requests: the second (one id, none found) is answered 404.
        broken = resolve(client, manifest(tmp_path, *lines[:100], f"- {missing}"))
    assert len(counted.seen) == 2
    [error] = broken.errors
    assert missing in error.message and error.location.line == 111


def test_names_choose_the_cheaper_lookup(app: EmulatorApp, tmp_path: Path) -> None:
    app.seed_audiences("many", bulk_audiences(250, "many"))
    counted = Counted(app)
    with client_for(app, "many") as client:
        # one name: one filtered query
        assert not resolve(client, manifest(tmp_path, "- name: many 042")).problems
        assert len(counted.seen) == 1 and counted.seen[0][0] == "GET"
        counted.clear()
        # 40 names in a sandbox of 250: the whole listing (3 pages) beats 40 queries
        names = [f"- name: many {i:03d}" for i in range(0, 200, 5)]
        resolution = resolve(client, manifest(tmp_path, *names))
        assert not resolution.problems and len(ids_of(resolution)) == 40
        assert len(counted.seen) == 3
        counted.clear()
        # 2 names: the first page tells there are 2 more pages; one query per name is as
        # cheap, and names found that way need no id check either
        two = resolve(client, manifest(tmp_path, "- name: many 001", "- name: many 002"))
        assert not two.problems and len(counted.seen) == 3


def test_ids_seen_while_looking_up_names_need_no_bulk_read(
    app: EmulatorApp, prod: PlatformClient, tmp_path: Path
) -> None:
    counted = Counted(app)
    lines = ("- name: Gold members", "- name: Men over 50", f"- id: {PROD_GOLD}", "  name: Gold")
    resolution = resolve(
        prod, manifest(tmp_path, *lines[:2]) + manifest(tmp_path, *lines[2:], name="b")
    )
    assert not resolution.errors
    assert [m for m, _ in counted.seen] == ["GET"]


def test_the_plan_shows_the_platform_name_when_the_manifest_gives_none() -> None:
    named = with_platform_names(
        {PROD_GOLD: "Gold"},
        AudienceChanges(add=[PROD_MEN, PROD_GOLD]),
        {PROD_MEN: "Men over 50", PROD_GOLD: "Gold members"},
    )
    assert named == {PROD_GOLD: "Gold", PROD_MEN: "Men over 50"}
