"""The progress line counts what the last line of apply counts: the plan's changes applied,
the dataflows they make up, and the parts that failed."""

from __future__ import annotations

import io

from provisioner.apply.run import Result
from provisioner.cli.progress import Applied, Done, Progress
from provisioner.plan.model import (
    AccountChange,
    AnyChange,
    FlowChange,
    Plan,
    SourceChange,
    Summary,
)
from provisioner.plan.model import TargetChange as Target
from provisioner.render.applied import apply_result, summary_line
from tests.plan_fixtures import target_of


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def changes() -> list[AnyChange]:
    return [
        SourceChange(action="create", name="profile"),
        AccountChange(action="create", name="shared"),
        Target(action="create", name="a"),
        FlowChange(action="create", name="a"),
        Target(action="update", name="b", id="t-b"),
        FlowChange(action="update", name="c", id="f-c"),
        FlowChange(action="delete", name="d", id="f-d"),
        Target(action="delete", name="d", id="t-d"),
    ]


def test_applied_counts_changes_dataflows_and_failed_parts_as_the_summary_does() -> None:
    counts = Applied(changes())
    assert (counts.total, counts.dataflows) == (8, 4)
    results = [
        Result("profile source", True, "done"),
        Result("account shared", True, "done"),
        Result("dataflow a", True, "done"),
        Result("dataflow b", False, "boom"),
        Result("dataflow c", True, "done"),
        Result("dataflow d", True, "done"),
    ]
    for result in results:
        counts.add(result, first=True)
    assert counts.text() == "7/8 change(s) applied (3/4 dataflow(s)); 1 failed"
    plan = Plan(target=target_of(), summary=Summary(), changes=changes())
    final = apply_result("apply", plan, {"dataflow b": "boom"})
    assert summary_line(final) == (
        "Apply finished: 7 of 8 change(s) applied (3 of 4 dataflow(s)); 1 failed."
    )


def test_a_part_that_fails_after_a_first_step_leaves_the_count() -> None:
    counts = Applied(changes())
    counts.add(Result("dataflow a", True, "deleted the old flow"), first=True)
    assert (counts.done, counts.dataflows_done) == (2, 1)
    counts.add(Result("dataflow a", True, "created"), first=False)  # counted once
    assert (counts.done, counts.dataflows_done) == (2, 1)
    counts.add(Result("dataflow a", False, "boom"), first=False)
    assert (counts.done, counts.dataflows_done, counts.failed) == (0, 0, 1)
    counts.add(Result("dataflow a", False, "boom again"), first=False)
    assert counts.failed == 1


def test_a_refused_part_only_the_saved_plan_has_counts_as_failed() -> None:
    counts = Applied(changes())
    counts.add(Result("dataflow gone", False, "refused: ..."), first=True)
    assert (counts.done, counts.dataflows_done, counts.failed) == (0, 0, 1)


def test_the_line_on_a_terminal_says_it_and_is_erased_at_the_end() -> None:
    terminal = Terminal()
    progress = Progress("Applying", Applied(changes()), terminal)
    progress(Result("dataflow a", True, "done"))
    progress(Result("dataflow a", True, "done"))  # a unit is counted once
    assert "Applying: 2/8 change(s) applied (1/4 dataflow(s)); 0 failed, " in terminal.getvalue()
    progress.close()
    assert terminal.getvalue().endswith("\r\033[K")


def test_no_line_on_a_pipe() -> None:
    pipe = io.StringIO()
    progress = Progress("Applying", Applied(changes()), pipe)
    progress(Result("dataflow a", True, "done"))
    progress.close()
    assert pipe.getvalue() == ""


def test_a_wait_counts_dataflows_done() -> None:
    counts = Done(3, "dataflow(s)")
    counts.add(Result("dataflow a", True, ""), first=True)
    counts.add(Result("dataflow b", False, ""), first=True)
    counts.add(Result("dataflow b", False, ""), first=False)
    assert counts.text() == "2/3 dataflow(s) done, 1 failed"
