"""docker-compose.yml against the Compose Specification's own JSON schema.

No compose engine runs here; its schema catches what a parse cannot: a misspelt key, a wrong
type, a setting in the wrong place. compose-spec.json is schema/compose-spec.json of
github.com/compose-spec/compose-spec at 170098ba07d9 (2026-06-23, Apache-2.0), unchanged.
"""

from __future__ import annotations

import json
from typing import Any

import jsonschema
import yaml

from tests.delivery.dockerfiles import ROOT

SCHEMA = json.loads((ROOT / "tests" / "delivery" / "compose-spec.json").read_text())


def problems(document: dict[str, Any]) -> list[str]:
    validator = jsonschema.Draft7Validator(SCHEMA)
    return [f"{list(error.path)}: {error.message}" for error in validator.iter_errors(document)]


def test_the_compose_file_follows_the_compose_specification() -> None:
    document = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    assert problems(document) == []
    document["services"]["gateway"]["cap_drops"] = ["ALL"]
    assert problems(document) == [f"['services', 'gateway']: {_unexpected('cap_drops')}"]


def _unexpected(key: str) -> str:
    return f"'{key}' does not match any of the regexes: '^x-'"
