"""`python -m backend [--check | --version | --help]`: configured by the environment only."""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Mapping, Sequence
from importlib import metadata

from backend.check import problems
from backend.config import BackendSettings, InvalidEnvironment
from backend.serve import CannotListen, run
from service_plumbing.logs import configure_logging

DISTRIBUTION = "todo-identity-gateway"
ENVIRONMENT = """environment:
  GATEWAY_IDENTITY_SECRET            secret shared with the gateway (at least 32 bytes)
  GATEWAY_IDENTITY_PREVIOUS_SECRETS  comma-separated older secrets accepted during a rotation
  DATABASE_URL                       sqlite:///<path> (default: ./todo.db) or postgresql://...
  BACKEND_HOST / BACKEND_PORT        where to listen (default 127.0.0.1:8000)
  LOG_LEVEL                          debug, info (default), warning or error"""


def main(argv: Sequence[str], env: Mapping[str, str]) -> int:
    args = _parser().parse_args(argv)
    if args.check:
        return _check(env)
    try:
        settings = BackendSettings.from_env(env)
    except InvalidEnvironment as error:
        for problem in error.problems:
            print(f"backend: refusing to start: {problem}", file=sys.stderr)
        return 2
    configure_logging(settings.log_level)
    try:
        run(settings)
    except CannotListen as error:  # one line, not a traceback
        print(f"backend: {error}", file=sys.stderr)
        return 1
    return 0


def _check(env: Mapping[str, str]) -> int:
    found = problems(env)
    for problem in found:
        print(f"backend: {problem}", file=sys.stderr)
    if found:
        return 1
    print("backend: environment ok, database usable")
    return 0


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m backend",
        description="The Spec-1 Todo API behind the identity gateway.",
        epilog=ENVIRONMENT,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "--check", action="store_true", help="validate the environment and database, then exit"
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {version()}")
    return parser


def version() -> str:
    try:
        return metadata.version(DISTRIBUTION)
    except metadata.PackageNotFoundError:  # run from a source tree that was never installed
        return "unknown"


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:], os.environ))
