"""The plan as a pull- or merge-request comment, summary first.

Its first line is a hidden marker naming the target, so `provisioner comment` finds its own
comment for that target and updates it in place; then the target and the counts, the
banners (what deletes and what a threshold refuses first), the table, and the details of
each change, collapsed. It keeps under `max_chars`, by default under both GitHub's comment
limit and GitLab's note limit with a margin, by leaving out details first, then table rows,
and says what it left out; the marker, the target, the counts and the banners always stay.

Names, descriptions and messages come from manifests and from the platform (anyone who can
edit an audience in the AEP UI): each goes through the `render.safe` function for where it
lands, so none can add Markdown or HTML, notify people, or imitate or close the marker.
"""

from __future__ import annotations

import json
from collections.abc import Sequence

from provisioner.plan.model import AnyChange, Plan, PlanWarning
from provisioner.render.lines import (
    SYMBOLS,
    TYPE_WORDS,
    WARNING_TITLES,
    counts,
    detail_lines,
    heading,
    labels,
    ordered_warnings,
    selector_counts,
    summary_line,
    target_line,
    warning_text,
)
from provisioner.render.safe import (
    code_block,
    for_html,
    for_markdown_code,
    for_markdown_text,
)

MARKER_NAME = "provisioner-plan"
GITHUB_COMMENT_LIMIT = 65_536  # characters in an issue or pull-request comment
GITLAB_NOTE_LIMIT = 1_000_000  # characters in a merge-request note
MARGIN = 5_536  # what a forge or a proxy may add (a signature, a line ending) stays under


def comment_limit(*limits: int) -> int:
    """The most characters a comment may hold to fit every forge in `limits` (the smaller
    limit wins), less a margin."""
    return min(limits or (GITHUB_COMMENT_LIMIT, GITLAB_NOTE_LIMIT)) - MARGIN


MAX_CHARS = comment_limit(GITHUB_COMMENT_LIMIT, GITLAB_NOTE_LIMIT)
_LINE_LIMIT = 1000  # a banner, a note or a heading: enough for a list of names, bounded
_NOTES_SHOWN = 20  # the plan's notes shown at most; the rest are counted
_TRIM_NOTE_ROOM = 400
_DIFF_SYMBOLS = {"+": "+", "-": "-", " ": " "}  # a diff block colours these; any other is '!'
_ACTION_WORDS = {
    "create": "create",
    "update": "update",
    "replace": "**replace**",
    "delete": "**delete**",
}
# GitHub shows these as coloured call-outs; elsewhere they stay readable quotes.
_SERIOUS = frozenset({"destructive", "threshold"})
_TABLE_HEAD = ["| | type | name | audiences | attributes | notes |", "|---|---|---|---|---|---|"]


def render_markdown(plan: Plan, max_chars: int = MAX_CHARS) -> str:
    """The comment: marker, target, counts and banners always; then table rows and details
    for as long as they fit under `max_chars` (details are left out first)."""
    head = [marker(plan), *_head(plan)]
    footer = ["", _footer(plan)]
    rows = [_row(change) for change in plan.changes]
    details = [_details(change) for change in plan.changes if detail_lines(change)]
    room = max_chars - _length(head) - _length(footer) - _TRIM_NOTE_ROOM
    kept_rows = _fitting(rows, room - _length(_TABLE_HEAD) - 2)
    room -= _length([*_TABLE_HEAD, *kept_rows]) + 2 if kept_rows else 0
    kept_details = _fitting(details, room - 1)
    body: list[str] = []
    if kept_rows:
        body += ["", *_TABLE_HEAD, *kept_rows]
    if kept_details:
        body += ["", *kept_details]
    trimmed = _trim_note(len(rows) - len(kept_rows), len(rows), details, kept_details, max_chars)
    return "\n".join([*head, *trimmed, *body, *footer]) + "\n"


