"""Names and descriptions are printable: no C0 or C1 control character and no DEL.

A control character in a name would reach terminals, logs and the platform's UI, where an
escape sequence can rewrite what a reviewer sees; so it is refused, and shown escaped.
"""

from __future__ import annotations

import re
from typing import Any

from pydantic_core import PydanticCustomError

CONTROL_CHARACTERS = "\\x00-\\x1f\\x7f-\\x9f"
_CONTROL = re.compile(f"[{CONTROL_CHARACTERS}]")
# For JSON Schema (ECMA 262) and Python alike: text with no control character.
PRINTABLE_PATTERN = f"^[^{CONTROL_CHARACTERS}]*$"


def escape_character(character: str) -> str:
    """`\\x1b`, `\\t`, `\\x85`: a character as it would be written in source code."""
    return repr(character)[1:-1]


def first_control_character(text: str) -> tuple[int, str] | None:
    """The 1-based position and the escaped form of the first control character."""
    match = _CONTROL.search(text)
    if match is None:
        return None
    return match.start() + 1, escape_character(match.group())


def control_character_message(text: str) -> str | None:
    found = first_control_character(text)
    if found is None:
        return None
    position, escaped = found
    return (
        f"contains the control character {escaped} (character {position}); "
        "only printable characters are allowed"
    )


def reject_control_characters(value: Any) -> Any:
    """A pydantic before-validator: the value, or an error that shows the character escaped."""
    if isinstance(value, str):
        message = control_character_message(value)
        if message is not None:
            # Passed as context so that no brace of the message is read as a placeholder.
            raise PydanticCustomError("control_character", "{message}", {"message": message})
    return value
