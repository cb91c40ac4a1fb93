"""Platform answers with a field of the wrong type, one field at a time, through the real CLI.

The emulator, served on loopback, holds a small fleet that `plan` reads whole: dataflows of
both destination types with audiences by id and by name and an attribute, their target
connections, accounts, the profile source, the Audiences API's listing and bulk read, and
the IMS token. A WSGI wrapper in front of it rewrites one answer per case: one field (in
every item of a list) replaced by a value of another JSON type. Every case must end as a
user-facing outcome: exit 0 or 2 (the value was tolerated), or exit 1 whose last line is
the error, never exit 3 (an internal error) and never a traceback.

The sweep is deterministic and bounded: every field of every recorded answer is tried with
a few wrong types, rotated so that each type meets fields at every depth; a table of cases
named after real failures checks the messages; and `apply` runs where a mutated plan has
changes, each on a fresh copy of the fleet.
"""

from __future__ import annotations

import json
import re
import shutil
import threading
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from wsgiref.types import StartResponse, WSGIEnvironment

import pytest

from provisioner.emulator import EmulatorApp, Store
from provisioner.emulator.audiences import AudienceSeed
from provisioner.emulator.server import serving
from tests.emulator_support import emulator_config
from tests.workspace import AUDIENCES, Outcome, Workspace, event_hubs, kinesis

FLOW_SERVICE = "/data/foundation/flowservice"
# The answers the tool reads, by a short name: (method, path).
ANSWERS: dict[str, tuple[str, str]] = {
    "flows": ("GET", f"{FLOW_SERVICE}/flows"),
    "targetConnections": ("GET", f"{FLOW_SERVICE}/targetConnections"),
    "connections": ("GET", f"{FLOW_SERVICE}/connections"),
    "sourceConnections": ("GET", f"{FLOW_SERVICE}/sourceConnections"),
    "audiences": ("GET", "/data/core/ups/audiences"),
    "audiences bulk-get": ("POST", "/data/core/ups/audiences/bulk-get"),
    "token": ("POST", "/ims/token/v3"),
}
Path_ = tuple[str, ...]  # keys into an answer; "*" is every item of a list


def nested(depth: int) -> Any:
    value: Any = []
    for _ in range(depth):
        value = [value]
    return value


# One value of each JSON type, and the shapes that broke parsers elsewhere.
WRONG: dict[str, Any] = {
    "null": None,
    "bool": True,
    "number": 7,
    "float": 1e308,
    "string": "yesterday",
    "list": [],
    "object": {},
    "huge string": "A" * 200_000,
    "deep nesting": nested(150),
}
KINDS_PER_FIELD = 2  # of WRONG, per field of the sweep: about 20 s for ~250 fields
PROBLEM_LINE = re.compile(r"manifests/\S+:\d+:\d+: (error|warning): ")


@dataclass(frozen=True)
class Mutation:
    answer: str
    path: Path_
    value: Any

    def __str__(self) -> str:
        shown = json.dumps(self.value)
        return f"{self.answer} {'.'.join(self.path)} = {shown[:40]}"

    def apply(self, body: Any) -> Any:
        return replaced(body, self.path, self.value)


def replaced(value: Any, path: Path_, new: Any) -> Any:
    """`value` with what `path` names replaced by `new` (a copy; the rest shared)."""
    if not path:
        return new
    head, rest = path[0], path[1:]
    if head == "*":
        return [replaced(v, rest, new) for v in value] if isinstance(value, list) else value
    if isinstance(value, dict) and head in value:
        return {**value, head: replaced(value[head], rest, new)}
    return value


def fields(value: Any, prefix: Path_ = ()) -> Iterator[tuple[Path_, Any]]:
    """Every path into `value` below its root, each once (list items merged as "*"), with
    the first value found there."""
    seen: set[Path_] = set()
    children: Iterable[tuple[str, Any]] = ()
    if isinstance(value, dict):
        children = ((str(k), v) for k, v in value.items())
    elif isinstance(value, list):
        children = (("*", v) for v in value)
    for key, child in children:
        for path, found in [((*prefix, key), child), *fields(child, (*prefix, key))]:
            if path not in seen:
                seen.add(path)
                yield path, found


