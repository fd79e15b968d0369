"""`upstreams:` and `routes:` of gateway.yaml: where requests go and who may send them."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from yarl import URL

from gateway.path_template import parse_template
from gateway.yamlenv import Reader

METHODS = ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS")
RESPONDERS = ("healthz", "readyz")


@dataclass(frozen=True, slots=True)
class UpstreamSettings:
    name: str
    url: str  # scheme://host[:port][/prefix], no trailing slash
    connect_timeout_seconds: float = 5.0
    read_timeout_seconds: float = 30.0


@dataclass(frozen=True, slots=True)
class RouteSettings:
    name: str
    path: str
    methods: tuple[str, ...] = ()  # empty: every method
    auth: str = "required"
    upstream: str | None = None
    respond: str | None = None
    bindings: tuple[tuple[str, str], ...] = ()
    forward_authorization: bool = False


def read_methods(node: Reader, key: str, default: tuple[str, ...]) -> tuple[str, ...]:
    methods = node.strings(key, default)
    for index, method in enumerate(methods):
        if method.upper() not in METHODS:
            node.problems.add(f"{node.at(key)}[{index}]", f'unknown method "{method}"')
    return tuple(method.upper() for method in methods)


def read_upstreams(
    root: Reader, env: Mapping[str, str]
) -> tuple[tuple[UpstreamSettings, ...], set[str]]:
    node = root.child("upstreams")
    upstreams: list[UpstreamSettings] = []
    disabled: set[str] = set()
    for name in list(node.node):
        item = node.child(str(name))
        gate = item.optional_string("enabled_when_set")
        if gate is not None and not env.get(gate, ""):
            # Switched off by an unset variable: its values need not be valid.
            item.seen.update(("url", "connect_timeout_seconds", "read_timeout_seconds"))
            item.finish()
            disabled.add(str(name))
            continue
        upstream = _read_upstream(item, str(name))
        if upstream is not None:
            upstreams.append(upstream)
    node.seen.update(str(name) for name in node.node)
    return tuple(upstreams), disabled


def _read_upstream(item: Reader, name: str) -> UpstreamSettings | None:
    raw_url = item.string("url", "")
    connect = item.number("connect_timeout_seconds", 5.0)
    read = item.number("read_timeout_seconds", 30.0)
    item.finish()
    url = URL(raw_url)
    if url.scheme not in ("http", "https") or not url.host or url.query_string or url.fragment:
        item.problems.add(item.at("url"), f"expected an http(s) URL, got {raw_url!r}")
        return None
    return UpstreamSettings(name, str(url).rstrip("/"), connect, read)


def read_routes(root: Reader, upstreams: set[str], disabled: set[str]) -> tuple[RouteSettings, ...]:
    routes: list[RouteSettings] = []
    for path, item in root.items("routes"):
        route = _read_route(Reader(item, path, root.problems), upstreams | disabled)
        if route is not None and route.upstream not in disabled:
            routes.append(route)
    if not routes and not root.problems.items:
        root.problems.add("routes", "no routes are configured")
    return tuple(routes)


def _read_route(node: Reader, upstreams: set[str]) -> RouteSettings | None:
    upstream, respond = node.optional_string("upstream"), node.optional_string("respond")
    auth = node.string("auth", "public" if respond else "required")
    route = RouteSettings(
        name=node.string("name", node.path),
        path=node.string("path", ""),
        methods=read_methods(node, "methods", ()),
        auth=auth,
        upstream=upstream,
        respond=respond,
        bindings=_read_bindings(node),
        forward_authorization=node.boolean("forward_authorization", auth == "public"),
    )
    node.finish()
    problems = len(node.problems.items)
    _check_route(node, route, upstreams)
    return route if len(node.problems.items) == problems else None


def _read_bindings(node: Reader) -> tuple[tuple[str, str], ...]:
    bindings = node.child("bindings")
    result: list[tuple[str, str]] = []
    for param in list(bindings.node):
        claim = bindings.string(str(param), "")
        if not claim:
            bindings.problems.add(bindings.at(str(param)), "expected a claim name or `user`")
        result.append((str(param), claim))
    return tuple(result)


def _check_route(node: Reader, route: RouteSettings, upstreams: set[str]) -> None:
    add = node.problems.add
    try:
        template = parse_template(route.path)
    except ValueError as error:
        add(node.at("path"), str(error))
        template = None
    if route.auth not in ("public", "required"):
        add(node.at("auth"), f"must be public or required, not {route.auth!r}")
    if (route.upstream is None) == (route.respond is None):
        add(node.path, "needs exactly one of `upstream` or `respond`")
    if route.upstream is not None and route.upstream not in upstreams:
        add(node.at("upstream"), f"unknown upstream {route.upstream!r}")
    if route.respond is not None and route.respond not in RESPONDERS:
        add(node.at("respond"), f"must be one of {', '.join(RESPONDERS)}")
    if route.bindings and route.auth != "required":
        add(node.at("bindings"), "bindings need `auth: required`")
    for param, _ in route.bindings:
        if template is not None and param not in template.params:
            add(f"{node.at('bindings')}.{param}", f"the path has no parameter {{{param}}}")
