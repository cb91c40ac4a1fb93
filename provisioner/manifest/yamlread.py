"""YAML documents as plain values with positions, read within fixed bounds and fast.

ruamel.yaml's round-trip loader composes a node tree recursively, expands aliases without
limit and, in pure Python, spends milliseconds per manifest. Here the parser's event stream
(libyaml's C parser from ruamel.yaml.clibz or ruamel.yaml.clib when installed, ruamel's own
parser otherwise) is folded into values by one loop with an explicit stack, so no input can
exhaust the recursion limit, and the depth and alias expansion are checked event by event,
before anything grows. Scalars resolve with ruamel's YAML 1.2 rules (1.1 under `%YAML 1.1`).

Mappings and sequences come out as `YamlMap` and `YamlSeq`: a dict and a list that also
remember the 0-based line and column of themselves, of each key and of each value, as
ruamel's `lc` does. An alias yields the anchored object itself and its position.

When the C parser finds a syntax error, the text up to it is parsed again by ruamel's own
parser, whose messages the tool has always shown (libyaml words them differently).
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterator
from typing import Any, Final

from ruamel.yaml import YAML
from ruamel.yaml.composer import ComposerError
from ruamel.yaml.error import MarkedYAMLError, YAMLError
from ruamel.yaml.events import (
    AliasEvent,
    DocumentEndEvent,
    DocumentStartEvent,
    MappingEndEvent,
    MappingStartEvent,
    ScalarEvent,
    SequenceEndEvent,
    SequenceStartEvent,
)
from ruamel.yaml.nodes import ScalarNode
from ruamel.yaml.parser import ParserError
from ruamel.yaml.resolver import VersionedResolver
from ruamel.yaml.scanner import ScannerError
from ruamel.yaml.tag import Tag

try:
    from ruamel.yaml.cyaml import CParser  # type: ignore[attr-defined]
except ImportError:  # neither ruamel.yaml.clibz nor ruamel.yaml.clib is installed
    CParser = None

MAX_DEPTH: Final = 64
MAX_ALIAS_NODES: Final = 10_000
# Past this many characters before a syntax error, re-parsing in pure Python for ruamel's
# wording would take seconds; libyaml's own message is shown instead.
_REPARSE_LIMIT: Final = 512 * 1024
# Plain scalars whose tags are remembered: short ones (keys, ids, names), a bounded number.
_REMEMBERED_LENGTH: Final = 64
_REMEMBERED: Final = 4096

Position = tuple[int, int]  # 0-based line and column

_STR: Final = "tag:yaml.org,2002:str"
_NULL: Final = "tag:yaml.org,2002:null"
_BOOL: Final = "tag:yaml.org,2002:bool"
_MERGE: Final = "tag:yaml.org,2002:merge"
_VALUE: Final = "tag:yaml.org,2002:value"
_MAP_TAGS: Final = (None, "!", "tag:yaml.org,2002:map")
_SEQ_TAGS: Final = (None, "!", "tag:yaml.org,2002:seq")


class YamlMap(dict[Any, Any]):
    """A mapping with the position of itself, of its keys and of its values."""

    __slots__ = ("column", "key_positions", "line", "value_positions")

    def __init__(self, line: int, column: int) -> None:
        super().__init__()
        self.line, self.column = line, column
        self.key_positions: dict[Any, Position] = {}
        self.value_positions: dict[Any, Position] = {}


class YamlSeq(list[Any]):
    """A sequence with the position of itself and of its items."""

    __slots__ = ("column", "item_positions", "line")

    def __init__(self, line: int, column: int) -> None:
        super().__init__()
        self.line, self.column = line, column
        self.item_positions: list[Position] = []


class YamlRefused(Exception):
    """A document that is valid YAML but must not be loaded (too deep, too many aliases...)."""

    def __init__(self, message: str, line: int, column: int) -> None:
        super().__init__(message)
        self.message, self.line, self.column = message, line, column


def parser_kind() -> str:
    """Which parser reads manifests: `libyaml` (C) or `pure-python`."""
    return "pure-python" if CParser is None else "libyaml"


def parse_documents(text: str) -> list[Any]:
    """Every document of `text` as plain values (None for an empty document).

    Raises `YamlRefused` for depth or alias expansion beyond the bounds, and ruamel's
    `YAMLError` (a `MarkedYAMLError` with positions) for invalid YAML.
    """
    if CParser is None:
        return _Builder().build(_pure_events(text))
    parser = CParser(text)
    try:
        return _Builder().build(iter(parser.get_event, None))
    except MarkedYAMLError as error:
        _raise_ruamel_wording(text, error)
        raise
    finally:
        parser.dispose()


def _pure_events(text: str) -> Iterator[Any]:
    yield from YAML(typ="safe", pure=True).parse(text)


def _raise_ruamel_wording(text: str, error: MarkedYAMLError) -> None:
    """Raise ruamel's own error for the syntax error libyaml found, when cheap enough.

    A parser reads forward, so the text up to the line after the error holds everything
    either parser looked at to find it; the positions stay the same.
    """
    mark = error.problem_mark
    if mark is None or not isinstance(error, (ScannerError, ParserError)):
        return
    lines = text.split("\n", mark.line + 2)
    prefix = "\n".join(lines[: mark.line + 2])
    if len(prefix) > _REPARSE_LIMIT:
        return
    try:
        _Builder().build(_pure_events(prefix))
    except (ScannerError, ParserError) as ruamel_error:
        if ruamel_error.problem_mark is not None:
            raise ruamel_error from None
    except (YAMLError, YamlRefused):
        return


class _Frame:
    """An open mapping or sequence: its value, how big and how deep it is so far."""

    __slots__ = ("anchor", "height", "key", "key_position", "merges", "size", "value")

    def __init__(self, value: YamlMap | YamlSeq, anchor: str | None) -> None:
        self.value = value
        self.anchor = anchor
        self.size = 1  # nodes, aliases counted as the nodes they stand for
        self.height = 1  # levels of collections, itself included
        self.key: Any = _NO_KEY
        self.key_position: Position = (0, 0)
        self.merges: list[tuple[Any, Position]] = []


class _Anchored:
    __slots__ = ("height", "position", "size", "value")

    def __init__(self, value: Any, position: Position, size: int, height: int) -> None:
        self.value, self.position, self.size, self.height = value, position, size, height


_NO_KEY: Final = object()
_OPEN: Final = object()  # an anchor whose collection is still being read


class _Builder:
    """Folds one stream's events into documents, one event at a time."""

    def __init__(self) -> None:
        self.expanded = 0  # nodes that aliases added, over the whole stream
        self.stack: list[_Frame] = []
        self.anchors: dict[str, _Anchored | object] = {}
        self.documents: list[Any] = []
        self.root: Any = None
        self.scalars = _scalars((1, 2))

    def build(self, events: Iterator[Any]) -> list[Any]:
        for event in events:
            kind = type(event)
            if kind is ScalarEvent:
                self._scalar(event)
            elif kind is MappingStartEvent or kind is SequenceStartEvent:
                self._open(event, kind is MappingStartEvent)
            elif kind is MappingEndEvent or kind is SequenceEndEvent:
                self._close()
            elif kind is AliasEvent:
                self._alias(event)
            elif kind is DocumentStartEvent:
                self.anchors, self.root = {}, None
                self.scalars = _scalars((1, 1) if event.version == (1, 1) else (1, 2))
            elif kind is DocumentEndEvent:
                self.documents.append(self.root)
        return self.documents

    def _scalar(self, event: Any) -> None:
        scalars = self.scalars
        tag = scalars.tag(event)
        value = event.value if tag is _STR else scalars.value(event, tag)
        mark = event.start_mark
        position = (mark.line, mark.column)
        if event.anchor is not None:
            self.anchors[event.anchor] = _Anchored(value, position, 1, 0)
        merge = tag == _MERGE and event.value == "<<"
        if not self.stack or merge:
            self._add(value, position, 1, 0, merge)
            return
        # The common case, a scalar in a collection, without `_add`'s generality: a
        # manifest is mostly scalars, and this loop is most of its parsing.
        frame = self.stack[-1]
        frame.size += 1
        container = frame.value
        if isinstance(container, YamlSeq):
            container.append(value)
            container.item_positions.append(position)
        elif frame.key is _NO_KEY:
            frame.key, frame.key_position = value, position
        else:
            key, frame.key = frame.key, _NO_KEY
            if key is _MERGE:
                frame.merges.append((value, position))
            else:
                _set_item(container, key, frame.key_position, value, position)

    def _open(self, event: Any, mapping: bool) -> None:
        line, column = event.start_mark.line, event.start_mark.column
        if len(self.stack) >= MAX_DEPTH:
            raise YamlRefused(f"nested deeper than {MAX_DEPTH} levels", line, column)
        tag = event.tag
        if tag not in (_MAP_TAGS if mapping else _SEQ_TAGS):
            raise YamlRefused(f"invalid YAML: the tag {tag} is not supported", line, column)
        value: YamlMap | YamlSeq = YamlMap(line, column) if mapping else YamlSeq(line, column)
        if event.anchor is not None:
            self.anchors[event.anchor] = _OPEN
        self.stack.append(_Frame(value, event.anchor))

    def _close(self) -> None:
        frame = self.stack.pop()
        value = frame.value
        if isinstance(value, YamlMap) and frame.merges:
            _merge(value, frame.merges)
        position = (value.line, value.column)
        if frame.anchor is not None:
            self.anchors[frame.anchor] = _Anchored(value, position, frame.size, frame.height)
        self._add(value, position, frame.size, frame.height, False)

    def _alias(self, event: Any) -> None:
        line, column = event.start_mark.line, event.start_mark.column
        anchored = self.anchors.get(event.anchor)
        if anchored is None:
            raise ComposerError(
                None, None, f"found undefined alias {event.anchor!r}", event.start_mark
            )
        if not isinstance(anchored, _Anchored):
            message = f"the alias *{event.anchor} refers to a collection that contains it"
            raise YamlRefused(message, line, column)
        self.expanded += anchored.size
        if self.expanded > MAX_ALIAS_NODES:
            message = f"YAML aliases expand past {MAX_ALIAS_NODES:,} nodes"
            raise YamlRefused(message, line, column)
        if len(self.stack) + anchored.height > MAX_DEPTH:
            message = f"nested deeper than {MAX_DEPTH} levels once the alias is expanded"
            raise YamlRefused(message, line, column)
        self._add(anchored.value, anchored.position, anchored.size, anchored.height, False)

    def _add(self, value: Any, position: Position, size: int, height: int, merge: bool) -> None:
        if not self.stack:
            self.root = value
            return
        frame = self.stack[-1]
        frame.size += size
        frame.height = max(frame.height, height + 1)
        container = frame.value
        if isinstance(container, YamlSeq):
            container.append(value)
            container.item_positions.append(position)
        elif frame.key is _NO_KEY:
            frame.key = _MERGE if merge else _hashable_key(value, position)
            frame.key_position = position
        else:
            key, frame.key = frame.key, _NO_KEY
            if key is _MERGE:
                frame.merges.append((value, position))
            else:
                _set_item(container, key, frame.key_position, value, position)


