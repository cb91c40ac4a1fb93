"""RFC 6902 JSON Patch, the subset the Flow Service accepts: add, replace, remove.

Operations apply in order, each to the result of the one before (so two removes of index
0 remove two different elements). Op names are case-insensitive (the OpenAPI spells them in
capitals, the guides in lower case); `remove` may carry a placeholder `value`, as in the
documentation's examples.
"""

from __future__ import annotations

import copy
from typing import Any

from provisioner.emulator.errors import ApiError, bad_request

SUPPORTED_OPS = ("add", "replace", "remove")


class PatchError(ApiError):
    def __init__(self, message: str) -> None:
        super().__init__(
            400,
            "1455",
            f"An error has occurred while validating patch instructions: {message}",
        )


def parse_pointer(pointer: str) -> list[str]:
    if pointer == "":
        return []
    if not pointer.startswith("/"):
        raise PatchError(f"path '{pointer}' must start with '/'")
    return [p.replace("~1", "/").replace("~0", "~") for p in pointer[1:].split("/")]


def validate_operations(body: Any) -> list[dict[str, Any]]:
    """The request body as a list of operations, or the platform's 400."""
    if body is None or body == []:
        raise bad_request("1405", "The request body is empty")
    if not isinstance(body, list) or not all(isinstance(op, dict) for op in body):
        raise PatchError("the body must be a JSON array of operations")
    for operation in body:
        name = str(operation.get("op", "")).lower()
        if name not in SUPPORTED_OPS:
            raise bad_request("1434", f"Unsupported operation '{operation.get('op')}'")
        if not isinstance(operation.get("path"), str):
            raise PatchError('Missing field "path"')
        if name != "remove" and "value" not in operation:
            raise PatchError('Missing field "value"')
    return body


def apply_patch(document: dict[str, Any], operations: list[dict[str, Any]]) -> dict[str, Any]:
    """A patched copy of `document`; the original is never modified."""
    result = copy.deepcopy(document)
    for operation in operations:
        _apply_one(
            result,
            str(operation["op"]).lower(),
            operation["path"],
            copy.deepcopy(operation.get("value")),
        )
    return result


def _apply_one(document: dict[str, Any], op: str, path: str, value: Any) -> None:
    parts = parse_pointer(path)
    if not parts:
        raise PatchError("the whole document cannot be patched")
    parent = _resolve(document, parts[:-1], path)
    key = parts[-1]
    if isinstance(parent, dict):
        _apply_to_object(parent, op, key, value, path)
    elif isinstance(parent, list):
        _apply_to_array(parent, op, key, value, path)
    else:
        raise PatchError(f"path '{path}' does not lead into an object or array")


def _resolve(document: Any, parts: list[str], path: str) -> Any:
    node = document
    for part in parts:
        if isinstance(node, dict) and part in node:
            node = node[part]
        elif isinstance(node, list) and part.isdigit() and int(part) < len(node):
            node = node[int(part)]
        else:
            raise PatchError(f"Missing field \"{part}\" in path '{path}'")
    return node


def _apply_to_object(parent: dict[str, Any], op: str, key: str, value: Any, path: str) -> None:
    if op != "add" and key not in parent:
        raise PatchError(f"Missing field \"{key}\" in path '{path}'")
    if op == "remove":
        del parent[key]
    else:
        parent[key] = value


def _apply_to_array(parent: list[Any], op: str, key: str, value: Any, path: str) -> None:
    if op == "add" and key == "-":
        parent.append(value)
        return
    if not key.isdigit() or (key != "0" and key.startswith("0")):
        raise PatchError(f"'{key}' is not an array index in path '{path}'")
    index, size = int(key), len(parent)
    if index > size or (op != "add" and index == size):
        raise PatchError(f"index {index} is out of range in path '{path}'")
    if op == "add":
        parent.insert(index, value)
    elif op == "replace":
        parent[index] = value
    else:
        del parent[index]
