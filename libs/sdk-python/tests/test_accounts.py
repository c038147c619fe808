"""The admin's lists of users and of a user's tokens: read page by page, bounded, never a silent part."""

from __future__ import annotations

import uuid

import pytest

import fx_sdk
from fx_sdk import Client


def test_list_users_pages_and_never_returns_a_silent_part(admin: Client, monkeypatch: pytest.MonkeyPatch) -> None:
    for i in range(3):
        admin.create_user(f"lister-{uuid.uuid4().hex[:8]}-{i}")
    every = admin.list_users()
    assert len(every) >= 4 and len({u["id"] for u in every}) == len(every)
    assert admin.list_users(limit=2) == every[:2]
    # a bound of 2 (1,000 by default, which only a big deployment reaches) cuts the list with an error
    monkeypatch.setattr("fx_sdk._registry.LIST_ACCOUNTS_MAX", 2)
    with pytest.raises(fx_sdk.ListTruncatedError) as cut:
        admin.list_users()
    err = cut.value
    assert err.code == "LIST_TRUNCATED" and err.bound == "count" and err.items == every[:2]
    assert "more than 2 users (the most listed without a limit): pass limit= to read more" in err.message
    assert admin.list_users(limit=len(every)) == every


def test_list_tokens_reads_every_page(admin: Client) -> None:
    user = admin.create_user(f"tokens-{uuid.uuid4().hex[:8]}")
    for i in range(3):
        admin.create_token(user["id"], name=f"t{i}")
    page = admin._request("GET", f"/v1/users/{user['id']}/tokens?limit=2")
    assert len(page["items"]) == 2 and page["nextCursor"]
    assert [t["name"] for t in admin.list_tokens(user["id"])] == ["t0", "t1", "t2"]
    assert [t["name"] for t in admin.list_tokens(user["id"], limit=1)] == ["t0"]
