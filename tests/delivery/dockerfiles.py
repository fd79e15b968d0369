"""Reading a Dockerfile the way docker does, enough for the delivery tests."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def dockerfile_stages(path: Path = ROOT / "Dockerfile") -> dict[str, list[str]]:
    """Instructions of each stage (named by `AS`, else by its image), continuation lines joined."""
    text = path.read_text().replace("\\\n", " ")
    stages: dict[str, list[str]] = {}
    current: list[str] = []
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        stage = re.fullmatch(r"FROM\s+(\S+)(?:\s+AS\s+(\S+))?", line, flags=re.IGNORECASE)
        if stage:
            current = stages.setdefault(stage[2] or stage[1], [])
        current.append(line)
    return stages


def copied_sources(stage: list[str]) -> list[str]:
    """What the stage's COPY instructions take from the build context."""
    return [
        source
        for line in stage
        if line.startswith("COPY ") and "--from" not in line
        for source in line.split()[1:-1]
    ]
