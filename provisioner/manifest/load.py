"""Loading manifests, keeping the line and column of every node.

Every problem found while reading, parsing or validating becomes a `Problem`; loading never
raises for a user's mistake, so one run reports every problem of every file at once. Files
are read within bounds (size here, depth and alias expansion in `yamlread`), so a hostile
file costs an error line, not the machine.
"""

from __future__ import annotations

import gc
import os
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import ValidationError
from pydantic_core import ErrorDetails
from ruamel.yaml.error import MarkedYAMLError, YAMLError

from provisioner.fields.reading import UnreadableFile, read_regular_file, utf8_text
from provisioner.manifest.files import walk_manifest_files
from provisioner.manifest.messages import describe, suggest_key
from provisioner.manifest.model import LOCATION_TAGS, Manifest
from provisioner.manifest.problems import Findings, Location, Problem, format_path
from provisioner.manifest.yamlread import YamlMap, YamlRefused, YamlSeq, parse_documents

MANIFEST_SUFFIXES = (".yaml", ".yml")
MAX_MANIFEST_BYTES = 5 * 1024 * 1024
# A 5 MiB file of `{}` documents would otherwise report a million problems.
MAX_PROBLEMS_PER_FILE = 200
NO_MANIFEST = "holds no manifest: the file is empty, or has only comments, '---' or null"
PathPart = str | int


@dataclass(frozen=True)
class LoadedManifest:
    """A valid manifest with where it came from, so later checks can point at its lines."""

    manifest: Manifest
    file: Path
    document: int
    node: YamlMap = field(repr=False, compare=False)

    def locate(self, *parts: PathPart, at_key: bool = False) -> tuple[Location, str]:
        return locate(self.file, self.node, parts, at_key=at_key)

    def problem(
        self, severity: str, message: str, *parts: PathPart, at_key: bool = False
    ) -> Problem:
        location, path = self.locate(*parts, at_key=at_key)
        return Problem("warning" if severity == "warning" else "error", location, message, path)


@dataclass
class LoadResult(Findings):
    files: list[Path] = field(default_factory=list)
    manifests: list[LoadedManifest] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)


def load_paths(paths: Iterable[str | Path]) -> LoadResult:
    """Read every manifest under `paths` (files, or directories searched recursively)."""
    result = LoadResult()
    for given in paths:
        result.files.extend(_discover(Path(given), result.problems))
    with collector_paused():
        for file in result.files:
            _load_file(file, result)
    return result


@contextmanager
def collector_paused() -> Iterator[None]:
    """Python's cyclic garbage collector held off while a run builds what it keeps.

    Loading a thousand manifests (or reading a fleet) makes hundreds of thousands of
    objects that all stay alive: each collection walks them again to find nothing to free,
    a quarter of a load's time. What such work discards, reference counting frees; the
    little cyclic garbage waits for the collector's next run. A nested use leaves it as
    the outer one does."""
    if not gc.isenabled():
        yield
        return
    gc.disable()
    try:
        yield
    finally:
        gc.enable()


def _discover(path: Path, problems: list[Problem]) -> list[Path]:
    """A file as given (reading it tells what is wrong with it), or a folder's manifests."""
    try:
        is_folder = path.is_dir()
    except OSError as error:  # a symlink loop, say
        problems.append(Problem("error", Location(str(path)), f"cannot read: {error.strerror}"))
        return []
    if is_folder:
        found = list(walk_manifest_files(path, MANIFEST_SUFFIXES))
        if not found:
            problems.append(Problem("error", Location(str(path)), "no *.yaml or *.yml files"))
        return found
    if os.path.lexists(path):
        return [path]
    problems.append(Problem("error", Location(str(path)), "no such file or directory"))
    return []


def _load_file(file: Path, result: LoadResult) -> None:
    documents, problems = read_documents(file)
    if problems:
        result.problems.extend(problems)
        return
    if all(document is None for document in documents):
        result.problems.append(Problem("error", Location(str(file)), NO_MANIFEST))
        return
    first_problem = len(result.problems)
    for index, document in enumerate(documents):
        if len(result.problems) - first_problem >= MAX_PROBLEMS_PER_FILE:
            message = (
                f"more problems not shown: stopped at document {index + 1} of {len(documents)}"
            )
            result.problems.append(Problem("error", Location(str(file)), message))
            return
        _load_document(file, index, document, result)


