"""`check`'s report for a terminal, GitHub's workflow log (annotations) and machines (JSON).

Names and values come from manifests, messages partly from the destinations' SDKs: each
goes through the `render.safe` function for where it lands. No credential is in a report
(findings are redacted when they are made, and never quote a key).
"""

from __future__ import annotations

import json

from provisioner.preflight.model import Checked, CheckReport, Outcome
from provisioner.render.safe import for_message, for_terminal

MARKS: dict[Outcome, str] = {"reachable": "ok", "cannot-tell": "?", "unreachable": "FAIL"}
_COLOURS: dict[Outcome, str] = {"reachable": "32", "cannot-tell": "33", "unreachable": "1;31"}
_LEVELS: dict[Outcome, str] = {"cannot-tell": "warning", "unreachable": "error"}


def render_check_json(report: CheckReport) -> str:
    return json.dumps(report.as_json(), indent=2) + "\n"


def summary_words(report: CheckReport) -> str:
    count = report.count
    sent = (
        "; one test record sent to each reachable destination" if report.sent_test_records else ""
    )
    return (
        f"{len(report.destinations)} destination(s): {count['reachable']} reachable, "
        f"{count['unreachable']} unreachable, {count['cannot-tell']} cannot tell{sent}."
    )


def render_check_text(report: CheckReport, colour: bool = False) -> str:
    """One line per destination, in the manifests' order, then the counts."""

    def paint(outcome: Outcome) -> str:
        padded = f"{MARKS[outcome]:<4}"
        return f"\033[{_COLOURS[outcome]}m{padded}\033[0m" if colour else padded

    rows = [
        (c.finding.outcome, for_terminal(c.name), for_terminal(c.target), c.finding.message)
        for c in report.destinations
    ]
    name_width = max((len(r[1]) for r in rows), default=0)
    target_width = max((len(r[2]) for r in rows), default=0)
    mode = "writing one test record each" if report.sent_test_records else "read-only"
    out = [f"Checking {len(rows)} destination(s), {mode}, {report.timeout:g}s each:"]
    for outcome, name, target, message in rows:
        line = f"  {paint(outcome)}  {name:<{name_width}}  {target:<{target_width}}"
        out.append(f"{line}  {for_message(message, 400)}".rstrip())
    out += ["", summary_words(report)]
    return "\n".join(out) + "\n"


def github_annotations(report: CheckReport) -> list[str]:
    """An `::error` per unreachable destination and a `::warning` per one that cannot
    tell, each on its manifest's line; values escaped as the runner reads them."""
    return [
        _annotation(_LEVELS[c.finding.outcome], c)
        for c in report.destinations
        if c.finding.outcome in _LEVELS
    ]


def _annotation(level: str, checked: Checked) -> str:
    file, line = _file_and_line(checked.source)
    properties = [("file", file)] if file else []
    if line:
        properties.append(("line", line))
    properties.append(("title", f"provisioner check: {checked.name}"))
    listed = ",".join(f"{key}={_escape_property(value)}" for key, value in properties)
    message = f"{checked.name} ({checked.target}): {checked.finding.message}"
    return f"::{level} {listed}::{_escape_data(for_message(message, 600))}"


def _file_and_line(source: str) -> tuple[str, str]:
    """`FILE:LINE:COL`, as a manifest's location is written: the file, and the line."""
    parts = source.rsplit(":", 2)
    if len(parts) == 3 and parts[1].isdigit() and parts[2].isdigit():
        return parts[0], parts[1]
    return source, ""


# The runner's own escaping of workflow commands: in the message, % and line breaks; in a
# property, also the ':' and ',' that delimit properties.
def _escape_data(text: str) -> str:
    return text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def _escape_property(text: str) -> str:
    return _escape_data(for_message(text)).replace(":", "%3A").replace(",", "%2C")
