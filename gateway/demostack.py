"""`make demo`: Better Auth, the backend, the gateway and the reference frontend, locally.

Sets itself up like `make run` (the same `.env`, the same children's environment), installs
auth-server/ and frontend/ from their committed lock files when node_modules is missing, builds
the frontend, starts Better Auth, the backend, the gateway (with BETTER_AUTH_URL) and the
frontend's own origin, waits until all answer, then prints the URL to open. Ctrl-C (or SIGTERM)
stops the frontend, the gateway, the backend and Better Auth, in that order.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Mapping
from pathlib import Path

from gateway.devstack import (
    StackError,
    check_port_free,
    cli_main,
    ensure_env_file,
    stack_env,
    start,
    supervise,
    wait_ready,
)
from gateway.envfile import read_env_file

ROOT = Path(__file__).resolve().parent.parent
AUTH_SERVER_DIR = ROOT / "auth-server"
FRONTEND_DIR = ROOT / "frontend"
PORTS = ("FRONTEND_PORT", "AUTH_PORT", "BACKEND_PORT", "GATEWAY_PORT")


def demo_env(file_values: Mapping[str, str], environ: Mapping[str, str]) -> dict[str, str]:
    """`make run`'s environment plus Better Auth and the frontend, each on its own origin."""
    env = stack_env(file_values, environ)
    env.setdefault("FRONTEND_PORT", "3000")
    env.setdefault("AUTH_PORT", "3001")
    env.setdefault("BETTER_AUTH_URL", f"http://127.0.0.1:{env['AUTH_PORT']}")
    # localhost for the page and the gateway: other origins, one site, so the browser sends
    # Better Auth's SameSite=Lax session cookie to the gateway.
    env.setdefault("FRONTEND_URL", f"http://localhost:{env['FRONTEND_PORT']}")
    env.setdefault("GATEWAY_PUBLIC_URL", f"http://localhost:{env['GATEWAY_PORT']}")
    env.setdefault("CORS_ALLOW_ORIGINS", env["FRONTEND_URL"])
    env.setdefault("TRUSTED_ORIGINS", env["FRONTEND_URL"])
    return env


def npm_install_and_build() -> None:
    npm = shutil.which("npm")
    if shutil.which("node") is None or npm is None:
        raise StackError("Node.js 20 or later (node and npm) is required for make demo")
    for directory in (AUTH_SERVER_DIR, FRONTEND_DIR):
        if not (directory / "node_modules").is_dir():
            print(f"make demo: npm ci in {directory.name}/", flush=True)
            run_npm(npm, directory, "ci", "--no-audit", "--no-fund")
    run_npm(npm, FRONTEND_DIR, "run", "--silent", "build")


def run_npm(npm: str, directory: Path, *args: str) -> None:
    result = subprocess.run([npm, *args], cwd=directory, check=False)  # noqa: S603
    if result.returncode != 0:
        raise StackError(f"npm {' '.join(args)} failed in {directory.name}/")


def start_node(directory: Path, env: Mapping[str, str]) -> subprocess.Popen[bytes]:
    script = "server.mjs" if directory == AUTH_SERVER_DIR else "serve.mjs"
    node = shutil.which("node") or "node"
    return subprocess.Popen(  # noqa: S603 - our own script
        [node, script], cwd=directory, env=dict(env), start_new_session=True
    )


def start_all(env: dict[str, str], config: Path) -> dict[str, subprocess.Popen[bytes]]:
    """The children in the order `stop` ends them: what a browser reaches first, first."""
    auth = start_node(AUTH_SERVER_DIR, {**env, "PORT": env["AUTH_PORT"]})
    backend = start(["-m", "backend"], env)
    gateway = start(["-m", "gateway", "--config", str(config)], env)
    frontend_env = {**env, "PORT": env["FRONTEND_PORT"], "GATEWAY_URL": env["GATEWAY_PUBLIC_URL"]}
    frontend = start_node(FRONTEND_DIR, frontend_env)
    return {"frontend": frontend, "gateway": gateway, "backend": backend, "Better Auth": auth}


def announce(env: Mapping[str, str]) -> None:
    print(
        f"\nDemo ready: open {env['FRONTEND_URL']}\n"
        f"  the page calls only the gateway at {env['GATEWAY_PUBLIC_URL']}; it forwards\n"
        f"  /api/auth/* to Better Auth ({env['BETTER_AUTH_URL']}, users kept in memory)\n"
        "  and /api/{user_id}/tasks to the backend (SQLite).\n"
        "Ctrl-C stops everything.\n",
        flush=True,
    )


def run(env_file: Path, config: Path) -> int:
    if ensure_env_file(env_file):
        print(f"make demo: no {env_file}; wrote one with random development secrets", flush=True)
    env = demo_env(read_env_file(env_file), os.environ)
    for name in PORTS:
        check_port_free(name, env[name])
    npm_install_and_build()
    children: dict[str, subprocess.Popen[bytes]] = {}

    def up() -> None:
        children.update(start_all(env, config))
        wait_ready(f"http://127.0.0.1:{env['GATEWAY_PORT']}/readyz", children)
        wait_ready(f"http://127.0.0.1:{env['FRONTEND_PORT']}/", children)
        announce(env)

    stopping = "stopping the frontend, the gateway, the backend and Better Auth"
    return supervise("make demo", stopping, children, up)


def main(argv: list[str] | None = None) -> int:
    return cli_main("make demo", "python -m gateway.demostack", __doc__, run, argv)


if __name__ == "__main__":
    sys.exit(main())