def _load_document(file: Path, index: int, document: Any, result: LoadResult) -> None:
    if document is None:
        return  # an empty document, such as a trailing `---`
    if not isinstance(document, YamlMap):
        location, _ = locate(file, document, ())
        result.problems.append(
            Problem("error", location, "a manifest must be a mapping of keys to values")
        )
        return
    try:
        manifest = Manifest.model_validate(to_plain(document))
    except ValidationError as error:
        result.problems.extend(_validation_problems(file, document, error))
        return
    result.manifests.append(LoadedManifest(manifest, file, index, document))


def _validation_problems(file: Path, document: YamlMap, error: ValidationError) -> list[Problem]:
    details = error.errors(include_input=True, include_url=False)
    typos = _typo_targets(details)
    problems = []
    for detail in details:
        loc = tuple(detail["loc"])
        if detail["type"] == "missing" and loc in typos:
            continue  # reported once, as the misspelt key with its suggestion
        if detail["type"] == "union_tag_invalid":
            loc += ("type",)
        location, path = locate(file, document, loc, at_key=detail["type"] == "extra_forbidden")
        problems.append(Problem("error", location, describe(detail), path))
    return problems


def _typo_targets(details: list[ErrorDetails]) -> set[tuple[PathPart, ...]]:
    """Locations of missing keys that an unknown key beside them is a misspelling of."""
    targets = set()
    for detail in details:
        if detail["type"] == "extra_forbidden":
            loc = tuple(detail["loc"])
            suggestion = suggest_key(loc)
            if suggestion:
                targets.add((*loc[:-1], suggestion))
    return targets


def locate(
    file: Path, root: Any, loc: Iterable[PathPart], at_key: bool = False
) -> tuple[Location, str]:
    """The YAML position and the dotted path of a validation location.

    Walks the document along `loc`, skipping union tags (which are not YAML keys). Where a
    key is missing, the position stays on the mapping that should hold it.
    """
    node, line, column = root, *_start(root)
    shown: list[PathPart] = []
    parts = list(loc)
    for i, part in enumerate(parts):
        last = i == len(parts) - 1
        if isinstance(node, YamlMap) and isinstance(part, str) and part in node:
            # A null points at its key, as an empty value has no place of its own.
            on_key = (last and at_key) or node[part] is None
            line, column = node.key_positions[part] if on_key else node.value_positions[part]
            node = node[part]
        elif isinstance(node, YamlSeq) and isinstance(part, int) and part < len(node):
            line, column = node.item_positions[part]
            node = node[part]
        elif _is_union_tag(parts, i):
            continue
        else:
            node = None
        shown.append(part)
    return Location(str(file), line + 1, column + 1), format_path(shown)


def _start(node: Any) -> tuple[int, int]:
    if isinstance(node, (YamlMap, YamlSeq)):
        return node.line, node.column
    return 0, 0


def _is_union_tag(parts: list[PathPart], i: int) -> bool:
    """Union tags follow a list index (audience forms) or `destination` (its types)."""
    previous = parts[i - 1] if i > 0 else None
    after_union = isinstance(previous, int) or previous == "destination"
    return after_union and parts[i] in LOCATION_TAGS


def to_plain(value: Any) -> Any:
    """Positioned mappings and sequences as plain dicts and lists, for strict validation.

    Depth is bounded by the reader (at most 64 levels, aliases included), so recursion is safe.
    """
    if isinstance(value, dict):
        return {k: to_plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [to_plain(v) for v in value]
    return value


def _yaml_problem(file: Path, error: MarkedYAMLError) -> Problem:
    mark = error.problem_mark or error.context_mark
    line, column = (mark.line + 1, mark.column + 1) if mark else (0, 0)
    message = f"invalid YAML: {error.problem or ''}"
    if error.context and error.context_mark is not None:
        message += f" ({error.context} started at line {error.context_mark.line + 1})"
    return Problem("error", Location(str(file), line, column), message)


def read_documents(file: Path) -> tuple[list[Any], list[Problem]]:
    """Every YAML document of a file, positions kept, or the problem that stops its reading:
    bounded in size, depth and alias expansion, for manifests and the project file alike."""
    try:
        data = read_regular_file(file, MAX_MANIFEST_BYTES, "5 MiB for a manifest file")
        text = utf8_text(data)
    except UnreadableFile as error:
        return [], [Problem("error", Location(str(file)), f"the file {error}")]
    try:
        return parse_documents(text), []
    except YamlRefused as error:
        location = Location(str(file), error.line + 1, error.column + 1)
        return [], [Problem("error", location, error.message)]
    except MarkedYAMLError as error:
        return [], [_yaml_problem(file, error)]
    except YAMLError as error:
        return [], [Problem("error", Location(str(file)), f"invalid YAML: {error}")]
