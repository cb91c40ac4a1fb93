"""Each `render.safe` function, on every string of the corpus, in the place it is made for;
Markdown rendered by GitHub's own renderer (cmark-gfm)."""

from __future__ import annotations

import pytest

from provisioner.plan.model import SENSITIVE, AccountChange, FieldChange
from provisioner.render.lines import detail_lines
from provisioner.render.safe import (
    CELL_LIMIT,
    ELLIPSIS,
    MESSAGE_LIMIT,
    code_block,
    for_html,
    for_markdown_code,
    for_markdown_text,
    for_message,
    for_terminal,
    truncate,
)
from tests.injection import (
    CORPUS,
    WORD_JOINER,
    RenderedHtml,
    github_links,
    hidden_characters,
    render_gfm,
)

KEYS = list(CORPUS)
BENIGN = "Men over 50"


def shown(text: str, limit: int | None) -> str:
    """What a reader should see of `text`: cut, with invisible characters as escapes."""
    return for_terminal(truncate(text, limit))


def table(cell: str) -> str:
    return f"before\n\n| a | b |\n|---|---|\n| {cell} | end |\n\nafter\n"


def test_terminal_escapes_are_visible_and_plain_text_is_untouched() -> None:
    assert for_terminal("Men over 50 · Größe 日本") == "Men over 50 · Größe 日本"
    assert for_terminal("\x1b[2K\r\x00\x7f\x9b") == "\\x1b[2K\\x0d\\x00\\x7f\\x9b"
    assert for_terminal("\u202eevil\u2066\u200b\u2028") == "\\u202eevil\\u2066\\u200b\\u2028"
    assert for_terminal("tag\U000e0041") == "tag\\U000e0041"  # invisible "tag" letters
    assert for_terminal("a\ud800b") == "a\\ud800b"  # a lone surrogate cannot even be printed


@pytest.mark.parametrize("key", KEYS)
def test_terminal_output_has_no_control_characters(key: str) -> None:
    result = for_terminal(CORPUS[key])
    assert hidden_characters(result) == [] and "\n" not in result
    result.encode("utf-8")  # printable, whatever the input held


@pytest.mark.parametrize("key", KEYS)
def test_message_is_one_bounded_line(key: str) -> None:
    message = for_message(f"create dataflow: the platform said: {CORPUS[key]}")
    assert "\n" not in message and hidden_characters(message) == []
    assert len(message) <= MESSAGE_LIMIT * 10  # an escape is at most 10 characters


def test_message_collapses_line_breaks_and_cuts() -> None:
    assert for_message("first\r\n\n  second\u2028third") == "first second third"
    cut = for_message("x" * 5000)
    assert len(cut) == MESSAGE_LIMIT and cut.endswith(ELLIPSIS)


@pytest.mark.parametrize("key", KEYS)
def test_markdown_text_in_a_table_cell_stays_one_cell_of_text(key: str) -> None:
    benign = RenderedHtml(render_gfm(table(for_markdown_text(BENIGN))))
    rendered = RenderedHtml(render_gfm(table(for_markdown_text(CORPUS[key]))))
    assert rendered.tags == benign.tags
    assert shown(CORPUS[key], CELL_LIMIT).strip() in rendered.visible()
    assert github_links(rendered) == []
    assert rendered.comments == []


@pytest.mark.parametrize("key", KEYS)
def test_markdown_text_in_a_quote_stays_one_paragraph(key: str) -> None:
    def quote(text: str) -> str:
        return f"> [!NOTE]\n> {for_markdown_text(text, limit=None)}\n\n**after**\n"

    benign = RenderedHtml(render_gfm(quote(BENIGN)))
    rendered = RenderedHtml(render_gfm(quote(CORPUS[key])))
    assert rendered.tags == benign.tags
    assert shown(CORPUS[key], None) in rendered.visible()
    assert github_links(rendered) == []


