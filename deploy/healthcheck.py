"""Container health probe: `python healthcheck.py PORT_VARIABLE PATH`.

Exits 0 when http://127.0.0.1:<$PORT_VARIABLE>/<PATH> answers 2xx within two seconds, else 1.
The port comes from the service's own environment variable, so a healthcheck never hard-codes a
port that an operator may change. Standard library only: both images run it.
"""

from __future__ import annotations

import os
import sys
import urllib.request

DEFAULT_PORTS = {"GATEWAY_PORT": "8080", "BACKEND_PORT": "8000"}
TIMEOUT_SECONDS = 2.0


def probe_url(port_variable: str, path: str) -> str:
    port = os.environ.get(port_variable) or DEFAULT_PORTS.get(port_variable, "")
    if not port.isdigit():
        raise ValueError(f"{port_variable} is not a port number")
    return f"http://127.0.0.1:{port}/{path.lstrip('/')}"


def main(argv: list[str]) -> int:
    if len(argv) != 2:
        print("usage: healthcheck.py PORT_VARIABLE PATH", file=sys.stderr)
        return 1
    try:
        url = probe_url(*argv)
        with urllib.request.urlopen(url, timeout=TIMEOUT_SECONDS) as answer:  # noqa: S310
            return 0 if 200 <= answer.status < 300 else 1
    except (OSError, ValueError) as problem:  # URLError and HTTPError are OSErrors
        print(f"unhealthy: {problem}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
