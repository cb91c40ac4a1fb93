"""The status report for a terminal, a pull request (Markdown), GitHub's workflow log
(annotations) and machines (JSON).

Names come from manifests; run states, error codes and messages from the platform: each
goes through the `render.safe` function for where it lands. A dataflow's runs are drawn as
one mark per run, oldest first (✓ success, ± partly, ✗ failed, · not finished), in ASCII
(`+ ~ x .`) where the output's encoding cannot print them.
"""

from __future__ import annotations

import codecs
import json
from collections.abc import Callable
from dataclasses import dataclass

from provisioner.health.durations import format_age, format_duration
from provisioner.health.model import DataflowStatus, Outcome, RunError, StatusReport, Window
from provisioner.platform.target import describe_where
from provisioner.render.safe import for_markdown_code, for_markdown_text, for_message, for_terminal

MAX_MARKS = 48  # two days of hourly runs; older runs of a longer window are counted, not drawn
_COLOURS = {"FAIL": "1;31", "ok": "32"}


@dataclass(frozen=True)
class Marks:
    success: str
    partial: str
    failed: str
    pending: str
    more: str  # before the marks, when older runs are not drawn

    def of(self, outcome: Outcome) -> str:
        return str(getattr(self, outcome))


UNICODE_MARKS = Marks("✓", "±", "✗", "·", "…")
ASCII_MARKS = Marks("+", "~", "x", ".", "...")


def marks_for(encoding: str | None) -> Marks:
    """The marks the output's encoding can print: Unicode's, else ASCII's."""
    try:
        codecs.lookup(encoding or "ascii")
        "".join(vars(UNICODE_MARKS).values()).encode(encoding or "ascii")
    except (LookupError, UnicodeEncodeError):
        return ASCII_MARKS
    return UNICODE_MARKS


def render_status_json(report: StatusReport) -> str:
    return json.dumps(report.as_json(), indent=2) + "\n"


# words every format shares -----------------------------------------------------------------


def state_word(status: DataflowStatus) -> str:
    if status.enabled is None:
        return "missing"
    return "enabled" if status.enabled else "disabled"


def step_word(status: DataflowStatus) -> str:
    return "in step" if status.in_step else "changes pending"


def last_run_words(status: DataflowStatus) -> str:
    """`success 12m ago`, `failed 3h05m ago`, `never ran`, or `-` with no dataflow."""
    if status.id is None:
        return "-"
    run = status.last_run
    if run is None:
        return "never ran"
    state = run.state or run.outcome
    if status.last_run_age is None or run.started_at is None:
        return state
    return f"{state} {format_age(status.last_run_age)} ago"


def why(status: DataflowStatus) -> str:
    """What a line says after the last run, briefly: the rules broken, else the note (the
    details say the rest)."""
    if status.findings:
        return "; ".join(_briefly(status, f.rule, f.message) for f in status.findings)
    return status.note


def _briefly(status: DataflowStatus, rule: str, message: str) -> str:
    window = status.window
    if rule == "failed-run":
        return "the last run failed"
    if rule == "failed-ratio" and window is not None and window.failed_ratio is not None:
        return f"{window.failed_ratio:.1%} of identities failed"
    return message


def run_marks(window: Window, marks: Marks) -> str:
    runs = window.runs[-MAX_MARKS:]
    older = marks.more if len(window.runs) > MAX_MARKS else ""
    return older + "".join(marks.of(r.outcome) for r in runs)


def run_counts(window: Window) -> str:
    parts = [
        f"{window.succeeded} succeeded",
        *([f"{window.partial} partly"] if window.partial else []),
        f"{window.failed_runs} failed",
        *([f"{window.pending} not finished"] if window.pending else []),
    ]
    return f"{len(window.runs)} run(s): " + ", ".join(parts)


def identities(window: Window) -> str:
    ratio = f" ({window.failed_ratio:.1%} failed)" if window.failed_ratio is not None else ""
    return (
        f"{window.activated:,} activated, {window.excluded:,} excluded, "
        f"{window.failed:,} failed{ratio}"
    )


