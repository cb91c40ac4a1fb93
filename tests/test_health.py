"""The status's pure core: durations, runs as the platform writes them, the status rules,
the plan's verdict per dataflow, and the renderings."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest

from provisioner.health.durations import (
    DurationError,
    format_age,
    format_duration,
    parse_duration,
)
from provisioner.health.model import Run, RunError, StatusReport, status_json_schema
from provisioner.health.rules import (
    Observed,
    Rules,
    assess,
    make_window,
    needs_detail,
    status_report,
    top_errors,
)
from provisioner.health.runs import last_run, outcome_of, run_of
from provisioner.health.step import pending_by_dataflow
from provisioner.plan.model import (
    AccountChange,
    FieldChange,
    FlowChange,
    Plan,
    PlanTarget,
    SourceChange,
    Summary,
    TargetChange,
)
from provisioner.render.status import (
    ASCII_MARKS,
    UNICODE_MARKS,
    github_annotations,
    marks_for,
    render_status_markdown,
    render_status_text,
)

HOUR = 3_600_000
NOW = 1_800_000_000_000  # epoch ms
AUDIENCE = "72ddd79b-6b0a-4e97-a8d2-112ccd81bd02"
TARGET = PlanTarget(kind="emulator", url="http://127.0.0.1:1", org="org@AdobeOrg", sandbox="prod")


# durations -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("90s", 90),
        ("15m", 900),
        ("2h", 7200),
        ("1d", 86400),
        (" 24h ", 86400),
        ("366d", 366 * 86400),
    ],
)
def test_a_duration_is_a_whole_number_and_a_unit(text: str, seconds: int) -> None:
    assert parse_duration(text) == seconds


@pytest.mark.parametrize(
    ("text", "said"),
    [
        ("90", "'90' has no unit: write 90s, 90m, 90h or 90d"),
        ("2w", "unknown unit 'w'"),
        ("1.5h", "not a whole number of a unit; use a smaller unit"),
        ("0m", "no time at all"),
        ("367d", "longer than 366d"),
        ("", "'' is not a duration: a whole number and a unit, such as 90s"),
        ("-5m", "'-5m' is not a duration"),
        ("h", "'h' is not a duration"),
        ("manifests", "'manifests' is not a duration"),
    ],
)
def test_a_duration_that_cannot_be_read_says_what_to_write(text: str, said: str) -> None:
    with pytest.raises(DurationError) as raised:
        parse_duration(text)
    assert said in str(raised.value)


def test_durations_and_ages_are_written_compactly() -> None:
    assert [format_duration(s) for s in (90, 900, 5400, 7200, 86400, 172800, 0)] == [
        "90s",
        "15m",
        "90m",
        "2h",
        "24h",
        "2d",
        "0s",
    ]
    assert [format_age(s) for s in (-5, 0, 59, 60, 3599, 3600, 3900, 86399, 86400, 97200)] == [
        "0s",
        "0s",
        "59s",
        "1m",
        "59m",
        "1h",
        "1h05m",
        "23h59m",
        "1d",
        "1d3h",
    ]


# runs as the platform writes them -------------------------------------------------------


@pytest.mark.parametrize(
    ("state", "outcome"),
    [
        ("success", "success"),
        ("Success", "success"),
        ("SUCCESS", "success"),
        ("failed", "failed"),
        ("Failed", "failed"),
        ("partialSuccess", "partial"),
        ("Processing", "pending"),
        ("Waiting", "pending"),
        ("inProgress", "pending"),
        ("somethingNew", "pending"),
        ("", "pending"),
        (None, "pending"),
        (7, "pending"),
    ],
)
def test_run_states_compare_without_case_and_unknown_ones_are_not_finished(
    state: object, outcome: str
) -> None:
    assert outcome_of(state) == outcome


def test_a_dataflows_last_run_is_read_from_its_last_run_details() -> None:
    flow = {
        "id": "f",
        "lastRunDetails": {
            "id": "r1",
            "state": "partialSuccess",
            "startedAtUTC": NOW - HOUR,
            "completedAtUTC": float(NOW - HOUR + 5000),
        },
    }
    found = last_run(flow)
    assert found is not None
    assert (found.id, found.state, found.outcome) == ("r1", "partialSuccess", "partial")
    assert (found.started_at, found.completed_at) == (NOW - HOUR, NOW - HOUR + 5000)
    assert last_run({"id": "f"}) is None
    assert last_run({"id": "f", "lastRunDetails": None}) is None
    assert last_run({"id": "f", "lastRunDetails": "yesterday"}) is None


def platform_run(
    run_id: str,
    started: int,
    status: str = "success",
    records: dict[str, Any] | None = None,
    errors: list[dict[str, Any]] | None = None,
) -> dict[str, Any]:
    """A run as `GET /runs` answers it."""
    return {
        "id": run_id,
        "flowId": "f",
        "createdAt": started,
        "metrics": {
            "durationSummary": {"startedAtUTC": started, "completedAtUTC": started + 3000},
            "recordSummary": records if records is not None else {"outputRecordCount": 10},
            "statusSummary": {"status": status, "errors": errors or []},
        },
    }


def test_a_runs_identities_activated_excluded_and_failed() -> None:
    run = run_of(
        platform_run(
            "r",
            NOW,
            "failed",
            {
                "outputRecordCount": 7,
                "createdRecordCount": 100,
                "updatedRecordCount": 100,
                "skippedRecordCount": 3,
                "failedRecordCount": 5,
            },
            [{"code": "CONNECTOR-1001-500", "message": "unreachable", "count": 5, "type": "Error"}],
        )
    )
    assert (run.outcome, run.activated, run.excluded, run.failed) == ("failed", 7, 3, 5)
    assert run.errors == [RunError(code="CONNECTOR-1001-500", message="unreachable", count=5)]
    # without outputRecordCount: the created and the updated
    counted = run_of(
        platform_run("r", NOW, records={"createdRecordCount": 4, "updatedRecordCount": 2})
    )
    assert counted.activated == 6


def test_a_run_with_odd_fields_reads_them_as_not_given() -> None:
    odd = {
        "id": "r",
        "createdAt": NOW,
        "metrics": {
            "durationSummary": {"startedAtUTC": "yesterday"},
            "recordSummary": {
                "outputRecordCount": True,
                "createdRecordCount": -4,
                "skippedRecordCount": "3",
                "failedRecordCount": 2.5,
            },
            "statusSummary": {"status": ["failed"], "errors": [None, "x", {"code": 5}, {}]},
        },
    }
    run = run_of(odd)
    assert run.started_at == NOW  # its creation, when the duration gives no start
    assert (run.outcome, run.activated, run.excluded, run.failed, run.errors) == (
        "pending",
        0,
        0,
        0,
        [],
    )
    assert run_of({"metrics": "none"}).id == ""
    assert (
        run_of({"id": "r", "metrics": {"durationSummary": {"startedAtUTC": -1}}}).started_at is None
    )


# the rules ---------------------------------------------------------------------------


def live_flow(
    state: str = "enabled",
    audiences: int = 1,
    created: int = NOW - 48 * HOUR,
    last: dict[str, Any] | None = None,
) -> dict[str, Any]:
    selectors = [{"type": "PLATFORM_SEGMENT", "value": {"id": AUDIENCE}} for _ in range(audiences)]
    flow: dict[str, Any] = {
        "id": "flow-1",
        "name": "orders",
        "state": state,
        "createdAt": created,
        "transformations": [
            {"name": "GeneralTransform", "params": {"segmentSelectors": {"selectors": selectors}}}
        ],
    }
    if last is not None:
        flow["lastRunDetails"] = last
    return flow


def last(state: str, hours_ago: float) -> dict[str, Any]:
    started = NOW - int(hours_ago * HOUR)
    return {
        "id": "r-last",
        "state": state,
        "startedAtUTC": started,
        "completedAtUTC": started + 1000,
    }


def observed(flow: dict[str, Any] | None, enabled: bool = True, audiences: int = 1) -> Observed:
    return Observed("orders", "manifests/orders.yaml:2:7", enabled, audiences, flow)


RULES = Rules()


def test_a_recent_successful_run_is_healthy() -> None:
    status = assess(observed(live_flow(last=last("success", 0.5))), RULES, NOW)
    assert status.health == "healthy" and status.findings == []
    assert status.last_run is not None and status.last_run.outcome == "success"
    assert status.last_run_age == 1800
    assert (status.enabled, status.audiences, status.expected_to_run) == (True, 1, True)
    assert not needs_detail(observed(live_flow(last=last("success", 0.5))), RULES, NOW)


def test_a_failed_last_run_is_unhealthy_and_needs_detail() -> None:
    seen = observed(live_flow(last=last("Failed", 0.5)))
    assert needs_detail(seen, RULES, NOW)
    status = assess(seen, RULES, NOW)
    assert status.health == "unhealthy"
    assert [(f.rule, f.message) for f in status.findings] == [("failed-run", "the last run failed")]


def test_a_failed_runs_own_error_is_named_when_its_runs_were_read() -> None:
    seen = observed(live_flow(last=last("failed", 0.5)))
    error = {"code": "CONNECTOR-1001-500", "message": "could not be reached", "count": 40}
    runs = [
        run_of(
            platform_run("r-old", NOW - 5 * HOUR, "failed", errors=[{**error, "code": "X-1-1"}])
        ),
        run_of(
            platform_run("r-last", NOW - HOUR // 2, "failed", {"failedRecordCount": 40}, [error])
        ),
    ]
    status = assess(seen, RULES, NOW, runs)
    assert status.findings[0].message == (
        "the last run failed (CONNECTOR-1001-500: could not be reached)"
    )


@pytest.mark.parametrize("state", ["Processing", "Waiting", "inProgress"])
def test_a_run_still_going_is_neither_success_nor_failure(state: str) -> None:
    seen = observed(live_flow(last=last(state, 0.2)))
    status = assess(seen, RULES, NOW)
    assert status.health == "healthy" and not needs_detail(seen, RULES, NOW)
    assert status.last_run is not None and status.last_run.outcome == "pending"


def test_a_partly_successful_last_run_needs_detail_and_is_judged_on_the_share() -> None:
    seen = observed(live_flow(last=last("partialSuccess", 0.5)))
    assert needs_detail(seen, RULES, NOW)
    few = [
        run_of(
            platform_run(
                "a", NOW - HOUR, "partialSuccess", {"outputRecordCount": 96, "failedRecordCount": 4}
            )
        )
    ]
    assert assess(seen, RULES, NOW, few).health == "healthy"  # 4% <= 5%
    many = [
        run_of(
            platform_run(
                "a",
                NOW - HOUR,
                "partialSuccess",
                {"outputRecordCount": 90, "failedRecordCount": 10, "skippedRecordCount": 900},
            )
        )
    ]
    status = assess(seen, RULES, NOW, many)
    assert [(f.rule, f.message) for f in status.findings] == [
        ("failed-ratio", "10.0% of identities failed over the last 24h (limit 5.0%)")
    ]


def test_the_share_counts_only_the_window() -> None:
    seen = observed(live_flow(last=last("success", 1)))
    runs = [
        run_of(
            platform_run(
                "old", NOW - 30 * HOUR, "failed", {"outputRecordCount": 0, "failedRecordCount": 50}
            )
        ),
        run_of(platform_run("new", NOW - HOUR, "success", {"outputRecordCount": 50})),
    ]
    status = assess(seen, Rules(since=2 * 3600), NOW, runs)
    assert status.health == "healthy"
    assert status.window is not None and [r.id for r in status.window.runs] == ["new"]
    assert assess(seen, Rules(since=48 * 3600), NOW, runs).findings[0].rule == "failed-ratio"


def test_no_run_for_longer_than_stale_after_is_stale() -> None:
    seen = observed(live_flow(last=last("success", 4)))
    assert needs_detail(seen, RULES, NOW)
    status = assess(seen, RULES, NOW)
    assert [(f.rule, f.message) for f in status.findings] == [("stale", "no run for 4h (limit 3h)")]
    assert assess(seen, Rules(stale_after=5 * 3600), NOW).health == "healthy"


def test_a_dataflow_that_never_ran_is_stale_counted_from_its_creation() -> None:
    young = observed(live_flow(created=NOW - HOUR))
    status = assess(young, RULES, NOW)
    assert (status.health, status.note, status.last_run) == ("healthy", "never ran", None)
    old = observed(live_flow(created=NOW - 5 * HOUR))
    assert needs_detail(old, RULES, NOW)
    assert [(f.rule, f.message) for f in assess(old, RULES, NOW).findings] == [
        ("stale", "never ran in the 5h since it was created (limit 3h)")
    ]
    # no creation time: nothing to count from
    unknown = live_flow()
    del unknown["createdAt"]
    assert assess(observed(unknown), RULES, NOW).health == "healthy"


def test_disabled_on_purpose_and_empty_dataflows_are_healthy_whatever_their_runs() -> None:
    disabled = observed(live_flow("disabled", last=last("failed", 30)), enabled=False)
    status = assess(disabled, RULES, NOW)
    assert (status.health, status.note, status.expected_to_run) == (
        "healthy",
        "disabled on purpose",
        False,
    )
    assert not needs_detail(disabled, RULES, NOW)
    empty = observed(live_flow(audiences=0, created=NOW - 50 * HOUR), audiences=0)
    status = assess(empty, RULES, NOW)
    assert (status.health, status.note) == ("healthy", "no audiences: nothing to deliver")


def test_disabled_against_its_manifest_is_still_expected_to_deliver() -> None:
    # Someone disabled it on the platform; the manifest wants it enabled: it goes stale.
    seen = observed(live_flow("disabled", last=last("success", 5)), enabled=True)
    status = assess(seen, RULES, NOW)
    assert status.expected_to_run and status.enabled is False
    assert [f.rule for f in status.findings] == ["stale"]


def test_a_manifest_whose_dataflow_does_not_exist_is_unhealthy() -> None:
    status = assess(Observed("gone", "m.yaml:2:7", True, 1, None, ["create dataflow"]), RULES, NOW)
    assert (status.health, status.id, status.enabled, status.in_step) == (
        "unhealthy",
        None,
        None,
        False,
    )
    assert [(f.rule, f.message) for f in status.findings] == [
        ("missing", "no such dataflow: `apply` creates it")
    ]
    disabled = assess(Observed("gone", "m.yaml:2:7", False, 0, None), RULES, NOW)
    assert disabled.health == "unhealthy"


def test_every_rule_broken_is_reported() -> None:
    seen = observed(live_flow(last=last("failed", 5)))
    runs = [
        run_of(
            platform_run(
                "r-last", NOW - 5 * HOUR, "failed", {"outputRecordCount": 0, "failedRecordCount": 9}
            )
        )
    ]
    assert [f.rule for f in assess(seen, RULES, NOW, runs).findings] == [
        "failed-run",
        "failed-ratio",
        "stale",
    ]


def test_a_run_read_after_the_list_is_the_last_run() -> None:
    seen = observed(live_flow(last=last("failed", 2)))
    newer = [run_of(platform_run("r-new", NOW - HOUR, "success"))]
    status = assess(seen, RULES, NOW, newer)
    assert status.last_run is not None and status.last_run.id == "r-new"
    assert status.health == "healthy"


def test_the_window_counts_runs_oldest_first_and_ranks_errors_by_records() -> None:
    runs = [
        run_of(
            platform_run(
                "c", NOW - HOUR, "success", {"outputRecordCount": 10, "skippedRecordCount": 1}
            )
        ),
        run_of(
            platform_run(
                "a",
                NOW - 3 * HOUR,
                "failed",
                {"failedRecordCount": 5},
                [{"code": "B-1-1", "message": "old", "count": 5}],
            )
        ),
        run_of(
            platform_run(
                "b",
                NOW - 2 * HOUR,
                "failed",
                {"failedRecordCount": 4},
                [
                    {"code": "B-1-1", "message": "new", "count": 4},
                    {"code": "A-1-1", "message": "a", "count": 1},
                ],
            )
        ),
        run_of(platform_run("d", NOW - HOUR // 2, "inProgress", {})),
    ]
    window = make_window(runs, NOW - 24 * HOUR)
    assert [r.id for r in window.runs] == ["a", "b", "c", "d"]
    assert (window.succeeded, window.failed_runs, window.pending, window.partial) == (1, 2, 1, 0)
    assert (window.activated, window.excluded, window.failed) == (10, 1, 9)
    assert window.failed_ratio == pytest.approx(9 / 19)
    assert window.errors == [
        RunError(code="B-1-1", message="new", count=9),
        RunError(code="A-1-1", message="a", count=1),
    ]
    assert make_window([], NOW).failed_ratio is None
    many = [
        Run(
            id=str(i),
            state="failed",
            outcome="failed",
            started_at=NOW,
            activated=0,
            excluded=0,
            failed=0,
            errors=[RunError(code=f"C-{i}", message="", count=i)],
        )
        for i in range(5)
    ]
    assert [e.code for e in top_errors(many)] == ["C-4", "C-3", "C-2"]


def test_the_report_lists_the_failing_and_counts_the_pending() -> None:
    healthy = assess(observed(live_flow(last=last("success", 0.5))), RULES, NOW)
    failing = assess(Observed("gone", "m.yaml:1:1", True, 1, None, ["create dataflow"]), RULES, NOW)
    report = status_report(TARGET, NOW, "platform", RULES, False, [healthy, failing])
    assert not report.healthy
    assert report.summary.failing == ["gone"]
    assert (report.summary.healthy, report.summary.unhealthy) == (1, 1)
    assert (report.summary.in_step, report.summary.changes_pending) == (1, 1)
    assert report.settings.since == 86400 and report.clock == "platform"


def test_the_status_json_validates_against_its_schema() -> None:
    jsonschema = pytest.importorskip("jsonschema")
    runs = [
        run_of(
            platform_run(
                "r-last",
                NOW - HOUR,
                "failed",
                {"failedRecordCount": 2},
                [{"code": "X-1-1", "message": "m", "count": 2}],
            )
        )
    ]
    statuses = [
        assess(observed(live_flow(last=last("failed", 1))), RULES, NOW, runs),
        assess(Observed("gone", "m.yaml:1:1", True, 1, None), RULES, NOW),
    ]
    report = status_report(TARGET, NOW, "local", RULES, True, statuses)
    document = json.loads(json.dumps(report.as_json()))
    jsonschema.validate(document, status_json_schema())
    assert document["format_version"] == "1"
    assert StatusReport.model_validate(document) == report


# the plan's verdict per dataflow ----------------------------------------------------------


def plan_of(*changes: Any) -> Plan:
    return Plan(target=TARGET, summary=Summary(), changes=list(changes))


def test_a_dataflow_is_in_step_when_the_plan_changes_nothing_of_it() -> None:
    plan = plan_of(
        FlowChange(action="update", name="orders"),
        TargetChange(action="update", name="orders"),
        FlowChange(action="create", name="new"),
        SourceChange(action="create", name="profile"),
    )
    pending = pending_by_dataflow(plan, {"orders": "a", "new": "b", "calm": "c"})
    assert pending == {
        "orders": ["update dataflow", "update target connection"],
        "new": ["create dataflow"],
        "calm": [],
    }


def test_an_accounts_change_is_pending_for_each_of_its_dataflows() -> None:
    plan = plan_of(
        AccountChange(
            action="update",
            name="shared",
            fields=[FieldChange(path="params.region", before="us-east-1", after="eu-west-1")],
        ),
        AccountChange(action="create", name="fresh"),
    )
    pending = pending_by_dataflow(plan, {"one": "shared", "two": "shared", "three": "fresh"})
    assert pending == {
        "one": ["update account shared: params.region"],
        "two": ["update account shared: params.region"],
        "three": ["create account fresh"],
    }


def test_the_credentials_fingerprint_is_not_judged_without_the_secrets() -> None:
    # Planned with the secrets unresolved, every account's fingerprint reads as changed.
    unjudged = FieldChange(
        path="credentials", before="(sensitive)", after="(sensitive)", sensitive=True
    )
    reference = FieldChange(
        path="credentials.secretKey", before="${env:OLD}", after="${env:NEW}", sensitive=True
    )
    only_fingerprint = plan_of(AccountChange(action="update", name="a", fields=[unjudged]))
    assert pending_by_dataflow(only_fingerprint, {"orders": "a"}) == {"orders": []}
    with_reference = plan_of(AccountChange(action="update", name="a", fields=[unjudged, reference]))
    assert pending_by_dataflow(with_reference, {"orders": "a"}) == {
        "orders": ["update account a: credentials.secretKey"]
    }


# the renderings ---------------------------------------------------------------------------


def hostile_report() -> StatusReport:
    """A failing dataflow whose run error says things meant to break out of its place."""
    message = "line one\nline two\r\n::add-mask::x 100% <!-- [x](http://e) @team \x1b[31m"
    # 60 hourly runs that had nothing to deliver, then one that failed to deliver 3
    quiet = [run_of(platform_run(f"r{i}", NOW - (60 - i) * HOUR, "success", {})) for i in range(60)]
    error = {"code": "X-1-1", "message": message, "count": 3}
    failed = platform_run("r-last", NOW - HOUR // 2, "failed", {"failedRecordCount": 3}, [error])
    runs = [*quiet, run_of(failed)]
    failing = assess(
        observed(live_flow(last=last("failed", 0.5))), Rules(since=90 * 3600), NOW, runs
    )
    pending = Observed(
        "calm",
        "manifests/a,b:c.yaml:7:7",
        True,
        1,
        live_flow(last=last("success", 0.5)),
        ["update dataflow"],
    )
    return status_report(
        TARGET,
        NOW,
        "platform",
        Rules(since=90 * 3600),
        False,
        [failing, assess(pending, RULES, NOW)],
    )


def test_marks_fall_back_to_ascii_where_the_encoding_cannot_print_them() -> None:
    assert marks_for("utf-8") is UNICODE_MARKS
    assert marks_for("UTF-16") is UNICODE_MARKS
    for encoding in ("ascii", "latin-1", "cp1252", None, "no-such-codec"):
        assert marks_for(encoding) is ASCII_MARKS, encoding


def test_text_draws_one_mark_per_run_the_newest_last_and_shows_messages_inert() -> None:
    report = hostile_report()
    text = render_status_text(report, marks=UNICODE_MARKS)
    marks = re.search(r"runs, last 90h, oldest first: (\S+)  61 run\(s\)", text)
    assert marks is not None
    assert marks.group(1) == "…" + "✓" * 47 + "✗"  # the newest 48 of 61
    ascii_text = render_status_text(report, marks=ASCII_MARKS)
    assert "oldest first: ..." + "+" * 47 + "x  61 run(s)" in ascii_text
    assert ascii_text.isascii() or "…" not in ascii_text
    assert "\x1b" not in text and "\r" not in text
    error_lines = [line for line in text.splitlines() if line.startswith("    error:")]
    assert error_lines == [
        "    error: X-1-1 (3 records): line one line two ::add-mask::x 100% <!-- [x](http://e) "
        "@team \\x1b[31m"
    ]
    assert all(not line.lstrip().startswith("::") for line in text.splitlines())


def test_colour_is_only_on_the_health_word() -> None:
    text = render_status_text(hostile_report(), colour=True)
    assert "\x1b[1;31mFAIL\x1b[0m  orders" in text
    assert "\x1b[32mok  \x1b[0m  calm" in text
    assert text.count("\x1b[") == 4


def test_github_annotations_escape_what_the_runner_would_read_as_syntax() -> None:
    lines = github_annotations(hostile_report())
    assert lines == [
        "::error file=manifests/orders.yaml,line=2,title=provisioner status%3A orders::orders: "
        "the last run failed; 100.0%25 of identities failed",
        "::warning file=manifests/a%2Cb%3Ac.yaml,line=7,title=provisioner status%3A calm::calm: "
        "changes pending (update dataflow)",
    ]
    assert all("\n" not in line and "\r" not in line for line in lines)


def test_markdown_keeps_platform_text_from_forming_markup() -> None:
    markdown = render_status_markdown(hostile_report())
    (error,) = [line for line in markdown.splitlines() if line.startswith("- error")]
    assert error.startswith("- error `X-1-1` (3 records): line one line two")
    assert "<!--" not in markdown and "](http" not in markdown.replace("\\](http", "")
    assert "@\u2060team" in error  # no mention
    assert "| **unhealthy** | `orders` | enabled | in step | failed 30m ago | `…" in markdown
