"""Where the gateway spends its CPU under load: py-spy samples, folded into hot-spot tables."""

from __future__ import annotations

import collections
import re
import shutil
import subprocess
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from bench import wrk

_FRAME = re.compile(r"^(?P<func>.*?) \((?P<file>[^()]*)\)$")
# Leaf frames grouped by where their code lives, to say which layer costs what.
_LAYERS = (
    ("gateway", ("gateway/",)),
    ("PyJWT / cryptography", ("jwt/", "cryptography/")),
    ("structlog / logging", ("structlog/", "logging/", "orjson")),
    ("aiohttp client", ("aiohttp/client", "aiohttp/connector")),
    ("aiohttp server / http", ("aiohttp/",)),
    ("yarl / multidict", ("yarl/", "multidict/")),
    ("asyncio / uvloop", ("asyncio/", "uvloop/")),
)


@dataclass(frozen=True, slots=True)
class Profile:
    label: str
    samples: int
    self_top: list[tuple[str, float]]
    inclusive_top: list[tuple[str, float]]
    layers: list[tuple[str, float]]
    raw: Path | None


def py_spy() -> str | None:
    local = Path(sys.executable).parent / "py-spy"
    return str(local) if local.exists() else shutil.which("py-spy")


def record(
    pid: int, spec: wrk.WrkRun, *, load_cpu: str, out: Path, label: str, rate: int = 200
) -> tuple[Profile, wrk.WrkResult]:
    """Sample `pid` with py-spy (folded stacks) while wrk drives it."""
    binary = py_spy()
    if binary is None:
        raise RuntimeError("py-spy is not installed (pip install -e '.[dev]')")
    slug = re.sub(r"[^a-z0-9]+", "-", label.lower()).strip("-")
    raw = out / f"profile-{slug}.txt"
    seconds = max(1, int(spec.duration_s) - 1)
    argv = [binary, "record", "--pid", str(pid), "--rate", str(rate), "--duration", str(seconds)]
    argv += ["--nonblocking", "--nolineno", "--format", "raw", "--output", str(raw)]
    spy = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        result = wrk.run(spec, cpu=load_cpu, log=out / "wrk.log")
    finally:
        _, err = spy.communicate(timeout=spec.duration_s + 60)
    if spy.returncode != 0 or not raw.exists():
        raise RuntimeError(f"py-spy failed: {err.decode(errors='replace').strip()}")
    return fold(label, raw.read_text().splitlines(), raw), result


def _short(frame: str) -> str:
    match = _FRAME.match(frame)
    if match is None:
        return frame
    return f"{match['func']} ({match['file'].removesuffix('.py')})"


def _layer(frame: str) -> str:
    for name, markers in _LAYERS:
        if any(marker in frame for marker in markers):
            return name
    return "other"


def fold(label: str, lines: Sequence[str], raw: Path | None = None, top: int = 15) -> Profile:
    """Self and inclusive shares per function, and self shares per layer, from folded stacks."""
    own: collections.Counter[str] = collections.Counter()
    inclusive: collections.Counter[str] = collections.Counter()
    layers: collections.Counter[str] = collections.Counter()
    total = 0
    for line in lines:
        stack, _, count_text = line.rpartition(" ")
        if not stack or not count_text.isdigit():
            continue
        count = int(count_text)
        frames = [_short(f) for f in stack.split(";") if f]
        if not frames:
            continue
        total += count
        own[frames[-1]] += count
        layers[_layer(stack.split(";")[-1])] += count
        for frame in set(frames):
            inclusive[frame] += count

    def shares(counter: collections.Counter[str], limit: int) -> list[tuple[str, float]]:
        return (
            [(name, 100.0 * n / total) for name, n in counter.most_common(limit)] if total else []
        )

    return Profile(
        label, total, shares(own, top), shares(inclusive, top * 2), shares(layers, 10), raw
    )


def markdown(profile: Profile) -> str:
    lines = [
        f"#### {profile.label} ({profile.samples:,} samples, non-idle)",
        "",
        f"Folded stacks: `{profile.raw}`." if profile.raw else "",
        "",
        "| self % | function (leaf) |",
        "|---:|---|",
    ]
    lines += [f"| {share:.1f} | `{name}` |" for name, share in profile.self_top]
    lines += ["", "| self % | layer |", "|---:|---|"]
    lines += [f"| {share:.1f} | {name} |" for name, share in profile.layers]
    lines += ["", "| inclusive % | function (on the stack) |", "|---:|---|"]
    lines += [f"| {share:.1f} | `{name}` |" for name, share in profile.inclusive_top]
    return "\n".join(lines)