def error_words(error: RunError) -> str:
    code = f"{error.code} " if error.code else ""
    return f"{code}({error.count:,} records): {error.message}"


def summary_words(report: StatusReport, name: Callable[[str], str] = for_terminal) -> str:
    """The last line: the failing first, by name (each shown by `name`), then the rest."""
    s = report.summary
    pending = (
        f"; {s.changes_pending} with changes pending (see `provisioner plan`)"
        if s.changes_pending
        else ""
    )
    if not s.failing:
        return f"All {s.dataflows} dataflow(s) healthy{pending}."
    return (
        f"{s.unhealthy} of {s.dataflows} dataflow(s) unhealthy: "
        f"{', '.join(name(n) for n in s.failing)}; {s.healthy} healthy{pending}."
    )


def in_detail(report: StatusReport) -> list[DataflowStatus]:
    """The dataflows shown in detail: the failing first, then those whose runs were read,
    each group in manifest order."""
    failing = report.failing()
    rest = [d for d in report.dataflows if d.health == "healthy" and d.window is not None]
    return failing + rest


def window_words(report: StatusReport) -> str:
    clock = "the platform's clock" if report.clock == "platform" else "this machine's clock"
    return f"runs over the last {format_duration(report.settings.since)}, ages by {clock}"


# text ---------------------------------------------------------------------------------


def render_status_text(
    report: StatusReport, colour: bool = False, marks: Marks = UNICODE_MARKS
) -> str:
    def paint(word: str) -> str:
        code = _COLOURS.get(word)
        padded = f"{word:<4}"
        return f"\033[{code}m{padded}\033[0m" if colour and code else padded

    t = report.target
    out = [for_terminal(f"Status of {describe_where(t.kind, t.url, t.org, t.sandbox)}"), ""]
    out.append(window_words(report) + ":")
    rows = [
        (
            "FAIL" if d.health == "unhealthy" else "ok",
            for_terminal(d.name),
            state_word(d),
            step_word(d),
            for_terminal(last_run_words(d)),
            for_message(why(d), 300),
        )
        for d in report.dataflows
    ]
    width = max((len(r[1]) for r in rows), default=0)
    run_width = max((len(r[4]) for r in rows), default=0)
    for health, name, state, step, run, said in rows:
        line = f"  {paint(health)}  {name:<{width}}  {state:<8}  {step:<15}  {run:<{run_width}}"
        out.append(f"{line}  {said}".rstrip())
    detailed = in_detail(report)
    if detailed:
        out += ["", "Details (failing first):"]
    for status in detailed:
        out += _text_details(status, report, marks)
    out += ["", summary_words(report)]
    return "\n".join(out) + "\n"


def _text_details(status: DataflowStatus, report: StatusReport, marks: Marks) -> list[str]:
    where = f" (id {status.id})" if status.id else ""
    lines = [f"  {for_terminal(status.name)}{for_terminal(where)}, {for_terminal(status.source)}"]
    for finding in status.findings:
        lines.append(f"    unhealthy: {for_message(finding.message)}")
    window = status.window
    if window is not None:
        since = format_duration(report.settings.since)
        drawn = f"{run_marks(window, marks)}  " if window.runs else ""
        lines.append(f"    runs, last {since}, oldest first: {drawn}{run_counts(window)}")
        lines.append(f"    identities: {identities(window)}")
        for error in window.errors:
            lines.append(f"    error: {for_message(error_words(error), 400)}")
    if status.pending:
        lines.append(f"    changes pending: {for_terminal(', '.join(status.pending))}")
    return lines


# Markdown -----------------------------------------------------------------------------


