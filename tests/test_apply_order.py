"""apply works in the order the plan derives (`plan/order.py`), and nowhere else decides it.

End to end in-process against the emulator, one unit at a time (`--concurrency 1`), so the
order the units are reported in is the order they ran in."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import pytest

from provisioner.apply.run import Applier, Result
from provisioner.cli.planning import Scope, load_manifests, plan_for
from provisioner.emulator import EmulatorApp
from provisioner.emulator.server import EmulatorTransport
from provisioner.plan.model import Plan, unit_of
from provisioner.plan.order import apply_stages
from provisioner.platform.client import ClientOptions, PlatformClient, RetryPolicy
from tests.emulator_support import platform_target
from tests.workspace import AUDIENCES, SECRETS, event_hubs, kinesis

A, B = AUDIENCES[:2]
FAST = RetryPolicy(attempts=3, base_delay=0.001, max_delay=0.002)


@pytest.fixture(autouse=True)
def secrets_in_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name, value in SECRETS.items():
        monkeypatch.setenv(name, value)


def apply_once(folder: Path, app: EmulatorApp, prune: bool = False) -> tuple[Plan, list[str]]:
    """Plan and apply the manifests in `folder`: the plan, and the units in the order
    apply reported them."""
    target = platform_target("http://emulator.test")
    manifests = load_manifests([folder], secrets=True, environ=SECRETS).manifests
    options = ClientOptions(EmulatorTransport(app), FAST, concurrency=1)
    reported: list[Result] = []
    with PlatformClient(target, options) as client:
        the_plan, managed = plan_for(client, manifests, target, Scope(prune=prune), environ={})
        report = Applier(client, the_plan, managed, progress=reported.append).run()
    assert report.failed == [], report.failed
    return the_plan, [r.unit for r in reported]


def write(folder: Path, **manifests: str) -> None:
    folder.mkdir(exist_ok=True)
    for stale in folder.glob("*.yaml"):
        stale.unlink()
    for name, text in manifests.items():
        (folder / f"{name}.yaml").write_text(text)


def is_subsequence(found: Sequence[str], of: Sequence[str]) -> bool:
    remaining = iter(of)
    return all(any(unit == wanted for wanted in remaining) for unit in found)


def stage_units(the_plan: Plan) -> list[str]:
    return [step.unit for stage in apply_stages(the_plan) for step in stage.steps]


def test_apply_carries_out_the_units_in_the_plans_order(tmp_path: Path) -> None:
    app = EmulatorApp()
    folder = tmp_path / "manifests"
    write(folder, alpha=kinesis("alpha", [A]), beta=kinesis("beta", [B], stream="beta"))
    first, ran = apply_once(folder, app)
    assert ran == list(dict.fromkeys(unit_of(c) for c in first.changes))

    write(
        folder,
        alpha=kinesis("alpha", [A], stream="alpha-2"),
        gamma=kinesis("gamma", [B], stream="gamma"),
    )
    second, ran = apply_once(folder, app, prune=True)
    in_plan = list(dict.fromkeys(unit_of(c) for c in second.changes))
    assert in_plan == [
        "account gamma-account",
        "dataflow alpha",
        "dataflow gamma",
        "dataflow beta",
        "account beta-account",
    ]
    assert ran == in_plan
    assert is_subsequence(ran, stage_units(second))


def test_a_replaced_dataflow_goes_before_its_new_account_is_made(tmp_path: Path) -> None:
    app = EmulatorApp()
    folder = tmp_path / "manifests"
    write(folder, alpha=kinesis("alpha", [A]))
    apply_once(folder, app)
    write(folder, alpha=event_hubs("alpha", [A]))
    replaced, ran = apply_once(folder, app)
    assert [(c.action, c.type) for c in replaced.changes] == [
        ("replace", "account"),
        ("replace", "target"),
        ("replace", "flow"),
    ]
    # the old flow and target go first (the account they use is the one replaced)
    assert ran == ["dataflow alpha", "account alpha-account", "dataflow alpha"]
    assert is_subsequence(ran, stage_units(replaced))
    assert [stage.kind for stage in apply_stages(replaced) if stage.steps] == [
        "retire replaced",
        "converge accounts",
        "converge dataflows",
    ]
