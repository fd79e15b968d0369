"""A real PostgreSQL cluster in a temp dir on a free port, which a test may stop and start.

The machine's shared cluster is never touched: other work uses it at the same time.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import tempfile
from pathlib import Path

BIN = Path("/usr/lib/postgresql/15/bin")


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def _as_postgres(*command: str) -> None:
    # initdb refuses to run as root, so the cluster belongs to the `postgres` OS user.
    prefix = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []
    subprocess.run([*prefix, *command], check=True, capture_output=True, timeout=120)


class ThrowawayPostgres:
    def __init__(self) -> None:
        self.root = Path(tempfile.mkdtemp(prefix="backend-pg-"))
        self.data = self.root / "data"
        self.port = _free_port()
        if os.geteuid() == 0:
            shutil.chown(self.root, "postgres", "postgres")
        _as_postgres(
            str(BIN / "initdb"), "-D", str(self.data), "-U", "postgres", "-A", "trust", "--no-sync"
        )

    @property
    def url(self) -> str:
        return f"postgresql+asyncpg://postgres@127.0.0.1:{self.port}/postgres"

    def start(self, *, extra_options: str = "", wait: bool = True) -> None:
        options = f"-p {self.port} -k {self.root} -c listen_addresses=127.0.0.1 -c fsync=off"
        _as_postgres(
            str(BIN / "pg_ctl"),
            "-D",
            str(self.data),
            "-o",
            f"{options} {extra_options}",
            "-l",
            str(self.root / "log"),
            "-w" if wait else "-W",
            "start",
        )

    def start_still_recovering(self) -> None:
        """Start as a standby with no primary and hot standby off: it stays in recovery and
        refuses every session with 57P03, as a server that is starting up does."""
        (self.data / "standby.signal").touch()
        if os.geteuid() == 0:
            shutil.chown(self.data / "standby.signal", "postgres", "postgres")
        self.start(extra_options="-c hot_standby=off", wait=False)

    def leave_recovery(self) -> None:
        self.stop()
        (self.data / "standby.signal").unlink()
        self.start()

    def begin_smart_shutdown(self) -> None:
        """Stop accepting new sessions (57P03) while the open ones carry on; returns at once."""
        _as_postgres(str(BIN / "pg_ctl"), "-D", str(self.data), "-m", "smart", "-W", "stop")

    def stop(self, mode: str = "immediate") -> None:
        _as_postgres(str(BIN / "pg_ctl"), "-D", str(self.data), "-m", mode, "-w", "stop")

    def remove(self) -> None:
        if (self.data / "postmaster.pid").exists():
            try:
                self.stop()
            except subprocess.CalledProcessError:
                # A smart shutdown a test began can end between the check and the signal.
                if (self.data / "postmaster.pid").exists():
                    raise
        shutil.rmtree(self.root, ignore_errors=True)
