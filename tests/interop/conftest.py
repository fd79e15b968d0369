"""A real Better Auth server (Node.js, auth-server/) with the gateway in front."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.integration.node_servers import BetterAuth
from tests.integration.node_servers import start_better_auth as start_any_better_auth
from tests.integration.processes import Stack

FRONTEND_ORIGIN = "http://localhost:3000"


def start_better_auth(alg: str, resources: ExitStack, log: Path) -> BetterAuth:
    return start_any_better_auth(alg, resources, log, trusted_origins=FRONTEND_ORIGIN)


@dataclass(frozen=True)
class Deployment:
    better_auth: BetterAuth
    gateway_url: str


@pytest.fixture(
    scope="package",
    # EdDSA is the jwt plugin's default: that server gets no key options at all.
    params=["EdDSA", "ES256", "RS256"],
)
def deployment(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Deployment]:
    workdir = tmp_path_factory.mktemp(f"interop-{request.param}")
    with ExitStack() as resources:
        better_auth = start_better_auth(request.param, resources, workdir / "better-auth.log")
        stack = Stack(
            workdir,
            database_url=f"sqlite:///{workdir / 'todo.db'}",
            auth_env={"BETTER_AUTH_URL": better_auth.url},
        )
        resources.callback(stack.stop)
        stack.start()
        yield Deployment(better_auth=better_auth, gateway_url=stack.gateway_url)
