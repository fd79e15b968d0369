"""Taking the bearer token out of the headers."""

from __future__ import annotations

import pytest
from multidict import CIMultiDict, CIMultiDictProxy

from gateway.auth.errors import AuthError
from gateway.auth.extract import bearer_token

TOKEN = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJhIn0.c2lnbmF0dXJl"


def headers(*values: str) -> CIMultiDictProxy[str]:
    return CIMultiDictProxy(CIMultiDict(("Authorization", v) for v in values))


@pytest.mark.parametrize(
    "value",
    [f"Bearer {TOKEN}", f"bearer {TOKEN}", f"BEARER {TOKEN}", f"Bearer   {TOKEN}  "],
)
def test_the_bearer_scheme_is_case_insensitive(value: str) -> None:
    assert bearer_token(headers(value), max_bytes=8192) == TOKEN


def test_the_header_name_is_case_insensitive() -> None:
    mixed = CIMultiDictProxy(CIMultiDict({"aUtHoRiZaTiOn": f"Bearer {TOKEN}"}))

    assert bearer_token(mixed, max_bytes=8192) == TOKEN


@pytest.mark.parametrize(
    ("values", "reason"),
    [
        ((), "missing_token"),
        ((f"Bearer {TOKEN}", f"Bearer {TOKEN}"), "multiple_authorization"),
        ((f"Bearer {TOKEN}", "Basic YTpi"), "multiple_authorization"),
        (("Basic YWxpY2U6c2VjcmV0",), "unsupported_scheme"),
        ((f"Token {TOKEN}",), "unsupported_scheme"),
        ((f"Bearer{TOKEN}",), "unsupported_scheme"),
        (("",), "malformed_token"),
        (("Bearer",), "malformed_token"),
        (("Bearer    ",), "malformed_token"),
        ((f"Bearer {TOKEN} extra",), "malformed_token"),
        (("Bearer tok\u00e9n",), "malformed_token"),
        (("Bearer a,b",), "malformed_token"),
        (("Bearer " + "a" * 8193,), "token_too_large"),
    ],
    ids=[
        "none",
        "two-bearers",
        "bearer-and-basic",
        "basic",
        "other-scheme",
        "no-space",
        "empty-header",
        "scheme-only",
        "blank-token",
        "two-words",
        "non-ascii",
        "comma",
        "over-8-kib",
    ],
)
def test_refusals(values: tuple[str, ...], reason: str) -> None:
    with pytest.raises(AuthError) as refused:
        bearer_token(headers(*values), max_bytes=8192)

    assert refused.value.reason == reason
    assert TOKEN not in refused.value.message


def test_a_token_of_exactly_the_limit_is_accepted() -> None:
    assert bearer_token(headers("Bearer " + "a" * 8192), max_bytes=8192) == "a" * 8192
