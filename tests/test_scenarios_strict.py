"""End-to-end scenarios against the emulator in strict mode (only documented writes).

`STRICT_SCENARIOS` names scenarios of tests/test_scenarios*.py and runs each unchanged on
`strict_workspace` (nothing undocumented accepted) and on `strict_workspace_known_conflicts`
(also the undocumented writes listed in tests/contract/conflicts.py). In both, every
`apply` must succeed and every write the emulator refused must be one of those known
conflicts.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path

import pytest

import tests.test_scenarios as scenarios
import tests.test_scenarios_resilience as resilience
from provisioner.emulator.strict import path_template
from tests.contract.conflicts import UNDOCUMENTED_TOOL_WRITES
from tests.contract.recording import RequestLog
from tests.workspace import Outcome, Workspace

Scenario = Callable[[Workspace], None]
DEMO_SECRETS = {  # the values scripts/demo gives the examples' ${env:…} references
    "KINESIS_ACCESS_KEY_ID": "demo-access-key-id",
    "KINESIS_SECRET_KEY": "demo-secret-key",
    "EVENTHUB_SAS_KEY_NAME": "demo-send-policy",
    "EVENTHUB_SAS_KEY": "demo-sas-key",
    "MARKETING_KINESIS_ACCESS_KEY_ID": "demo-marketing-key-id",
    "MARKETING_KINESIS_SECRET_KEY": "demo-marketing-secret",
    "PERSONALISATION_SAS_KEY_NAME": "demo-personalisation-policy",
}

STRICT_SCENARIOS: dict[str, Scenario] = {
    "create": scenarios.test_create_then_nothing_to_do,
    "update": scenarios.test_keyed_update_sends_exactly_the_needed_ops,
    "rotate": scenarios.test_credential_rotation_is_sensitive_and_applied,
    "disable": scenarios.test_enabled_is_an_action_not_a_patch,
    "rename": scenarios.test_a_flow_renamed_in_the_ui_is_renamed_back_not_duplicated,
    "import": resilience.test_import_writes_a_manifest_whose_plan_only_adopts_credentials,
    "destroy": resilience.test_destroy_removes_flows_then_what_only_they_use,
}


class StrictWorkspace(Workspace):
    """A workspace whose every apply must succeed: the scenarios ignore some outcomes that
    a refused write would turn into exit 1."""

    def apply(self, *args: str) -> Outcome:
        outcome = super().apply(*args)
        assert outcome.code == 0, outcome.err
        return outcome


def run_strictly(ws: Workspace, scenario: Scenario) -> RequestLog:
    ws.__class__ = StrictWorkspace
    scenario(ws)
    assert ws.log is not None
    return ws.log


def assert_only_known_refusals(log: RequestLog) -> None:
    for refused in log.refused():
        assert refused.method == "PATCH", refused
        template = path_template(refused.path)
        assert any(
            (w.method, w.path) == ("PATCH", template)
            and all(w.matches_op(o["op"], o["path"]) for o in refused.body)
            for w in UNDOCUMENTED_TOOL_WRITES
        ), f"an undocumented write that is not a known conflict: {refused}"


@pytest.mark.parametrize("name", list(STRICT_SCENARIOS))
def test_scenario_on_the_strict_emulator(strict_workspace: Workspace, name: str) -> None:
    log = run_strictly(strict_workspace, STRICT_SCENARIOS[name])
    assert_only_known_refusals(log)


@pytest.mark.parametrize("name", list(STRICT_SCENARIOS))
def test_scenario_on_the_strict_emulator_with_known_conflicts(
    strict_workspace_known_conflicts: Workspace, name: str
) -> None:
    log = run_strictly(strict_workspace_known_conflicts, STRICT_SCENARIOS[name])
    assert log.refused() == []
    assert log.writes(), "the scenario wrote nothing"


def _quick_start(ws: Workspace) -> Outcome:
    examples = Path(__file__).resolve().parent.parent / "examples" / "destinations"
    shutil.copytree(
        examples,
        ws.root / "manifests",
        ignore=shutil.ignore_patterns("secrets"),
        dirs_exist_ok=True,
    )
    (ws.root / "manifests" / "secrets").mkdir(exist_ok=True)
    (ws.root / "manifests" / "secrets" / "personalisation-sas-key").write_text("demo-key\n")
    ws.env.update(DEMO_SECRETS)
    applied = ws.run("apply", "manifests", "--auto-approve")
    assert applied.code == 0, applied.err
    again = ws.run("plan", "manifests", "--detailed-exitcode")
    assert again.code == 0, again.out + again.err
    return applied


def test_the_quick_start_converges_on_the_strict_emulator(strict_workspace: Workspace) -> None:
    """The README's main job (the example manifests, applied then planned again) against an
    emulator that refuses every write no document shows: it converges writing none."""
    applied = _quick_start(strict_workspace)
    assert "could not be recorded" not in applied.err
    assert strict_workspace.log is not None
    assert strict_workspace.log.refused() == []


def test_the_quick_start_converges_where_the_platform_records_no_writer(
    strict_writerless_workspace: Workspace,
) -> None:
    """As above, on a platform whose objects do not say who last wrote them: apply then
    tries the one undocumented write it has (the drift digest); it is refused once, said
    once, and the apply still succeeds."""
    ws = strict_writerless_workspace
    applied = _quick_start(ws)
    assert applied.err.count("Note: the applied state could not be recorded") == 1
    said = [line for line in applied.err.splitlines() if not line.startswith("debug: ")]
    assert not any("best-effort write refused" in line for line in said)
    assert ws.log is not None
    assert ws.log.refused(), "the digest was not tried"
    assert_only_known_refusals(ws.log)
