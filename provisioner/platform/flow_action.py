"""Enabling and disabling a dataflow: `POST /flows/{id}/action`, in its two documented forms.

The documents disagree. The Destinations guide (updating destination dataflows) sends
`?op=enable` or `?op=disable`: lower case, no `subOp`. The Flow Service (Sources) OpenAPI
document, operation postStateTransition, lists `op` as `ENABLE|DISABLE|…` and a required
`subOp` of `APPLY|ROLLBACK|PROGRESS`; of those, `APPLY` carries the transition out (the
others undo one or report on one). The tool sends the Destinations form first; when the
platform refuses it with a 400 that names the parameters, it sends the Sources form, and
from then on the form that worked, for the rest of the run.
"""

from __future__ import annotations

import re
import threading
from typing import Any, Literal

from provisioner.platform.failures import ApiCallError

ActionForm = Literal["destinations", "sources"]
FORMS: tuple[ActionForm, ...] = ("destinations", "sources")
SOURCES_SUB_OP = "APPLY"

_NAMES_PARAMETERS = re.compile(r"\b(op|subop)\b", re.IGNORECASE)


def action_params(form: ActionForm, action: str) -> dict[str, str]:
    """The query of `action` (enable or disable, in any case) in `form`."""
    if form == "sources":
        return {"op": action.upper(), "subOp": SOURCES_SUB_OP}
    return {"op": action.lower()}


def shown(form: ActionForm, action: str) -> str:
    return "&".join(f"{k}={v}" for k, v in action_params(form, action).items())


def refuses_the_form(error: ApiCallError) -> bool:
    """A 400 about the action's parameters (not about the dataflow's state): the other
    form may be the one this platform takes."""
    return error.status == 400 and _NAMES_PARAMETERS.search(error.platform_message) is not None


def is_enabled(flow: dict[str, Any]) -> bool:
    """Whether a dataflow read from the platform is enabled: its `state`, in either case."""
    return str(flow.get("state", "enabled")).lower() == "enabled"


class ActionForms:
    """Which form to try first: the one that last worked in this run (thread-safe)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._working: ActionForm | None = None

    @property
    def working(self) -> ActionForm | None:
        with self._lock:
            return self._working

    def order(self) -> tuple[ActionForm, ...]:
        with self._lock:
            first = self._working or FORMS[0]
        return (first, *(form for form in FORMS if form != first))

    def worked(self, form: ActionForm) -> None:
        with self._lock:
            self._working = form
