"""`make run`: the backend and the gateway on SQLite, for local development.

Writes a `.env` with random development secrets when there is none (and says so), loads it
(variables already in the environment win), starts `python -m backend` and
`python -m gateway --config gateway.yaml`, waits for the gateway's /readyz, then prints the URL
and a `curl` line with a development token that it has just tried itself. Ctrl-C (or SIGTERM)
stops the gateway first, then the backend.
"""

from __future__ import annotations

import argparse
import os
import secrets
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Mapping
from pathlib import Path

from gateway.envfile import read_env_file

READY_TIMEOUT_SECONDS = 60.0
STOP_TIMEOUT_SECONDS = 15.0
GENERATED_SECRETS = ("BETTER_AUTH_SECRET", "GATEWAY_IDENTITY_SECRET", "POSTGRES_PASSWORD")
DEMO_USER = "alice"


class StackError(Exception):
    """The stack cannot start; the message says what to do."""


def ensure_env_file(path: Path) -> bool:
    """Write `path` with fresh random secrets unless it exists; return whether it was written."""
    if path.exists():
        return False
    lines = ["# Development secrets written by `make run`. Never commit this file."]
    lines += [f"{name}={secrets.token_urlsafe(48)}" for name in GENERATED_SECRETS]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    path.chmod(0o600)
    return True


def stack_env(file_values: Mapping[str, str], environ: Mapping[str, str]) -> dict[str, str]:
    """The children's environment: .env under the process environment, SQLite by default."""
    env = {**file_values, **environ}
    env.setdefault("BACKEND_PORT", "8000")
    env.setdefault("GATEWAY_PORT", "8080")
    # A development stack with development secrets stays on this machine unless asked.
    env.setdefault("GATEWAY_HOST", "127.0.0.1")
    env.setdefault("BACKEND_URL", f"http://127.0.0.1:{env['BACKEND_PORT']}")
    env.setdefault("LOG_LEVEL", "info")
    return env


def check_port_free(name: str, port: str) -> None:
    """Bind as the server will (SO_REUSEADDR, as asyncio's create_server does on POSIX), so
    connections in TIME_WAIT from the last run do not count as the port being in use."""
    with socket.socket() as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind(("127.0.0.1", int(port)))
        except OSError:
            raise StackError(f"port {port} is in use; set {name} to a free port") from None


def start(args: list[str], env: Mapping[str, str]) -> subprocess.Popen[bytes]:
    # A session of its own: Ctrl-C reaches only us, and we stop the children in order.
    command = [sys.executable, *args]
    return subprocess.Popen(command, env=dict(env), start_new_session=True)  # noqa: S603


def wait_ready(url: str, children: dict[str, subprocess.Popen[bytes]]) -> None:
    deadline = time.monotonic() + READY_TIMEOUT_SECONDS
    last = "no answer"
    while time.monotonic() < deadline:
        for name, child in children.items():
            if child.poll() is not None:
                raise StackError(f"the {name} exited early (see its output above)")
        try:
            with urllib.request.urlopen(url, timeout=2):  # noqa: S310 - our own loopback URL
                return
        except urllib.error.HTTPError as error:
            # /readyz says which check fails, e.g. no keys yet from BETTER_AUTH_URL.
            last = f"{error.code} {error.read(2000).decode(errors='replace')}"
        except (urllib.error.URLError, OSError):
            pass
        time.sleep(0.2)
    raise StackError(f"{url} not ready after {READY_TIMEOUT_SECONDS:.0f} s; last: {last}")


def mint_token(env: Mapping[str, str]) -> str:
    result = subprocess.run(  # noqa: S603 - our own interpreter and module
        [sys.executable, "-m", "gateway", "mint-token", "--sub", DEMO_USER],
        env=dict(env),
        capture_output=True,
        text=True,
        check=False,
    )
    if result.returncode != 0 or not result.stdout.strip():
        raise StackError(f"mint-token failed: {result.stderr.strip()}")
    return result.stdout.strip().splitlines()[-1]


