"""`python -m gateway --config gateway.yaml [--check] [--workers N]`, `... mint-token` and
`... probe-backend URL`.

Serving and mint-token read `.env` in the working directory (or `--env-file`) for variables not
already set, so the commands work as written in a checkout that `make run` set up."""

from __future__ import annotations

import argparse
import os
import sys
import time
from collections.abc import Mapping, Sequence
from importlib import metadata
from pathlib import Path

from gateway.auth.settings import TOKEN_SECRET_ENV
from gateway.config import ConfigError, load_settings_file
from gateway.envfile import DEFAULT_ENV_FILE, with_env_file
from gateway.metrics import metrics_listen, start_metrics_listener
from gateway.tokens import mint_token
from gateway.yamlenv import secret_from_env
from service_plumbing.log_output import BatchedLines
from service_plumbing.logs import configure_logging


def main(argv: Sequence[str], env: Mapping[str, str]) -> int:
    if argv and argv[0] == "mint-token":
        return _mint(argv[1:], env)
    if argv and argv[0] == "probe-backend":
        from gateway import probe

        return probe.main(argv[1:], env)
    args = _serve_parser().parse_args(argv)
    loaded = _load_env(env, args.env_file)
    if loaded is None:
        return 1
    env = loaded
    try:
        settings = load_settings_file(Path(args.config), env)
    except ConfigError as error:
        print(f"{args.config}: invalid configuration", file=sys.stderr)
        for problem in error.problems:
            print(f"  {problem}", file=sys.stderr)
        return 1
    try:
        metrics_at = metrics_listen(settings.listen.host, settings.listen.port, env)
    except ValueError as error:
        print(f"{args.config}: invalid configuration\n  {error}", file=sys.stderr)
        return 1
    if args.check:
        print(f"{args.config}: ok")
        return 0
    if args.workers > 1 and not args.worker:
        from gateway.workers import run_workers

        configure_logging(settings.log_level)  # the parent's few lines go out at once
        return run_workers(argv, args.workers, metrics_at=metrics_at)
    from gateway import serve

    output = BatchedLines(sys.stdout.buffer)
    configure_logging(settings.log_level, batched=output)
    if metrics_at is not None and not args.worker:  # a worker's parent serves the sum
        start_metrics_listener(*metrics_at)
    try:
        config = Path(args.config)
        serve.run(settings, reuse_port=args.worker, reread=lambda: load_settings_file(config, env))
    except OSError as error:  # e.g. the port is taken: one line, not a traceback
        listen = settings.listen
        print(f"cannot listen on {listen.host}:{listen.port}: {error.strerror}", file=sys.stderr)
        return 1
    finally:
        output.flush()  # what is still pending when the server stops, or fails
    return 0


def _serve_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m gateway", description=__doc__)
    parser.add_argument("--config", default="gateway.yaml", help="path of gateway.yaml")
    parser.add_argument("--check", action="store_true", help="validate config and env, exit")
    parser.add_argument("--workers", type=_positive, default=1, help="processes (SO_REUSEPORT)")
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--version", action="version", version=f"%(prog)s {_version()}")
    _add_env_file(parser)
    return parser


def _version() -> str:
    try:
        return metadata.version("todo-identity-gateway")
    except metadata.PackageNotFoundError:  # run from a source tree that was never installed
        return "unknown"


def _add_env_file(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--env-file",
        type=lambda text: Path(text) if text else None,
        default=DEFAULT_ENV_FILE,
        help="NAME=value lines for variables not already set (default .env; '' for none)",
    )


def _mint(argv: Sequence[str], env: Mapping[str, str]) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m gateway mint-token",
        description=f"Print a development HS256 token signed with {TOKEN_SECRET_ENV}.",
    )
    parser.add_argument("--sub", required=True, help="the user id (sub claim)")
    parser.add_argument("--ttl", type=_positive, default=3600, help="lifetime in seconds")
    parser.add_argument("--iss", help="an iss claim, when the config requires one")
    parser.add_argument("--aud", help="an aud claim, when the config requires one")
    _add_env_file(parser)
    args = parser.parse_args(argv)
    loaded = _load_env(env, args.env_file)
    if loaded is None:
        return 1
    env = loaded
    try:
        secret = secret_from_env(env, TOKEN_SECRET_ENV)
    except ValueError as error:
        print(error, file=sys.stderr)
        return 1
    now = int(time.time())
    print(
        mint_token(
            secret, args.sub, ttl_seconds=args.ttl, now=now, issuer=args.iss, audience=args.aud
        )
    )
    return 0


def _load_env(env: Mapping[str, str], path: Path | None) -> dict[str, str] | None:
    try:
        return with_env_file(env, path)
    except (OSError, UnicodeDecodeError) as error:
        print(f"{path}: cannot read ({type(error).__name__})", file=sys.stderr)
        return None


def _positive(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError("must be at least 1")
    return value


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:], os.environ))
