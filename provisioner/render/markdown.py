"""The plan as a pull-request comment: a summary table, banners, collapsible details.

Its first line names the target; it carries a stable hidden marker, so a bot can find its
own comment and update it in place; and it keeps under `max_chars` (GitHub's comment limit
is 65,536) by dropping details first and never the summary.

Names, descriptions and messages come from manifests and from the platform (anyone who can
edit an audience in the AEP UI): each goes through the `render.safe` function for where it
lands, so none can add Markdown or HTML, notify people, or imitate the marker.
"""

from __future__ import annotations

from provisioner.plan.model import AnyChange, FlowChange, Plan
from provisioner.render.lines import (
    SYMBOLS,
    TYPE_WORDS,
    detail_lines,
    heading,
    labels,
    summary_line,
    target_line,
    warnings,
)
from provisioner.render.safe import (
    code_block,
    for_html,
    for_markdown_code,
    for_markdown_text,
)

MARKER = "<!-- provisioner-plan -->"
MAX_CHARS = 60_000
_LINE_LIMIT = 1000  # a banner, a note or a heading: enough for a list of names, bounded
_DIFF_SYMBOLS = {"+": "+", "-": "-"}  # a diff block colours these; any other change is '!'
_ACTION_WORDS = {
    "create": "create",
    "update": "update",
    "replace": "**replace**",
    "delete": "**delete**",
}


def render_markdown(plan: Plan, max_chars: int = MAX_CHARS) -> str:
    """The comment; the summary line and banners always, then table rows and details for
    as long as they fit under `max_chars`."""
    budget = _Budget(max_chars - 400)  # room for the truncation notes and the footer
    lines = budget.take_all(_head(plan))
    if plan.changes:
        rows = ["| | type | name | audiences | attributes | notes |", "|---|---|---|---|---|---|"]
        rows += [_row(change) for change in plan.changes]
        lines += budget.take(rows, "table row(s)")
        details = [_details(change) for change in plan.changes if detail_lines(change)]
        lines += ["", *budget.take(details, "change detail(s)")]
    footer = f"<sub>provisioner {plan.tool_version} · plan format {plan.format_version}</sub>"
    return "\n".join([*lines, "", footer, MARKER]) + "\n"


class _Budget:
    def __init__(self, chars: int) -> None:
        self.left = chars

    def take_all(self, blocks: list[str]) -> list[str]:
        self.left -= sum(len(b) + 1 for b in blocks)
        return blocks

    def take(self, blocks: list[str], what: str) -> list[str]:
        kept: list[str] = []
        for index, block in enumerate(blocks):
            if len(block) + 1 > self.left:
                return [
                    *kept,
                    f"\n_{len(blocks) - index} more {what} not shown to keep this "
                    "comment within GitHub's size limit; run `provisioner plan` for all._",
                ]
            self.left -= len(block) + 1
            kept.append(block)
        return kept


def _head(plan: Plan) -> list[str]:
    target = for_markdown_code(target_line(plan), limit=_LINE_LIMIT)
    lines = [f"### provisioner plan · {target}", "", f"**{summary_line(plan)}**"]
    for warning in warnings(plan):
        title, _, rest = warning.partition(":")
        text = for_markdown_text(rest.strip(), limit=_LINE_LIMIT)
        lines += ["", "> [!WARNING]", f"> **{for_markdown_text(title)}**: {text}"]
    for note in plan.notes:
        lines += ["", "> [!NOTE]", f"> {for_markdown_text(note, limit=_LINE_LIMIT)}"]
    return [*lines, ""]


def _row(change: AnyChange) -> str:
    audiences = attributes = ""
    if isinstance(change, FlowChange) and change.audiences is not None:
        a = change.audiences
        audiences = _counts(("+", len(a.add)), ("-", len(a.remove)), ("~", len(a.update)))
    if isinstance(change, FlowChange) and change.attributes is not None:
        attributes = _counts(
            ("+", len(change.attributes.add)), ("-", len(change.attributes.remove))
        )
    notes = for_markdown_text("; ".join(labels(change)), limit=_LINE_LIMIT)
    action = f"`{SYMBOLS[change.action]}` {_ACTION_WORDS[change.action]}"
    return (
        f"| {action} | {TYPE_WORDS[change.type]} | {for_markdown_code(change.name)} | "
        f"{audiences} | {attributes} | {notes} |"
    )


def _counts(*pairs: tuple[str, int]) -> str:
    return " ".join(f"{symbol}{count}" for symbol, count in pairs if count)


def _details(change: AnyChange) -> str:
    # The summary is raw HTML, on one line: a blank line would end GitHub's HTML block.
    summary = for_html(heading(change), limit=_LINE_LIMIT)
    diff = [f"{_DIFF_SYMBOLS.get(symbol, '!')} {text}" for symbol, text in detail_lines(change)]
    opening = f"<details><summary><code>{summary}</code></summary>"
    return "\n".join([opening, "", code_block(diff, "diff"), "", "</details>"])
