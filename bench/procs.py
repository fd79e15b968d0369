"""Child processes of the benchmark: start pinned, wait until ready, read CPU and RSS from /proc."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import NamedTuple

CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


class Processes:
    """Every child the benchmark starts; `close()` stops them all (SIGTERM, then SIGKILL)."""

    def __init__(self, log_dir: Path) -> None:
        self.log_dir = log_dir
        self._children: list[tuple[str, subprocess.Popen[bytes]]] = []

    def start(
        self,
        name: str,
        argv: Sequence[str],
        *,
        cpu: str,
        env: Mapping[str, str] | None = None,
        quiet_stdout: bool = True,
    ) -> subprocess.Popen[bytes]:
        """Start `argv` pinned to `cpu`; stderr (and stdout unless quiet) go to `<name>.log`."""
        log = (self.log_dir / f"{name}.log").open("ab")
        stdout = subprocess.DEVNULL if quiet_stdout else log
        child_env = {**os.environ, **(env or {})}
        proc = subprocess.Popen(
            ["taskset", "-c", cpu, *argv],
            stdin=subprocess.DEVNULL,
            stdout=stdout,
            stderr=log,
            env=child_env,
        )
        log.close()
        self._children.append((name, proc))
        return proc

    def stop(self, proc: subprocess.Popen[bytes], timeout: float = 10.0) -> None:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout)
        self._children = [(n, p) for n, p in self._children if p is not proc]

    def stop_pid(self, pid: int, timeout: float = 10.0) -> None:
        """`stop` for a child known by its pid (what a `stack.Service` keeps)."""
        for _, proc in self._children:
            if proc.pid == pid:
                self.stop(proc, timeout)
                return

    def close(self) -> None:
        for _, proc in reversed(self._children):
            with contextlib.suppress(OSError):
                proc.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + 10.0
        for _, proc in reversed(self._children):
            try:
                proc.wait(max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(5.0)
        self._children.clear()


def wait_ready(
    url: str,
    proc: subprocess.Popen[bytes],
    *,
    timeout: float = 30.0,
    headers: Mapping[str, str] | None = None,
) -> None:
    """Poll `url` until it answers 200; fail early when the process has died."""
    deadline = time.monotonic() + timeout
    last_error = "no answer"
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(
                f"{proc.args!r} exited with {proc.returncode} before {url} was ready"
            )
        try:
            status, _ = http_get(url, headers=headers)
        except OSError as error:
            last_error = str(error)
        else:
            if status == 200:
                return
            last_error = f"status {status}"
        time.sleep(0.1)
    raise RuntimeError(f"{url} not ready after {timeout:.0f} s: {last_error}")


def http_get(
    url: str, *, headers: Mapping[str, str] | None = None, data: bytes | None = None
) -> tuple[int, bytes]:
    """One loopback request; any HTTP status is returned, not raised."""
    request = urllib.request.Request(url, headers=dict(headers or {}), data=data)  # noqa: S310
    try:
        with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310
            return int(response.status), bytes(response.read())
    except urllib.error.HTTPError as error:
        return int(error.code), bytes(error.read())


def pin(pid: int, cpu: str) -> None:
    """Move a running process and all its threads (and children) to `cpu`."""
    for member in process_tree(pid):
        subprocess.run(
            ["taskset", "-a", "-p", "-c", cpu, str(member)],
            check=True,
            stdout=subprocess.DEVNULL,
        )


def process_tree(pid: int) -> list[int]:
    """`pid` and its live descendants (workers forked by a master, say)."""
    tree = [pid]
    for member in tree:
        tree.extend(_children(member))
    return tree


def _children(pid: int) -> list[int]:
    found: list[int] = []
    with contextlib.suppress(OSError):
        for task in Path(f"/proc/{pid}/task").iterdir():
            with contextlib.suppress(OSError):
                found.extend(int(c) for c in (task / "children").read_text().split())
    return found


class CpuTimes(NamedTuple):
    """utime and stime, in seconds: time in user space and in the kernel on the process's behalf."""

    user: float
    system: float

    @property
    def total(self) -> float:
        return self.user + self.system


def stat_ticks(stat: str) -> tuple[int, int]:
    """utime and stime, in clock ticks, from the text of `/proc/<pid>/stat`."""
    # Fields after the parenthesised command name; utime and stime are fields 14 and 15.
    fields = stat[stat.rindex(")") + 2 :].split()
    return int(fields[11]), int(fields[12])


def cpu_times(pid: int) -> CpuTimes:
    """utime and stime of `pid` and its live descendants, kept apart."""
    user = system = 0
    for member in process_tree(pid):
        with contextlib.suppress(OSError):
            member_user, member_system = stat_ticks(Path(f"/proc/{member}/stat").read_text())
            user += member_user
            system += member_system
    return CpuTimes(user / CLOCK_TICKS, system / CLOCK_TICKS)


def cpu_seconds(pid: int) -> float:
    """utime + stime of `pid` and its live descendants, in seconds."""
    return cpu_times(pid).total


def rss_kib(pid: int) -> int:
    """Resident set size (VmRSS) of `pid` and its live descendants, in KiB."""
    total = 0
    for member in process_tree(pid):
        with contextlib.suppress(OSError):
            for line in Path(f"/proc/{member}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1])
    return total
