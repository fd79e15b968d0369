"""Fixtures: a running backend + gateway for each token mode and each database."""

from __future__ import annotations

import secrets
import subprocess
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path

import pytest

from tests.integration.client import Running
from tests.integration.keys import Issuer, SecretIssuer, jwks_server
from tests.integration.processes import Stack

POSTGRES = ["psql", "-h", "127.0.0.1", "-p", "5432", "-U", "postgres", "-d", "postgres"]


def psql(sql: str) -> None:
    subprocess.run([*POSTGRES, "-v", "ON_ERROR_STOP=1", "-c", sql], check=True, capture_output=True)


@contextmanager
def throwaway_database(kind: str, workdir: Path) -> Iterator[str]:
    """A DATABASE_URL: a SQLite file in `workdir`, or a fresh PostgreSQL database (dropped)."""
    if kind == "sqlite":
        yield f"sqlite:///{workdir / 'todo.db'}"
        return
    name = f"it_{secrets.token_hex(6)}"
    psql(f"CREATE DATABASE {name}")
    try:
        yield f"postgresql://postgres@127.0.0.1:5432/{name}"
    finally:
        psql(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


@contextmanager
def issuer_for(mode: str) -> Iterator[Issuer]:
    if mode == "hs256":
        yield SecretIssuer()
        return
    with jwks_server() as issuer:
        yield issuer


@pytest.fixture(
    scope="package",
    params=[
        pytest.param(("hs256", "sqlite"), id="hs256-sqlite"),
        pytest.param(("jwks", "sqlite"), id="jwks-sqlite"),
        pytest.param(("hs256", "postgres"), id="hs256-postgres", marks=pytest.mark.postgres),
        pytest.param(("jwks", "postgres"), id="jwks-postgres", marks=pytest.mark.postgres),
    ],
)
def running(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Running]:
    mode, database = request.param
    workdir = tmp_path_factory.mktemp(f"{mode}-{database}")
    with ExitStack() as resources:
        issuer = resources.enter_context(issuer_for(mode))
        url = resources.enter_context(throwaway_database(database, workdir))
        stack = Stack(workdir, database_url=url, auth_env=issuer.env)
        resources.callback(stack.stop)
        stack.start()
        yield Running(stack, issuer)