def try_request(url: str, token: str) -> int:
    headers = {"Authorization": f"Bearer {token}"}
    request = urllib.request.Request(url, headers=headers)  # noqa: S310 - our loopback URL
    try:
        with urllib.request.urlopen(request, timeout=5) as response:  # noqa: S310 - loopback
            status: int = response.status
    except urllib.error.HTTPError as error:
        status = error.code
    return status


def stop(children: dict[str, subprocess.Popen[bytes]]) -> None:
    for child in children.values():  # gateway first, so no request reaches a stopped backend
        if child.poll() is None:
            child.send_signal(signal.SIGTERM)
        try:
            child.wait(timeout=STOP_TIMEOUT_SECONDS)
        except subprocess.TimeoutExpired:
            child.kill()
            child.wait()


def announce(gateway_url: str, token: str) -> None:
    tasks = f"{gateway_url}/api/{DEMO_USER}/tasks"
    print(
        f"\nGateway ready: {gateway_url}  (backend on SQLite behind it)\n"
        f"Try it (a development token for '{DEMO_USER}', valid for an hour):\n\n"
        f"  curl -H 'Authorization: Bearer {token}' {tasks}\n\n"
        f"  curl -H 'Authorization: Bearer {token}' -H 'Content-Type: application/json' "
        f"""-d '{{"title": "Try the gateway"}}' {tasks}\n\n"""
        "Another user's token:\n"
        "  .venv/bin/python -m gateway mint-token --sub bob\n"
        "Ctrl-C stops both services.\n",
        flush=True,
    )


def run(env_file: Path, config: Path) -> int:
    if ensure_env_file(env_file):
        print(f"make run: no {env_file}; wrote one with random development secrets", flush=True)
    env = stack_env(read_env_file(env_file), os.environ)
    check_port_free("BACKEND_PORT", env["BACKEND_PORT"])
    check_port_free("GATEWAY_PORT", env["GATEWAY_PORT"])
    gateway_url = f"http://127.0.0.1:{env['GATEWAY_PORT']}"
    backend = start(["-m", "backend"], env)
    children = {"gateway": start(["-m", "gateway", "--config", str(config)], env)}
    children["backend"] = backend

    def up() -> None:
        wait_ready(f"{gateway_url}/readyz", children)
        token = mint_token(env)
        status = try_request(f"{gateway_url}/api/{DEMO_USER}/tasks", token)
        if status != 200:
            raise StackError(f"the demo request answered {status}, expected 200")
        announce(gateway_url, token)

    return supervise("make run", "stopping the gateway and the backend", children, up)


def supervise(
    command: str,
    stopping: str,
    children: dict[str, subprocess.Popen[bytes]],
    up: Callable[[], None],
) -> int:
    """`up()` (start what is missing, wait until ready, announce), then wait for Ctrl-C,
    SIGTERM or a child's exit; every child in `children` is stopped however this ends."""
    for signum in (signal.SIGTERM, signal.SIGHUP):  # a closed terminal must not orphan them
        signal.signal(signum, signal.default_int_handler)
    try:
        up()
        while all(child.poll() is None for child in children.values()):
            time.sleep(0.5)
        print(f"{command}: a service exited; stopping the others", file=sys.stderr)
        return 1
    except StackError as error:
        print(f"{command}: {error}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print(f"\n{command}: {stopping}", flush=True)
        return 0
    finally:
        stop(children)


def cli_main(
    command: str,
    prog: str,
    description: str | None,
    run: Callable[[Path, Path], int],
    argv: list[str] | None,
) -> int:
    """The `--env-file` / `--config` command line shared by `make run` and `make demo`."""
    parser = argparse.ArgumentParser(prog=prog, description=description)
    parser.add_argument("--env-file", type=Path, default=Path(".env"))
    parser.add_argument("--config", type=Path, default=Path("gateway.yaml"))
    options = parser.parse_args(argv)
    try:
        return run(options.env_file, options.config)
    except StackError as error:
        print(f"{command}: {error}", file=sys.stderr)
        return 1


def main(argv: list[str] | None = None) -> int:
    return cli_main("make run", "python -m gateway.devstack", __doc__, run, argv)


if __name__ == "__main__":
    sys.exit(main())
