"""The plan for a terminal, in Terraform's idiom.

Every line that carries a name, a description or a message passes through `for_terminal`
before it is coloured, so only the colours added here reach the terminal as control codes.
"""

from __future__ import annotations

from provisioner.plan.model import Plan
from provisioner.render.lines import (
    detail_lines,
    heading,
    labels,
    summary_line,
    target_line,
    warnings,
)
from provisioner.render.safe import for_terminal

_COLOURS = {"+": "32", "~": "33", "-": "31", "-/+": "35", "!": "1;31"}


def render_text(plan: Plan, colour: bool = False) -> str:
    def paint(symbol: str, text: str) -> str:
        code = _COLOURS.get(symbol)
        return f"\033[{code}m{text}\033[0m" if colour and code else text

    out = [for_terminal(target_line(plan)), ""]
    if plan.changes:
        out.append("provisioner will perform the following actions:")
        out.append("")
    for change in plan.changes:
        symbol = heading(change).split(" ", 1)[0]
        tags = "".join(f"  # {for_terminal(label)}" for label in labels(change))
        out.append("  " + paint(symbol, for_terminal(heading(change))) + tags)
        for line_symbol, text in detail_lines(change):
            out.append("      " + paint(line_symbol, f"{line_symbol} {for_terminal(text)}"))
        out.append("")
    for warning in warnings(plan):
        out.append(paint("!", f"Warning: {for_terminal(warning)}"))
    for note in plan.notes:
        out.append(f"Note: {for_terminal(note)}")
    if warnings(plan) or plan.notes:
        out.append("")
    out.append(summary_line(plan))
    return "\n".join(out) + "\n"
