"""The backend's verifier against the shared vectors: every valid one accepted, every forged
one refused with its reason."""

from __future__ import annotations

from typing import Any

import pytest

from backend.identity import IdentityRejected, canonical_string, verify_identity
from tests.identity_vectors import MAX_AGE_SECONDS, SECRETS, cases


@pytest.mark.parametrize("case", cases("valid"))
def test_a_valid_vector_verifies(case: dict[str, Any]) -> None:
    fields = (case["method"], case["path_qs"], case["user_id"], case["request_id"])
    assert canonical_string(str(case["timestamp"]), *fields) == case["canonical"].encode()
    user = verify_identity(
        SECRETS,
        case["headers"].items(),
        method=case["method"],
        path_qs=case["path_qs"],
        now=case["timestamp"],
        max_age_seconds=MAX_AGE_SECONDS,
    )
    assert user == case["user_id"]


@pytest.mark.parametrize("case", cases("invalid"))
def test_a_forged_vector_is_refused(case: dict[str, Any]) -> None:
    with pytest.raises(IdentityRejected) as refused:
        verify_identity(
            SECRETS,
            [(name, value) for name, value in case["headers"]],
            method=case["method"],
            path_qs=case["path_qs"],
            now=case["now"],
            max_age_seconds=MAX_AGE_SECONDS,
        )
    assert refused.value.reason == case["reason"]


def test_the_window_is_inclusive_at_its_edge() -> None:
    case = cases("valid")[0].values[0]
    for now in (case["timestamp"] - MAX_AGE_SECONDS, case["timestamp"] + MAX_AGE_SECONDS):
        user = verify_identity(
            SECRETS,
            case["headers"].items(),
            method="GET",
            path_qs=case["path_qs"],
            now=now,
            max_age_seconds=MAX_AGE_SECONDS,
        )
        assert user == "alice"
