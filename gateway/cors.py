"""CORS for the configured origins: preflights answered here, grants added to responses.

The gateway is the only CORS authority: grants an upstream sent are removed, so an origin
outside `cors.allow_origins` never gets one.
"""

from __future__ import annotations

from aiohttp import hdrs, web

from gateway.config import CorsSettings
from gateway.signature import REQUEST_ID_HEADER

_GRANT_HEADERS = (
    hdrs.ACCESS_CONTROL_ALLOW_ORIGIN,
    hdrs.ACCESS_CONTROL_ALLOW_CREDENTIALS,
    hdrs.ACCESS_CONTROL_EXPOSE_HEADERS,
    hdrs.ACCESS_CONTROL_ALLOW_METHODS,
    hdrs.ACCESS_CONTROL_ALLOW_HEADERS,
    hdrs.ACCESS_CONTROL_MAX_AGE,
)


class Cors:
    def __init__(self, settings: CorsSettings) -> None:
        self._origins = frozenset(settings.allow_origins)
        self._credentials = settings.allow_credentials
        self._preflight = {
            hdrs.ACCESS_CONTROL_ALLOW_METHODS: ", ".join(settings.allow_methods),
            hdrs.ACCESS_CONTROL_ALLOW_HEADERS: ", ".join(settings.allow_headers),
            hdrs.ACCESS_CONTROL_MAX_AGE: str(settings.max_age_seconds),
        }
        expose = list(settings.expose_headers)
        if REQUEST_ID_HEADER.lower() not in (name.lower() for name in expose):
            expose.append(REQUEST_ID_HEADER)
        self._expose = ", ".join(expose)

    def allowed_preflight(self, request: web.BaseRequest) -> bool:
        return (
            request.method == hdrs.METH_OPTIONS
            and hdrs.ACCESS_CONTROL_REQUEST_METHOD in request.headers
            and request.headers.get(hdrs.ORIGIN) in self._origins
        )

    def preflight(self, request: web.BaseRequest) -> web.Response:
        """204 for an allowed origin; no token is needed (browsers never send one here)."""
        response = web.Response(status=204, headers=self._preflight)
        response.headers[hdrs.ACCESS_CONTROL_ALLOW_ORIGIN] = request.headers[hdrs.ORIGIN]
        if self._credentials:
            response.headers[hdrs.ACCESS_CONTROL_ALLOW_CREDENTIALS] = "true"
        response.headers[hdrs.VARY] = "Origin"
        return response

    def apply(self, request: web.BaseRequest, response: web.StreamResponse) -> None:
        """Called for every response, streamed or not, right before its headers go."""
        if self.allowed_preflight(request):
            return  # our own preflight answer
        # Upstream grants go even when the request has no Origin: a shared cache could
        # otherwise store `Access-Control-Allow-Origin: *` and serve it to any origin.
        headers = response.headers
        for name in _GRANT_HEADERS:
            if name in headers:
                del headers[name]  # every one of that name
        origin = request.headers.get(hdrs.ORIGIN)
        if origin is not None and origin in self._origins:
            headers[hdrs.ACCESS_CONTROL_ALLOW_ORIGIN] = origin
            if self._credentials:
                headers[hdrs.ACCESS_CONTROL_ALLOW_CREDENTIALS] = "true"
            headers[hdrs.ACCESS_CONTROL_EXPOSE_HEADERS] = self._expose
        vary = headers.get(hdrs.VARY)
        if vary is None:
            headers[hdrs.VARY] = "Origin"
        elif "origin" not in vary.lower():
            headers[hdrs.VARY] = f"{vary}, Origin"