def render_status_markdown(report: StatusReport, marks: Marks = UNICODE_MARKS) -> str:
    t = report.target
    s = report.summary
    title = (
        f"{s.unhealthy} of {s.dataflows} dataflow(s) unhealthy"
        if s.failing
        else f"all {s.dataflows} dataflow(s) healthy"
    )
    where = describe_where(t.kind, t.url, t.org, t.sandbox)
    out = [
        f"### provisioner status: {title}",
        "",
        f"{for_markdown_text(where, None)}; {window_words(report)}.",
        "",
        "| | Dataflow | State | Manifests | Last run | Runs | Why |",
        "| --- | --- | --- | --- | --- | --- | --- |",
    ]
    for d in report.dataflows:
        health = "**unhealthy**" if d.health == "unhealthy" else "healthy"
        drawn = for_markdown_code(run_marks(d.window, marks)) if d.window and d.window.runs else ""
        cells = [
            health,
            for_markdown_code(d.name),
            state_word(d),
            step_word(d),
            for_markdown_text(last_run_words(d)),
            drawn,
            for_markdown_text(_one_line(why(d)), 300),
        ]
        out.append("| " + " | ".join(cells) + " |")
    for status in in_detail(report):
        out += ["", *_markdown_details(status, report)]
    out += ["", summary_words(report, name=for_markdown_code)]
    return "\n".join(out) + "\n"


def _markdown_details(status: DataflowStatus, report: StatusReport) -> list[str]:
    where = f" (id {for_markdown_code(status.id)})" if status.id else ""
    lines = [f"#### {for_markdown_text(status.name)}{where}", ""]
    for finding in status.findings:
        lines.append(f"- unhealthy: {for_markdown_text(_one_line(finding.message), 400)}")
    window = status.window
    if window is not None:
        since = format_duration(report.settings.since)
        lines.append(f"- runs, last {since}: {run_counts(window)}")
        lines.append(f"- identities: {identities(window)}")
        for error in window.errors:
            code = for_markdown_code(error.code) + " " if error.code else ""
            message = for_markdown_text(_one_line(error.message), 400)
            lines.append(f"- error {code}({error.count:,} records): {message}")
    if status.pending:
        lines.append(f"- changes pending: {for_markdown_text(', '.join(status.pending))}")
    return lines


def _one_line(text: str) -> str:
    """Line breaks and runs of blanks as one space: a message stays one Markdown line."""
    return " ".join(text.split())


# GitHub workflow annotations ---------------------------------------------------------------


def github_annotations(report: StatusReport) -> list[str]:
    """An `::error` per unhealthy dataflow and a `::warning` per healthy one with changes
    pending, each on its manifest's line; values escaped as the runner reads them."""
    lines = []
    for status in report.dataflows:
        if status.health == "unhealthy":
            lines.append(_annotation("error", status, f"{status.name}: {why(status)}"))
        elif not status.in_step:
            said = f"{status.name}: changes pending ({', '.join(status.pending)})"
            lines.append(_annotation("warning", status, said))
    return lines


def _annotation(level: str, status: DataflowStatus, message: str) -> str:
    file, line = _file_and_line(status.source)
    properties = [("file", file)] if file else []
    if line:
        properties.append(("line", line))
    properties.append(("title", f"provisioner status: {status.name}"))
    listed = ",".join(f"{key}={_escape_property(value)}" for key, value in properties)
    return f"::{level} {listed}::{_escape_data(for_message(message))}"


def _file_and_line(source: str) -> tuple[str, str]:
    """`FILE:LINE:COL` as the manifest's location is written: the file, and the line."""
    parts = source.rsplit(":", 2)
    if len(parts) == 3 and parts[1].isdigit() and parts[2].isdigit():
        return parts[0], parts[1]
    return source, ""


# The runner's own escaping of workflow commands (as `validate --format github` escapes):
# in the message, % and line breaks; in a property, also the ':' and ',' that delimit.
def _escape_data(text: str) -> str:
    return text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def _escape_property(text: str) -> str:
    return _escape_data(for_message(text)).replace(":", "%3A").replace(",", "%2C")