def _hashable_key(value: Any, position: Position) -> Any:
    if isinstance(value, (YamlMap, YamlSeq)):
        raise YamlRefused("invalid YAML: a mapping key must be a scalar", *position)
    return value


def _set_item(mapping: YamlMap, key: Any, key_position: Position, value: Any, at: Position) -> None:
    if key in mapping:
        message = f"duplicate key '{key}' (the mapping starting at line {mapping.line + 1})"
        raise YamlRefused(message, *key_position)
    mapping[key] = value
    mapping.key_positions[key] = key_position
    mapping.value_positions[key] = at


def _merge(mapping: YamlMap, merges: list[tuple[Any, Position]]) -> None:
    """`<<: *base` or `<<: [*a, *b]`: keys the mapping lacks, earlier sources first."""
    for value, position in merges:
        sources = value if isinstance(value, YamlSeq) else [value]
        for source in sources:
            if not isinstance(source, YamlMap):
                message = "invalid YAML: a merge key (<<) takes a mapping or a list of mappings"
                raise YamlRefused(message, *position)
            for key, item in source.items():
                if key not in mapping:
                    mapping[key] = item
                    mapping.key_positions[key] = source.key_positions[key]
                    mapping.value_positions[key] = source.value_positions[key]


class _Scalars:
    """Scalar values by ruamel's rules for one YAML version.

    The implicit rules are ruamel's own (`VersionedResolver`), looked up directly by first
    character: going through the resolver object costs more than the parse itself.
    """

    def __init__(self, version: tuple[int, int]) -> None:
        rules = VersionedResolver(version=version).versioned_resolver
        anywhere = rules.get(None, [])
        self.rules: dict[str, list[tuple[str, re.Pattern[str]]]] = {
            first: [(str(Tag(suffix=tag)), pattern) for tag, pattern in [*found, *anywhere]]
            for first, found in rules.items()
            if first is not None
        }
        self.anywhere: list[tuple[str, re.Pattern[str]]] = [
            (str(Tag(suffix=tag)), pattern) for tag, pattern in anywhere
        ]
        loader = YAML(typ="safe", pure=True)
        loader.version = version
        self.constructor = loader.constructor
        # Plain scalars repeat (every manifest has the same keys): their tags, remembered.
        self.plain_tags: dict[str, str] = {}

    def tag(self, event: Any) -> str:
        tag = event.tag
        if tag is None or tag == "!":
            if not event.implicit[0]:
                return _STR  # a quoted or block scalar without a tag
            value: str = event.value
            known = self.plain_tags.get(value)
            if known is None:
                known = self._resolve(value)
                if len(value) <= _REMEMBERED_LENGTH and len(self.plain_tags) < _REMEMBERED:
                    self.plain_tags[value] = known
            return known
        return str(tag)

    def _resolve(self, value: str) -> str:
        for resolved, pattern in self.rules.get(value[:1], self.anywhere):
            if pattern.match(value):
                return resolved
        return _STR

    def value(self, event: Any, tag: str | None = None) -> Any:
        tag = self.tag(event) if tag is None else tag
        if tag == _STR:
            return event.value
        if tag == _NULL:
            return None
        if tag == _BOOL:
            return event.value.lower() in ("true", "yes", "on")
        if tag in (_MERGE, _VALUE):
            return event.value  # `<<` or `=` where no key is expected: just text
        node = ScalarNode(tag, event.value, event.start_mark, event.end_mark, event.style)
        value = self.constructor.construct_object(node, deep=True)
        self.constructor.constructed_objects.pop(node, None)  # keeps memory flat
        return value


@functools.cache
def _scalars(version: tuple[int, int]) -> _Scalars:
    return _Scalars(version)