def json_type(value: Any) -> str:
    if value is None:
        return "null"
    return {bool: "bool", int: "number", float: "number", str: "string", list: "list"}.get(
        type(value), "object"
    )


class Rewriting:
    """A WSGI wrapper: records the first answer of each kind, and rewrites the answer the
    current mutation names."""

    def __init__(self, app: EmulatorApp) -> None:
        self.app = app
        self.mutation: Mutation | None = None
        self.recorded: dict[str, Any] = {}
        self._lock = threading.Lock()
        self._names = {request: name for name, request in ANSWERS.items()}

    def __call__(self, environ: WSGIEnvironment, start_response: StartResponse) -> list[bytes]:
        answered: dict[str, Any] = {}

        def capture(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Any:
            answered.update(status=status, headers=headers)
            return lambda _data: None

        body = b"".join(self.app(environ, capture))
        name = self._names.get((environ["REQUEST_METHOD"], environ["PATH_INFO"]))
        if name is not None and answered["status"].startswith("20") and body.strip():
            body = self._rewrite(name, json.loads(body))
        headers = [(k, v) for k, v in answered["headers"] if k.lower() != "content-length"]
        start_response(answered["status"], [*headers, ("Content-Length", str(len(body)))])
        return [body]

    def _rewrite(self, name: str, answer: Any) -> bytes:
        with self._lock:
            self.recorded.setdefault(name, answer)
            mutation = self.mutation
        if mutation is not None and mutation.answer == name:
            answer = mutation.apply(answer)
        return json.dumps(answer).encode()


@dataclass
class Fleet:
    workspace: Workspace
    server: Rewriting
    seed: Path  # the emulator's data file as the fleet left it, for fresh copies

    def run(self, mutation: Mutation | None, *args: str) -> Outcome:
        self.server.mutation = mutation
        try:
            return self.workspace.run(*args)
        finally:
            self.server.mutation = None

    def plan(self, mutation: Mutation | None) -> Outcome:
        return self.run(mutation, "plan", "manifests", "--detailed-exitcode")

    def apply(self, mutation: Mutation, folder: Path) -> Outcome:
        """`apply` with `mutation`, against a fresh copy of the fleet."""
        copy = folder / "emulator.db"
        shutil.copyfile(self.seed, copy)
        fresh = EmulatorApp(Store(copy), config=emulator_config())
        before = self.server.app
        self.server.app = fresh
        try:
            return self.run(mutation, "apply", "manifests", "--auto-approve")
        finally:
            self.server.app = before
            fresh.store.close()


def manifests(workspace: Workspace) -> None:
    by_name = "audiences:\n  - name: Women over 40\n"
    orders = kinesis("orders", [AUDIENCES[0]], description="orders to Kinesis")
    workspace.write("orders.yaml", orders.replace("audiences:\n", by_name) + ATTRIBUTES)
    workspace.write("hubs.yaml", event_hubs("hubs", [AUDIENCES[1]]))


ATTRIBUTES = "attributes:\n  - person.name.firstName\n"


@pytest.fixture(scope="module")
def fleet(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Fleet]:
    root = tmp_path_factory.mktemp("fuzz")
    seed = root / "seed" / "emulator.db"
    app = EmulatorApp(Store(seed), config=emulator_config())
    app.audiences.seed_all(
        {
            "prod": [
                AudienceSeed(AUDIENCES[0], "Men over 50"),
                AudienceSeed(AUDIENCES[1], "Women over 40"),
            ]
        }
    )
    server = Rewriting(app)
    with serving(server) as url:
        workspace = Workspace(root / "work", url, app)
        workspace.env["XDG_STATE_HOME"] = str(root / "state")  # crash logs, if any, stay here
        manifests(workspace)
        made = workspace.apply("--auto-approve")
        assert made.code == 0, made.err
        server.recorded.clear()
        unchanged = workspace.plan("--detailed-exitcode")
        assert unchanged.code == 0, unchanged.out + unchanged.err
        assert set(server.recorded) == set(ANSWERS), sorted(server.recorded)
        app.store.close()  # the seed file is complete on disk; a reopened store serves
        server.app = EmulatorApp(Store(seed), config=emulator_config())
        copy = root / "seed-copy.db"
        shutil.copyfile(seed, copy)
        yield Fleet(workspace, server, copy)
        server.app.store.close()


def verdict(outcome: Outcome, apply: bool = False) -> str | None:
    """Why `outcome` is not an ending the user can act on; None when it is one."""
    text = outcome.out + outcome.err
    if outcome.code not in (0, 1, 2):
        return f"exit {outcome.code}: {outcome.err.strip()[-300:]}"
    if "Traceback" in text or "internal error" in text:
        return f"a traceback or internal error: {outcome.err.strip()[-300:]}"
    lines = outcome.err.strip().splitlines()
    if outcome.code == 1:
        if not lines or not lines[-1].startswith("error: "):
            return f"exit 1 without an error line: {outcome.err.strip()[-300:]}"
        # Before the error, only the manifests' own problems (an audience no longer found)
        # and, from apply, one error line per dataflow the platform refused to change.
        for line in lines[:-1]:
            if not (PROBLEM_LINE.match(line) or (apply and line.startswith("error: "))):
                return f"exit 1 with more than the error: {outcome.err.strip()[:300]}"
    return None


def sweep(recorded: dict[str, Any], answer: str) -> list[Mutation]:
    """Each field of the recorded answer with KINDS_PER_FIELD wrong values, taken in turn
    from those of another type than the field's."""
    kinds = list(WRONG)
    cases = []
    for index, (path, found) in enumerate(fields(recorded[answer])):
        own = json_type(found)
        others = [k for k in kinds if json_type(WRONG[k]) != own]
        start = index % len(others)
        chosen = (others[start:] + others[:start])[:KINDS_PER_FIELD]
        cases += [Mutation(answer, path, WRONG[kind]) for kind in chosen]
    return cases


@pytest.mark.parametrize("answer", list(ANSWERS))
def test_every_field_of_every_answer(fleet: Fleet, answer: str, tmp_path: Path) -> None:
    failures, with_changes = [], []
    cases = sweep(fleet.server.recorded, answer)
    assert len(cases) >= 3 * KINDS_PER_FIELD
    for mutation in cases:
        outcome = fleet.plan(mutation)
        problem = verdict(outcome)
        if problem is not None:
            failures.append(f"plan, {mutation}: {problem}")
        if outcome.code == 2:
            with_changes.append(mutation)
    # Where the plan has changes, apply gets as far as writing: once per field.
    for mutation in {m.path: m for m in with_changes}.values():
        folder = tmp_path / str(len(list(tmp_path.iterdir())))
        folder.mkdir()
        problem = verdict(fleet.apply(mutation, folder), apply=True)
        if problem is not None:
            failures.append(f"apply, {mutation}: {problem}")
    assert not failures, "\n".join(failures)


# named cases: the messages ------------------------------------------------------------

ANY = "*"
SEGMENTS = ("segmentSelectors", "selectors")
TABLE: list[tuple[Mutation, int, str]] = [
    # a non-numeric time is metadata the tool can do without
    (Mutation("flows", ("items", ANY, "createdAt"), "yesterday"), 0, ""),
    (Mutation("connections", ("items", ANY, "updatedAt"), "soon"), 0, ""),
    (
        Mutation("flows", ("items", ANY, "targetConnectionIds"), "x"),
        1,
        "whose targetConnectionIds is a string, not a list",
    ),
    (
        Mutation("flows", ("items", ANY, "targetConnectionIds"), [["x"]]),
        1,
        "whose targetConnectionIds[0] is a list, not a string",
    ),
    (
        Mutation("flows", ("items", ANY, "transformations"), 7),
        1,
        "whose transformations is a number, not a list",
    ),
    (
        Mutation(
            "flows",
            (
                "items",
                ANY,
                "transformations",
                ANY,
                "params",
                "segmentSelectors",
                "selectors",
                ANY,
                "value",
            ),
            None,
        ),
        1,
        "transformations[0].params.segmentSelectors.selectors[0].value is null, not an object",
    ),
    (Mutation("flows", ("items",), {}), 1, "with no list of items"),
    (Mutation("flows", ("items", ANY, "etag"), []), 1, "whose etag is a list, not a string"),
    (
        Mutation("targetConnections", ("items", ANY, "params"), []),
        1,
        "target connection",
    ),
    (
        Mutation("connections", ("items", ANY, "description"), 7),
        1,
        "whose description is a number, not a string",
    ),
    (
        Mutation("connections", ("items", ANY, "auth", "params", "region"), {"a": 1}),
        1,
        "whose auth.params.region is an object, not a string, an integer or a boolean",
    ),
    (
        Mutation("connections", ("items", ANY, "name"), True),
        1,
        "whose name is a boolean, not a string",
    ),
    (Mutation("sourceConnections", ("items", ANY, "baseConnectionId"), 7), 1, "source connection"),
    (Mutation("flows", ("_links",), {"next": {"href": 7}}), 1, "a next link that is not"),
    (Mutation("flows", ("_links",), []), 0, ""),  # no next link: the last page
    (Mutation("audiences", ("children",), {}), 1, "no list of `children`"),
    (Mutation("audiences", ("_page", "totalCount"), "many"), 0, ""),
    (Mutation("audiences bulk-get", ("results",), []), 1, "no `results` object"),
    (Mutation("token", ("access_token",), 7), 1, "get an access token"),
    (Mutation("token", ("expires_in",), "soon"), 1, "no usable expires_in"),
]


@pytest.mark.parametrize(("mutation", "code", "phrase"), TABLE, ids=[str(m) for m, _, _ in TABLE])
def test_named_cases(fleet: Fleet, mutation: Mutation, code: int, phrase: str) -> None:
    outcome = fleet.plan(mutation)
    assert verdict(outcome) is None, verdict(outcome)
    assert outcome.code == code, outcome.out + outcome.err
    if code == 1:
        [line] = outcome.err.strip().splitlines()
        assert phrase in line
        assert "sent something unexpected" in line or "token" in line


def test_an_id_in_a_message_is_cut(fleet: Fleet) -> None:
    """A hostile answer's id is named, but not at any length."""
    long_id = "f" * 10_000
    outcome = fleet.plan(Mutation("flows", ("items",), [{"id": long_id, "etag": []}]))
    [line] = outcome.err.strip().splitlines()
    assert outcome.code == 1 and "etag is a list" in line
    assert "f" * 64 + "…" in line and "f" * 65 not in line


def test_the_sweep_covers_every_kind_of_wrong_value(fleet: Fleet) -> None:
    used = {
        json.dumps(m.value)[:20] for answer in ANSWERS for m in sweep(fleet.server.recorded, answer)
    }
    assert len(used) == len(WRONG)


def test_rewriting_replaces_one_field_in_every_item() -> None:
    answer: dict[str, Any] = {"items": [{"id": "a", "x": 1}, {"id": "b", "x": 2}], "_links": {}}
    rewritten = Mutation("flows", ("items", "*", "x"), "two").apply(answer)
    assert rewritten == {"items": [{"id": "a", "x": "two"}, {"id": "b", "x": "two"}], "_links": {}}
    assert answer["items"][0]["x"] == 1  # the recorded answer stays as it was
    assert [path for path, _ in fields({"a": [{"b": 1}, {"c": 2}]})] == [
        ("a",),
        ("a", "*"),
        ("a", "*", "b"),
        ("a", "*", "c"),
    ]
