"""Hostile strings, and how to tell whether an output let one through.

The corpus holds what someone who can name an audience (in a manifest, or in the AEP UI)
might try: terminal control sequences, Markdown and HTML that would close our own markup,
GitHub mentions and references, and sheer length.
"""

from __future__ import annotations

import re
import unicodedata
from collections import Counter
from html.parser import HTMLParser

import cmarkgfm
from cmarkgfm.cmark import Options

CORPUS: dict[str, str] = {
    "csi-erase-and-fake-plan": (
        "\x1b[2K\x1b[1A\x1b[2K\r"
        "Plan: 0 to create, 0 to update, 0 to replace, 0 to delete; 9 unchanged."
    ),
    "osc-title-and-hyperlink": (
        "\x1b]0;owned\x07\x1b]8;;https://evil.example/\x1b\\click here\x1b]8;;\x1b\\"
    ),
    "bare-cr": "harmless name\rNo changes. The platform matches the manifests",
    "nul-and-del": "a\x00b\x7fc",
    "c1-csi": "x\x9b2Jy\x85z",
    "bidi-overrides": "\u202eevil\u202c \u2066iso\u2069 \u200fmark\u200e \u202atext\u202b\u202d",
    "zero-width": "ad\u200bmi\u200dn\u2060\ufeff\u00ad",
    "line-breaks": "one\n\n## Injected heading\n- item\u2028two\u2029three",
    "backtick-fence": "```\n</details>\n```\n**No changes**",
    "tilde-fence": "~~~\nx\n~~~",
    "inline-backticks": "a ` b `` c ```",
    "details-close": "</code></summary></details>",
    "comment-open": "<!-- everything after this is hidden",
    "comment-close": "--> shown",
    "marker": "<!-- provisioner-plan -->",
    "pipes": "a | b || c \\| d",
    "mentions": "@everyone @org/team cc @octocat mail@example.com",
    "issue-refs": "fixes #1 and org/repo#2",
    "bold-no-changes": "**No changes**",
    "img-onerror": "<img src=x onerror=alert(1)>",
    "script": "<script>alert(1)</script>",
    "javascript-link": "[link](javascript:alert(1)) ![i](https://evil.example/x.png)",
    "autolinks": "https://evil.example www.evil.example",
    "block-starts": "# heading",
    "list-start": "1. first",
    "math": "$\\color{red}{No\\ changes}$",
    "long": "L" * 10_000,
}

# What a manifest may hold: names are one line of printable characters, at most 256.
MANIFEST_CORPUS = {
    key: text for key, text in CORPUS.items() if text.isprintable() and len(text) <= 256
}

_HIDDEN = frozenset({"Cc", "Cf", "Zl", "Zp", "Cs"})
WORD_JOINER = "\u2060"
MARKER = "<!-- provisioner-plan "  # then the target as JSON, then " -->"


def hidden_characters(output: str) -> list[str]:
    """Every character of `output` a terminal would act on or not show, newlines aside."""
    return [c for c in output if c != "\n" and unicodedata.category(c) in _HIDDEN]


def render_gfm(markdown: str) -> str:
    """HTML as GitHub renders a comment: cmark-gfm with its extensions; raw HTML passed
    (GitHub sanitises after), the tag filter on."""
    html: str = cmarkgfm.github_flavored_markdown_to_html(
        markdown, options=Options.CMARK_OPT_UNSAFE
    )
    return html


class RenderedHtml(HTMLParser):
    """Tags counted, and text split into what GitHub would scan for mentions and what it
    would not (code, pre, links)."""

    def __init__(self, html: str) -> None:
        super().__init__(convert_charrefs=True)
        self.tags: Counter[str] = Counter()
        self.comments: list[str] = []
        self.text: list[str] = []
        self.scanned: list[str] = []
        self._inert = 0
        self.feed(html)
        self.close()

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags[tag] += 1
        self._inert += tag in ("code", "pre", "a")

    def handle_endtag(self, tag: str) -> None:
        self._inert -= tag in ("code", "pre", "a")

    def handle_comment(self, data: str) -> None:
        self.comments.append(data)

    def handle_data(self, data: str) -> None:
        self.text.append(data)
        if not self._inert:
            self.scanned.append(data)

    def visible(self) -> str:
        return "".join(self.text).replace(WORD_JOINER, "")


# GitHub's patterns, simplified: an '@' or '#' after a non-word character, then a name.
_MENTION = re.compile(r"(?:^|(?<=\W))@[a-z0-9]", re.IGNORECASE)
_REFERENCE = re.compile(r"(?:^|(?<=[\W]))#\d")
_BARE_URL = re.compile(r"(?i)(?:https?|ftp)://|www\.")


def github_links(rendered: RenderedHtml) -> list[str]:
    """Text GitHub would turn into a mention, an issue reference or a link."""
    found = []
    for text in rendered.scanned:
        for pattern in (_MENTION, _REFERENCE, _BARE_URL):
            found += [m.group(0) for m in pattern.finditer(text)]
    return found
