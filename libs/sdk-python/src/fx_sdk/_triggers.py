"""Triggers: a named object put under a prefix runs a function with the object's reference.

The client's trigger calls live here (a mixin, so that client.py stays small): ``create_trigger``,
``list_triggers``, ``get_trigger`` and ``delete_trigger``. A trigger fires exactly once per object,
durably (an object put while the endpoint is offline runs when it returns); with an output prefix the
task's result is stored as an object named output prefix + the rest of the input's name
(``input/a.csv`` → ``output/a.csv``).
"""

from __future__ import annotations

import re
from typing import Any, Dict, Optional, cast

from ._calls import ClientCalls, Collection
from ._wire import endpoint_ref, function_ref, task_id
from .errors import ValidationError
from .types import TriggerInfo

# ObjectPrefix in libs/protocol/src/objects.ts: the characters of a name, and it may end with "/".
_PREFIX_RE = re.compile(r"^[A-Za-z0-9._+=@/-]+$")
_MAX_PREFIX_CHARS = 1024


def object_prefix(value: object, what: str) -> str:
    if not isinstance(value, str) or not 1 <= len(value) <= _MAX_PREFIX_CHARS or not _PREFIX_RE.match(value):
        raise ValidationError(
            "VALIDATION_FAILED",
            f'{what} must be a name prefix such as "input/" (letters, digits and . _ - + = @ /, at most {_MAX_PREFIX_CHARS}), not {value!r}',
        )
    return value


_TRIGGERS: Collection[TriggerInfo] = Collection("/v1/triggers", lambda trigger: task_id(trigger, "trigger id"))


class TriggerMethods(ClientCalls):
    """The client's trigger calls."""

    def create_trigger(
        self, prefix: str, function: str, endpoint: str, output_prefix: Optional[str] = None, from_members: bool = False
    ) -> TriggerInfo:
        """Runs ``function`` (an id or name) on ``endpoint`` (an id or name) once for every object you put
        with a name under ``prefix``, with the object's reference as its one argument; with
        ``output_prefix`` its result is stored as an object under that prefix with the rest of the input's
        name. Refused (``ValidationError``) when the outputs would fire it again, directly or through your
        other triggers; ``QuotaExceededError`` past the server's FX_MAX_TRIGGERS_PER_USER. A named output
        that another user's endpoint (a member of your endpoint group) stored for your task fires it only
        with ``from_members=True``: that endpoint chose the output's name and bytes."""
        body: Dict[str, Any] = {
            "prefix": object_prefix(prefix, "prefix"),
            "function": function_ref(function),
            "endpoint": endpoint_ref(endpoint),
        }
        if output_prefix is not None:
            body["outputPrefix"] = object_prefix(output_prefix, "output_prefix")
        if from_members:
            body["fromMembers"] = True
        return cast(TriggerInfo, self._request("POST", "/v1/triggers", body))

    list_triggers = _TRIGGERS.lister("Your live triggers, oldest first.")
    get_trigger = _TRIGGERS.getter("A trigger with how many tasks it has started (``fired``); NotFoundError for one that is not yours.")
    delete_trigger = _TRIGGERS.deleter("Stops it firing; the tasks it already started run on. NotFoundError for one that is not yours.")
