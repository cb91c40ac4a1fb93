"""Strings from a manifest or from the platform, made safe for where they are printed.

A name or a description is data: an audience renamed in the AEP UI, or a manifest in a pull
request, must not be able to move the cursor and rewrite what a terminal shows, nor close a
code fence, open an HTML comment, notify people or fake a line of a pull-request comment.
Each function below takes such a string and returns text that shows it, visibly and inert,
in one kind of place. Our own markup is added around the result, never passed through.

Invisible and control characters are shown as Python-style escapes (`\\x1b`, `\\u202e`):
readable, and the same in every format.
"""

from __future__ import annotations

import html
import re
import unicodedata
from collections.abc import Sequence

ELLIPSIS = "…"
CELL_LIMIT = 200
MESSAGE_LIMIT = 1000

# Zero-width and blank letters that are not format characters in Unicode's categories
# but render as nothing, so they can disguise text the same way.
_INVISIBLE_LETTERS = frozenset("\u034f\u115f\u1160\u3164\uffa0")
# Cc: C0, DEL, C1. Cf: bidi controls, zero-width joiners and spaces, soft hyphen, tags.
# Zl/Zp: line and paragraph separators. Cs: a lone surrogate cannot even be encoded.
_HIDDEN_CATEGORIES = frozenset({"Cc", "Cf", "Zl", "Zp", "Cs"})
_LINE_BREAKS = re.compile(r"\s*[\n\r\v\f\x1c-\x1e\x85\u2028\u2029]+\s*")
# Placed between '@' or '#' and what follows, it keeps GitHub from making a mention or an
# issue reference of the text; it is invisible and does not allow a line break there.
_WORD_JOINER = "\u2060"
# GitHub and cmark-gfm turn these into links or references on their own.
_AUTOLINK = re.compile(r"(?i)(://|\bwww\.|[@#](?=\w))")
_COMMENT_DELIMITERS = re.compile(r"<!--|-->|--!>")
# Backslash-escaped in Markdown text: each can open inline syntax. '<', '>' and '&' become
# entities instead, so no HTML tag, comment or entity can be formed.
_MARKDOWN_PUNCTUATION = frozenset("\\`*_[]#|~!$")
_HTML_IN_TEXT = {"&": "&amp;", "<": "&lt;", ">": "&gt;"}
# At the start of a line these open a list, a heading, a quote or a thematic break.
_LEADING_LIST = re.compile(r"^(\d{1,9})([.)])")


def truncate(text: str, limit: int | None) -> str:
    """`text` cut to at most `limit` characters, an ellipsis marking the cut."""
    if limit is None or len(text) <= limit:
        return text
    return text[: max(limit - 1, 0)] + ELLIPSIS


def _is_hidden(char: str) -> bool:
    return unicodedata.category(char) in _HIDDEN_CATEGORIES or char in _INVISIBLE_LETTERS


def _escaped(char: str) -> str:
    code = ord(char)
    if code < 0x100:
        return f"\\x{code:02x}"
    if code < 0x10000:
        return f"\\u{code:04x}"
    return f"\\U{code:08x}"


def for_terminal(text: str) -> str:
    """`text` with every control, bidi, zero-width and line-breaking character shown as an
    escape, so it stays on its line and cannot drive the terminal."""
    if text.isprintable() and not any(c in _INVISIBLE_LETTERS for c in text):
        return text  # the common case, without a walk per character
    return "".join(_escaped(c) if _is_hidden(c) else c for c in text)


def for_message(text: str, limit: int = MESSAGE_LIMIT) -> str:
    """A one-line message that quotes the platform or a manifest (an error, a warning):
    line breaks collapsed to spaces, then shown as for the terminal, at most `limit`
    characters."""
    one_line = _LINE_BREAKS.sub(" ", text).strip()
    return for_terminal(truncate(one_line, limit))


def _defuse_references(text: str) -> str:
    """Mentions, issue references and bare URLs kept from being linked by GitHub."""

    def joined(match: re.Match[str]) -> str:
        found = match.group(0)
        if found in ("@", "#"):
            return found + _WORD_JOINER
        return found[:-1] + _WORD_JOINER + found[-1]  # ':/' + '/', 'www' + '.'

    return _AUTOLINK.sub(joined, text)


def _defuse_comments(text: str) -> str:
    """No HTML comment delimiter, so nothing can imitate the plan's hidden marker or hide
    what follows it, even where Markdown shows text as it is (code)."""
    return _COMMENT_DELIMITERS.sub(lambda m: m.group(0)[0] + _WORD_JOINER + m.group(0)[1:], text)


def for_markdown_text(text: str, limit: int | None = CELL_LIMIT) -> str:
    """Inline Markdown (a paragraph, a quote, a table cell) that shows `text` as it is:
    on one line, no emphasis, link, image, HTML, table column, mention or reference."""
    shown = _defuse_references(for_terminal(truncate(text, limit)))
    escaped = "".join(
        _HTML_IN_TEXT.get(c) or (f"\\{c}" if c in _MARKDOWN_PUNCTUATION else c) for c in shown
    )
    return _escape_line_start(escaped)


def _escape_line_start(text: str) -> str:
    stripped = text.lstrip(" ")
    indent = "&#32;" * (len(text) - len(stripped))  # four spaces would open a code block
    if stripped[:1] in ("-", "+", "="):
        return f"{indent}\\{stripped}"
    numbered = _LEADING_LIST.match(stripped)
    if numbered:
        return f"{indent}{numbered.group(1)}\\{numbered.group(2)}{stripped[numbered.end() :]}"
    return indent + stripped


def for_markdown_code(text: str, limit: int | None = CELL_LIMIT) -> str:
    """An inline code span showing `text`, safe in a table cell: its delimiter is longer
    than any run of backticks inside, pipes are escaped (GFM splits cells first)."""
    shown = _defuse_comments(for_terminal(truncate(text, limit))).replace("|", "\\|")
    if not shown:
        return ""
    fence = "`" * (_longest_run(shown, "`") + 1)
    padded = shown.startswith(("`", " ")) or shown.endswith(("`", " "))
    inner = f" {shown} " if padded and shown.strip() else shown
    return f"{fence}{inner}{fence}"


def for_html(text: str, limit: int | None = None) -> str:
    """Text for inside an HTML element or a quoted attribute (`<summary>`, `title="…"`):
    one line (a blank line would end GitHub's HTML block), no tag, entity or comment."""
    shown = _defuse_references(for_terminal(truncate(text, limit)))
    return html.escape(shown, quote=True)


def code_block(lines: Sequence[str], info: str = "") -> str:
    """A fenced code block showing each of `lines` on its own line; the fence is longer
    than any run of backticks inside, so no content can close it."""
    shown = [_defuse_comments(for_terminal(line)) for line in lines]
    fence = "`" * max(3, max((_longest_run(line, "`") for line in shown), default=0) + 1)
    return "\n".join([f"{fence}{for_terminal(info)}", *shown, fence])


def _longest_run(text: str, char: str) -> int:
    runs = re.findall(f"{re.escape(char)}+", text)
    return max((len(run) for run in runs), default=0)
