"""`python -m backend`: configured by the environment only."""

from __future__ import annotations

import os
import sys

from backend.config import BackendSettings, ConfigError
from backend.serve import run
from service_plumbing.logs import configure_logging


def main() -> int:
    try:
        settings = BackendSettings.from_env(os.environ)
    except ConfigError as error:
        print(f"backend: refusing to start: {error}", file=sys.stderr)
        return 2
    configure_logging(settings.log_level)
    run(settings)
    return 0


if __name__ == "__main__":
    sys.exit(main())