@pytest.mark.parametrize("key", KEYS)
def test_code_span_in_a_table_cell_shows_the_text_exactly(key: str) -> None:
    benign = RenderedHtml(render_gfm(table(for_markdown_code(BENIGN))))
    html = render_gfm(table(for_markdown_code(CORPUS[key])))
    rendered = RenderedHtml(html)
    assert rendered.tags == benign.tags
    code = html.split("<code>")[1].split("</code>")[0]
    assert RenderedHtml(code).visible() == shown(CORPUS[key], CELL_LIMIT)


def test_code_span_delimiter_outgrows_the_backticks_inside() -> None:
    assert for_markdown_code("orders") == "`orders`"
    assert for_markdown_code("a ` b `` c") == "```a ` b `` c```"
    assert for_markdown_code("`edge`") == "`` `edge` ``"
    assert for_markdown_code("a|b") == "`a\\|b`"


@pytest.mark.parametrize("key", KEYS)
def test_html_summary_stays_one_summary(key: str) -> None:
    def details(text: str) -> str:
        return (
            f"<details><summary><code>{for_html(text, limit=1000)}</code></summary>\n\n"
            "inside\n\n</details>\n\n**after**\n"
        )

    benign = RenderedHtml(render_gfm(details(BENIGN)))
    rendered = RenderedHtml(render_gfm(details(CORPUS[key])))
    assert rendered.tags == benign.tags
    assert rendered.comments == []
    assert shown(CORPUS[key], 1000) in rendered.visible()


@pytest.mark.parametrize("key", KEYS)
def test_code_block_cannot_be_closed_from_inside(key: str) -> None:
    lines = [f"- audience {CORPUS[key]}", CORPUS[key], "+ last"]
    benign = ["- audience x", "x", "+ last"]
    after = "\n\n**after**\n"
    rendered = RenderedHtml(render_gfm(code_block(lines, "diff") + after))
    assert rendered.tags == RenderedHtml(render_gfm(code_block(benign, "diff") + after)).tags
    expected = "\n".join(for_terminal(line) for line in lines) + "\n"
    assert rendered.visible() == expected + "\nafter\n"


def test_markdown_neutralises_the_marker_even_in_code() -> None:
    marker = "<!-- provisioner-plan -->"
    for made in (for_markdown_code(marker), code_block([marker]), for_markdown_text(marker)):
        assert "<!--" not in made and "-->" not in made
    assert for_markdown_code(marker).replace(WORD_JOINER, "") == f"`{marker}`"


def test_mentions_and_references_get_a_word_joiner() -> None:
    assert for_markdown_text("@everyone #12") == f"@{WORD_JOINER}everyone \\#{WORD_JOINER}12"
    assert for_html("@team") == f"@{WORD_JOINER}team"


def test_line_starts_that_open_blocks_are_escaped() -> None:
    assert for_markdown_text("- item") == "\\- item"
    assert for_markdown_text("12) item") == "12\\) item"
    assert for_markdown_text("    code") == "&#32;&#32;&#32;&#32;code"
    assert for_markdown_text("===") == "\\==="


def test_truncate_marks_the_cut() -> None:
    assert truncate("abc", 3) == "abc" and truncate("abc", None) == "abc"
    assert truncate("abcdef", 4) == "abc" + ELLIPSIS
    assert len(for_markdown_code("L" * 10_000)) < CELL_LIMIT + 10


def test_a_value_shaped_like_a_placeholder_is_still_quoted() -> None:
    """Only a sensitive field's placeholder is shown bare; a description that starts with
    '(' (from the platform) is quoted and escaped like any other value."""
    change = AccountChange(
        action="update",
        name="orders",
        fields=[
            FieldChange(path="description", before="(sensitive)\x1b[2K", after="x"),
            FieldChange(path="credentials", before=SENSITIVE, after=SENSITIVE, sensitive=True),
        ],
    )
    assert detail_lines(change) == [
        ("~", 'description: "(sensitive)\\u001b[2K" -> "x"'),
        ("~", "credentials: (sensitive) -> (sensitive)"),
    ]