def marker(plan: Plan) -> str:
    """`<!-- provisioner-plan {"org": …, "sandbox": …, "environment": …, "changes": N} -->`:
    the target the comment is for and its number of changes, as `provisioner comment` reads
    it. The JSON is ASCII with `<`, `>` and `&` escaped, so no value can end the comment."""
    s = counts(plan)
    fields = {
        "org": plan.target.org,
        "sandbox": plan.target.sandbox,
        "environment": plan.target.environment or "",
        "changes": s.create + s.update + s.replace + s.delete,
    }
    text = json.dumps(fields, ensure_ascii=True)
    text = text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")
    return f"<!-- {MARKER_NAME} {text} -->"


def _length(lines: Sequence[str]) -> int:
    return sum(len(line) + 1 for line in lines)


def _fitting(blocks: list[str], room: int) -> list[str]:
    """The leading blocks that fit in `room` characters, each on its own line."""
    kept: list[str] = []
    for block in blocks:
        room -= len(block) + 1
        if room < 0:
            break
        kept.append(block)
    return kept


def _trim_note(
    rows_left_out: int, rows: int, details: list[str], kept: list[str], max_chars: int
) -> list[str]:
    details_left_out = len(details) - len(kept)
    if not rows_left_out and not details_left_out:
        return []
    parts = []
    if rows_left_out:
        parts.append(f"{rows_left_out} of {rows} table rows")
    if details_left_out:
        parts.append(f"{details_left_out} of {len(details)} change details")
    return [
        "",
        "> [!NOTE]",
        f"> Trimmed to fit a comment ({max_chars:,} characters at most): "
        f"{' and '.join(parts)} left out. `provisioner plan` shows the whole plan.",
    ]


def _head(plan: Plan) -> list[str]:
    target = plan.target
    where = [f"org {for_markdown_code(target.org)}", f"sandbox {for_markdown_code(target.sandbox)}"]
    if target.environment:
        where.append(f"environment {for_markdown_code(target.environment)}")
    lines = [f"### provisioner plan · {' · '.join(where)}", "", f"**{summary_line(plan)}**"]
    for warning in ordered_warnings(plan):
        lines += ["", *_banner(plan, warning)]
    for note in plan.notes[:_NOTES_SHOWN]:
        lines += ["", "> [!NOTE]", f"> {for_markdown_text(note, limit=_LINE_LIMIT)}"]
    if len(plan.notes) > _NOTES_SHOWN:
        more = len(plan.notes) - _NOTES_SHOWN
        lines += ["", "> [!NOTE]", f"> {more} more note(s): `provisioner plan` shows them."]
    return lines


def _banner(plan: Plan, warning: PlanWarning) -> list[str]:
    title = WARNING_TITLES[warning.kind]
    rest = warning_text(plan, warning)[len(title) + 1 :].strip()
    text = for_markdown_text(rest, limit=_LINE_LIMIT)
    kind = "CAUTION" if warning.kind in _SERIOUS else "WARNING"
    return [f"> [!{kind}]", f"> **{for_markdown_text(title)}**: {text}"]


def _footer(plan: Plan) -> str:
    where = for_markdown_code(target_line(plan), limit=_LINE_LIMIT)
    version = f"provisioner {plan.tool_version} · plan format {plan.format_version}"
    return f"<sub>{where} · {version}</sub>"


def _row(change: AnyChange) -> str:
    audiences, attributes = selector_counts(change)
    notes = for_markdown_text("; ".join(labels(change)), limit=_LINE_LIMIT)
    action = f"`{SYMBOLS[change.action]}` {_ACTION_WORDS[change.action]}"
    return (
        f"| {action} | {TYPE_WORDS[change.type]} | {for_markdown_code(change.name)} | "
        f"{audiences} | {attributes} | {notes} |"
    )


def _details(change: AnyChange) -> str:
    # The summary is raw HTML, on one line: a blank line would end GitHub's HTML block.
    summary = for_html(heading(change), limit=_LINE_LIMIT)
    diff = [f"{_DIFF_SYMBOLS.get(symbol, '!')} {text}" for symbol, text in detail_lines(change)]
    opening = f"<details><summary><code>{summary}</code></summary>"
    return "\n".join([opening, "", code_block(diff, "diff"), "", "</details>"])
