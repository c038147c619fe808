"""The environment the SDK reads, read here and nowhere else."""

from __future__ import annotations

import os
from typing import Optional

from .errors import ValidationError


def url_from_env(url: Optional[str]) -> str:
    """The server's base URL: the argument, else FX_URL; without a trailing slash."""
    value = url if url is not None else os.environ.get("FX_URL")
    if not value:
        raise ValidationError("VALIDATION_FAILED", "no server URL: pass Client(url=...) or set FX_URL (e.g. http://127.0.0.1:8080)")
    if not value.startswith(("http://", "https://")):
        raise ValidationError("VALIDATION_FAILED", f"the server URL must start with http:// or https://, got {value!r}")
    return value.rstrip("/")


def token_from_env(token: Optional[str]) -> str:
    """The bearer token: the argument, else FX_TOKEN."""
    value = token if token is not None else os.environ.get("FX_TOKEN")
    if not value:
        raise ValidationError("VALIDATION_FAILED", "no token: pass Client(token=...) or set FX_TOKEN")
    return value.strip()


def ca_bundle_from_env() -> Optional[str]:
    """The CA bundle requests would use from the environment, so the results connection trusts the same."""
    return os.environ.get("REQUESTS_CA_BUNDLE") or os.environ.get("CURL_CA_BUNDLE") or None
