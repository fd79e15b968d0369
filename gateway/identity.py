"""Which client header names may reach the upstream: identity headers, in any spelling, never.

The signed identity that replaces them is `gateway/signature.py`'s.

Names are compared after folding (lower case, `_` read as `-`) because some backends treat
`X_User_Id` and `X-User-Id` as the same header. The fold goes further than the contract's
`_`: every character a header name may hold besides letters and digits (`.`, `~`, `+`, `!`,
...) is read as `-` too, since CGI-style environments map all of them to `_`.
"""

from __future__ import annotations

import re
from functools import lru_cache

_SEPARATORS = re.compile(r"[^a-z0-9]")
_PLAIN_NAME = re.compile(r"[A-Za-z0-9-]+")
# Method overrides (the policy checked one method, the backend would run another) and `Proxy`
# (httpoxy: CGI turns it into HTTP_PROXY, and the backend's own outgoing calls obey it).
_NEVER_FORWARDED = frozenset(
    {"x-http-method-override", "x-http-method", "x-method-override", "proxy"}
)


@lru_cache(maxsize=1024)
def is_identity_header(name: str) -> bool:
    """True for any spelling of X-User-Id, X-User-*, X-Gateway-* or X-Request-ID."""
    folded = _SEPARATORS.sub("-", name.lower())
    return (
        folded.startswith(("x-user-", "x-gateway-"))
        or folded == "x-user-id"
        or folded == "x-request-id"
    )


@lru_cache(maxsize=1024)
def is_forwardable(name: str) -> bool:
    """False for identity headers in any spelling, and for every name holding anything but
    letters, digits and `-` (as nginx does by default): backends fold `X_Forwarded_For` or
    `Transfer_Encoding` into the real header, which would let a client spoof the one or
    desync the other. Method overrides and `Proxy` (httpoxy) go too."""
    return (
        _PLAIN_NAME.fullmatch(name) is not None
        and not is_identity_header(name)
        and name.lower() not in _NEVER_FORWARDED
    )
