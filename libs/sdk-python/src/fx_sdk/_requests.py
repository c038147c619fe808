"""What the client adds to its requests, and reads from their answers, beside the call itself."""

from __future__ import annotations

import warnings
from typing import Any, Dict, List, Optional

from .errors import FxError, PartialBatchError


class EndpointOfflineWarning(UserWarning):
    """A submission went to an endpoint with no agent connected: its tasks wait until one connects."""


def with_options(request: Dict[str, Any], description: Optional[str], walltime_seconds: Optional[float], public: Optional[bool], cache: Any) -> Dict[str, Any]:
    if cache is not None:
        request["cache"] = dict(cache)
    if description is not None:
        request["description"] = description
    if walltime_seconds is not None:
        request["walltimeSeconds"] = walltime_seconds
    if public is not None:
        request["public"] = public
    return request


def partial(accepted: List[str], error: FxError) -> FxError:
    return PartialBatchError(accepted, error) if accepted else error


def warn_offline(items: Any, seen: "set[str]") -> None:
    for w in items or []:
        endpoint = str(w.get("endpointId", ""))
        if endpoint in seen:
            continue
        seen.add(endpoint)
        warnings.warn(str(w.get("message", "endpoint offline")), EndpointOfflineWarning, stacklevel=3)

