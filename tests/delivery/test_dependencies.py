"""Each service installs only what it runs: the pyproject extras, their lock files, the images.

`make lock` writes requirements/{dev,gateway,backend}.txt from pyproject.toml. These tests fail
when a dependency was added or changed without re-locking, when a service's lock pulls in the
other service's drivers, or when an image installs anything but its own lock and packages.
"""

from __future__ import annotations

import ast
import re
import sys
import tomllib
from importlib.metadata import packages_distributions
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.utils import NormalizedName, canonicalize_name
from packaging.version import Version

from tests.delivery.dockerfiles import copied_sources, dockerfile_stages

ROOT = Path(__file__).resolve().parents[2]
LOCKS = ROOT / "requirements"
PROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
# What each image must never carry: the other service's drivers and parsers.
FORBIDDEN = {
    "gateway": {"sqlalchemy", "asyncpg", "aiosqlite", "greenlet"},
    "backend": {"pyjwt", "cryptography", "httptools", "pyyaml"},
}
_PIN = re.compile(r"^(?P<name>[A-Za-z0-9][A-Za-z0-9._-]*)==(?P<version>\S+)")


def read_lock(name: str) -> dict[NormalizedName, Version]:
    pins: dict[NormalizedName, Version] = {}
    for line in (LOCKS / f"{name}.txt").read_text().splitlines():
        pin = _PIN.match(line)
        if pin:
            pins[canonicalize_name(pin["name"])] = Version(pin["version"])
    return pins


def declared(*extras: str) -> list[Requirement]:
    lists = [PROJECT["dependencies"]] + [PROJECT["optional-dependencies"][e] for e in extras]
    return [Requirement(text) for entries in lists for text in entries]


LOCKED_EXTRAS = {
    "gateway": ("gateway",),
    "backend": ("backend",),
    "dev": tuple(PROJECT["optional-dependencies"]),
}


@pytest.mark.parametrize("lock", sorted(LOCKED_EXTRAS))
def test_every_declared_dependency_is_locked_within_its_range(lock: str) -> None:
    pins = read_lock(lock)
    stale = [
        str(requirement)
        for requirement in declared(*LOCKED_EXTRAS[lock])
        if canonicalize_name(requirement.name) not in pins
        or not requirement.specifier.contains(pins[canonicalize_name(requirement.name)], True)
    ]
    assert not stale, f"requirements/{lock}.txt is stale for {stale}: run `make lock`"


@pytest.mark.parametrize("service", sorted(FORBIDDEN))
def test_a_service_lock_carries_nothing_of_the_other_service(service: str) -> None:
    assert FORBIDDEN[service].isdisjoint(read_lock(service))


@pytest.mark.parametrize("service", sorted(FORBIDDEN))
def test_images_run_the_versions_the_tests_ran(service: str) -> None:
    dev = read_lock("dev")
    pins = read_lock(service)
    assert pins
    assert {name: dev.get(name) for name in pins} == pins


@pytest.mark.parametrize("lock", sorted(LOCKED_EXTRAS))
def test_every_pin_carries_a_hash(lock: str) -> None:
    entries = (LOCKS / f"{lock}.txt").read_text().replace("\\\n", " ").splitlines()
    pinned = [entry for entry in entries if _PIN.match(entry)]
    assert pinned
    assert all("--hash=sha256:" in entry for entry in pinned)


@pytest.mark.parametrize("service", sorted(FORBIDDEN))
def test_each_image_installs_its_own_lock_and_packages(service: str) -> None:
    other = ({"gateway", "backend"} - {service}).pop()
    build = dockerfile_stages()[f"{service}-build"]
    runs = [line for line in build if line.startswith("RUN ")]
    copied = set(copied_sources(build))
    assert any(
        f"-r requirements/{service}.txt" in run and "--require-hashes" in run for run in runs
    )
    assert all("--no-deps" in run for run in runs if "pip install" in run)
    assert {service, "service_plumbing", f"requirements/{service}.txt"} <= copied
    assert other not in copied
    assert f"requirements/{other}.txt" not in copied
    final = dockerfile_stages()[service]
    assert f"COPY --from={service}-build /opt/venv /opt/venv" in final


def runtime_imports(tree: ast.AST) -> set[str]:
    """Top-level names of every absolute import, except those under `if TYPE_CHECKING:`."""
    if isinstance(tree, ast.If) and getattr(tree.test, "id", None) == "TYPE_CHECKING":
        return set()
    if isinstance(tree, ast.Import):
        return {alias.name.split(".")[0] for alias in tree.names}
    if isinstance(tree, ast.ImportFrom) and tree.level == 0 and tree.module:
        return {tree.module.split(".")[0]}
    return {name for child in ast.iter_child_nodes(tree) for name in runtime_imports(child)}


@pytest.mark.parametrize("service", sorted(FORBIDDEN))
def test_each_image_holds_everything_its_code_imports(service: str) -> None:
    copied = copied_sources(dockerfile_stages()[f"{service}-build"])
    packages = [ROOT / source for source in copied if (ROOT / source / "__init__.py").exists()]
    locked = set(read_lock(service))
    available = set(sys.stdlib_module_names) | {package.name for package in packages}
    available |= {
        module
        for module, distributions in packages_distributions().items()
        if any(canonicalize_name(name) in locked for name in distributions)
    }
    missing = {
        f"{path.relative_to(ROOT)}: {name}"
        for package in packages
        for path in package.rglob("*.py")
        for name in runtime_imports(ast.parse(path.read_text()))
        if name not in available
    }
    assert not missing, sorted(missing)
