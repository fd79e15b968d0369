"""`.env` files: `NAME=value` lines under the process environment, as docker compose and
python-dotenv read them (a variable already set always wins)."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

DEFAULT_ENV_FILE = Path(".env")


def read_env_file(path: Path) -> dict[str, str]:
    """`NAME=value` lines; comments, blank lines and empty values are skipped."""
    values: dict[str, str] = {}
    for raw in path.read_text(encoding="utf-8").splitlines():
        line = raw.strip()
        if not line or line.startswith("#") or "=" not in line:
            continue
        name, _, value = line.removeprefix("export ").partition("=")
        value = value.strip()
        if len(value) >= 2 and value[0] == value[-1] and value[0] in "'\"":
            value = value[1:-1]
        if value:
            values[name.strip()] = value
    return values


def with_env_file(environ: Mapping[str, str], path: Path | None) -> dict[str, str]:
    """`environ` with the file's variables added where `environ` has none. A missing default
    `.env` is no error (most deployments have none); a missing file named explicitly is."""
    if path is None:
        return dict(environ)
    if path == DEFAULT_ENV_FILE and not path.exists():
        return dict(environ)
    return {**read_env_file(path), **environ}
