"""The container promises, checked by reading docker-compose.yml and the Dockerfiles.

No container engine runs on our machines, so these tests read the files the way compose and
docker would and hold them to the contract: only the gateway is published, on GATEWAY_PORT; the
backend talks to the database service and the gateway to Redis; variable names are the
documented ones; secrets come from the environment; every service is hardened, bounded,
healthchecked without a hard-coded port and started in order; nothing runs as root.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from backend.config import BackendSettings
from gateway.config import load_settings_file
from tests.delivery.dockerfiles import copied_sources, dockerfile_stages

ROOT = Path(__file__).resolve().parents[2]
GATEWAY_ENV = {
    "BETTER_AUTH_SECRET",
    "BETTER_AUTH_URL",
    "GATEWAY_IDENTITY_SECRET",
    "BACKEND_URL",
    "GATEWAY_PORT",
    "LOG_LEVEL",
    "CORS_ALLOW_ORIGINS",
    "REDIS_URL",
}
# Set inside compose itself, so not in .env.example.
COMPOSE_ONLY = {"BACKEND_HOST", "REDIS_URL"}
# BACKEND_HOST is the backend's own addition: inside a container it must listen on 0.0.0.0.
BACKEND_ENV = {
    "GATEWAY_IDENTITY_SECRET",
    "GATEWAY_IDENTITY_PREVIOUS_SECRETS",
    "DATABASE_URL",
    "BACKEND_HOST",
    "BACKEND_PORT",
    "LOG_LEVEL",
}
COMMANDS = {
    "gateway": ["python", "-m", "gateway", "--config", "gateway.yaml"],
    "backend": ["python", "-m", "backend"],
}
_REFERENCE = re.compile(r"\$\{(?P<name>[A-Z0-9_]+)(?:(?P<op>:\?|:-)(?P<arg>[^}]*))?\}")


class MissingVariable(Exception):
    pass


def interpolate(value: str, env: dict[str, str]) -> str:
    """Compose's `${VAR}`, `${VAR:-default}` and `${VAR:?error}` substitution."""

    def replace(match: re.Match[str]) -> str:
        name, op, arg = match["name"], match["op"], match["arg"]
        if env.get(name):
            return env[name]
        if op == ":?":
            raise MissingVariable(f"{name}: {arg}")
        return arg if op == ":-" else ""

    return _REFERENCE.sub(replace, value)


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    document: dict[str, Any] = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    return document


@pytest.fixture(scope="module")
def services(compose: dict[str, Any]) -> dict[str, Any]:
    found: dict[str, Any] = compose["services"]
    return found


def strings(node: object) -> list[str]:
    """Every string value in a parsed YAML document."""
    if isinstance(node, str):
        return [node]
    if isinstance(node, dict):
        return [text for value in node.values() for text in strings(value)]
    if isinstance(node, list):
        return [text for value in node for text in strings(value)]
    return []


def test_only_the_gateway_publishes_a_port(services: dict[str, Any]) -> None:
    published = {name: spec.get("ports") for name, spec in services.items() if spec.get("ports")}
    assert set(published) == {"gateway"}
    (mapping,) = published["gateway"]
    assert interpolate(mapping, {}) == "8080:8080"
    assert interpolate(mapping, {"GATEWAY_PORT": "9000"}) == "9000:9000"
    assert set(services) == {"gateway", "backend", "postgres", "redis", "better-auth"}


def test_the_gateway_listens_where_it_is_published(services: dict[str, Any]) -> None:
    env = {"BETTER_AUTH_SECRET": "s" * 32, "GATEWAY_IDENTITY_SECRET": "i" * 32}
    for port in ("8080", "9000"):
        gateway_env = {
            name: interpolate(str(value), env | {"GATEWAY_PORT": port})
            for name, value in services["gateway"]["environment"].items()
        }
        settings = load_settings_file(ROOT / "gateway.yaml", gateway_env)
        published = interpolate(services["gateway"]["ports"][0], {"GATEWAY_PORT": port})
        assert published == f"{port}:{settings.listen.port}"


def test_an_operators_gateway_yaml_replaces_the_images(services: dict[str, Any]) -> None:
    (volume,) = services["gateway"]["volumes"]
    source, target, mode = interpolate(volume, {}).split(":")
    assert (ROOT / source).resolve() == ROOT / "gateway.yaml"
    assert interpolate(volume, {"GATEWAY_CONFIG": "/etc/mine.yaml"}).startswith("/etc/mine.yaml:")
    workdir = [line for line in dockerfile_stages()["runtime"] if line.startswith("WORKDIR ")]
    config = services["gateway"]["command"][-1]
    assert (target, mode) == (f"{workdir[-1].split()[1]}/{config}", "ro")


def test_environment_names_are_the_contracts(services: dict[str, Any]) -> None:
    assert set(services["gateway"]["environment"]) == GATEWAY_ENV
    assert set(services["backend"]["environment"]) == BACKEND_ENV


def test_backend_reaches_the_database_service(services: dict[str, Any]) -> None:
    env = {"GATEWAY_IDENTITY_SECRET": "i" * 32, "POSTGRES_PASSWORD": "pw"}
    backend_env = {
        name: interpolate(str(value), env)
        for name, value in services["backend"]["environment"].items()
    }
    settings = BackendSettings.from_env(backend_env)
    assert settings.database_url == "postgresql+asyncpg://todo:pw@postgres:5432/todo"
    # Inside a container the backend must listen beyond loopback for the gateway to reach it.
    assert (settings.host, settings.port) == ("0.0.0.0", 8000)  # noqa: S104
    postgres_env = services["postgres"]["environment"]
    assert postgres_env["POSTGRES_USER"] == "todo"
    assert postgres_env["POSTGRES_DB"] == "todo"
    gateway_env = services["gateway"]["environment"]
    assert gateway_env["BACKEND_URL"] == "http://backend:8000"


def test_gateway_reads_its_compose_environment(services: dict[str, Any]) -> None:
    env = {
        "BETTER_AUTH_SECRET": "s" * 32,
        "BETTER_AUTH_URL": "https://auth.example.com",
        "GATEWAY_IDENTITY_SECRET": "i" * 32,
        "CORS_ALLOW_ORIGINS": "https://app.example.com",
    }
    gateway_env = {
        name: interpolate(str(value), env)
        for name, value in services["gateway"]["environment"].items()
    }
    settings = load_settings_file(ROOT / "gateway.yaml", gateway_env)
    assert settings.listen.port == 8080
    assert settings.upstream("backend").url == "http://backend:8000"
    assert settings.upstream("better_auth").url == "https://auth.example.com"
    assert settings.identity_secret == b"i" * 32
    assert settings.cors.allow_origins == ("https://app.example.com",)
    assert [source.url for source in settings.auth.jwks] == [
        "https://auth.example.com/api/auth/jwks"
    ]


@pytest.mark.parametrize("service", ["gateway", "backend"])
def test_commands_are_the_documented_ones(services: dict[str, Any], service: str) -> None:
    assert services[service]["command"] == COMMANDS[service]
    assert services[service]["build"]["target"] == service
    stage = dockerfile_stages()[service]
    cmd = [line for line in stage if line.startswith("CMD ")]
    assert yaml.safe_load(cmd[-1].removeprefix("CMD ")) == COMMANDS[service]


@pytest.mark.parametrize("service", ["gateway", "backend"])
def test_images_run_as_an_unprivileged_user(service: str) -> None:
    stage = dockerfile_stages()[service]
    users = [line.split()[1] for line in stage if line.upper().startswith("USER ")]
    assert users, f"stage {service} sets no USER"
    assert users[-1] not in {"root", "0", "0:0"}
    cmd_index = next(i for i, line in enumerate(stage) if line.startswith("CMD "))
    user_index = max(i for i, line in enumerate(stage) if line.upper().startswith("USER "))
    assert user_index < cmd_index


@pytest.mark.parametrize("context", [ROOT, ROOT / "auth-server"])
def test_every_copied_path_exists(context: Path) -> None:
    for stage in dockerfile_stages(context / "Dockerfile").values():
        for source in copied_sources(stage):
            assert (context / source).exists(), source


@pytest.mark.parametrize(
    ("service", "variable", "path"),
    [("gateway", "GATEWAY_PORT", "/readyz"), ("backend", "BACKEND_PORT", "/readyz")],
)
def test_python_services_probe_their_own_port_variable(
    services: dict[str, Any], service: str, variable: str, path: str
) -> None:
    test = services[service]["healthcheck"]["test"]
    assert test == ["CMD", "python", "healthcheck.py", variable, path]
    assert variable in services[service]["environment"]


def test_no_healthcheck_hard_codes_a_port(services: dict[str, Any]) -> None:
    for name, service in services.items():
        test = service["healthcheck"]["test"]
        assert test[0] in {"CMD", "CMD-SHELL"}, name
        assert not re.search(r"\d{4}", " ".join(test)), name


def test_start_order_waits_for_health(services: dict[str, Any]) -> None:
    healthy = {"condition": "service_healthy"}
    assert services["gateway"]["depends_on"] == {
        "backend": healthy,
        "redis": healthy,
        "better-auth": healthy | {"required": False},
    }
    assert services["backend"]["depends_on"] == {"postgres": healthy}


def test_every_service_is_hardened_and_bounded(services: dict[str, Any]) -> None:
    for name, service in services.items():
        assert service["read_only"] is True, name
        assert service["cap_drop"] == ["ALL"], name
        assert "no-new-privileges:true" in service["security_opt"], name
        assert "/tmp" in service["tmpfs"], name
        assert service.get("user", "app") not in {"root", "0", "0:0"}, name
        limits = service["deploy"]["resources"]["limits"]
        assert {"cpus", "memory"} <= set(limits), name
    assert "/var/run/postgresql" in services["postgres"]["tmpfs"]


def test_the_gateway_shares_its_limits_through_redis(services: dict[str, Any]) -> None:
    url = services["gateway"]["environment"]["REDIS_URL"]
    assert url.startswith("redis://redis:6379/")
    assert "--save" in services["redis"]["command"]
    assert "ports" not in services["redis"]


def test_better_auth_runs_under_the_auth_profile(services: dict[str, Any]) -> None:
    auth = services["better-auth"]
    assert auth["profiles"] == ["auth"]
    assert auth["build"] == {"context": "./auth-server"}
    assert auth["environment"]["HOST"] == "0.0.0.0"  # noqa: S104
    assert "ports" not in auth
    assert all("profiles" not in services[name] for name in set(services) - {"better-auth"})


def test_postgres_keeps_its_data_in_a_named_volume(compose: dict[str, Any]) -> None:
    volumes = compose["services"]["postgres"]["volumes"]
    names = [volume.split(":")[0] for volume in volumes]
    assert names == ["postgres-data"]
    assert volumes[0].endswith(":/var/lib/postgresql/data")
    assert "postgres-data" in compose["volumes"]


def test_secrets_come_from_the_environment(services: dict[str, Any]) -> None:
    for service in services.values():
        for name, value in service.get("environment", {}).items():
            if "SECRET" in name or "PASSWORD" in name:
                assert _REFERENCE.search(str(value)), f"{name} is hard-coded"
    with pytest.raises(MissingVariable, match="GATEWAY_IDENTITY_SECRET"):
        interpolate(services["backend"]["environment"]["GATEWAY_IDENTITY_SECRET"], {})
    with pytest.raises(MissingVariable, match="POSTGRES_PASSWORD"):
        interpolate(services["backend"]["environment"]["DATABASE_URL"], {})


def test_env_example_names_every_variable_and_no_secret(compose: dict[str, Any]) -> None:
    example = dict(
        line.split("=", 1)
        for line in (ROOT / ".env.example").read_text().splitlines()
        if line and not line.startswith("#")
    )
    referenced = {match["name"] for text in strings(compose) for match in _REFERENCE.finditer(text)}
    assert referenced <= set(example)
    assert set(example) >= (GATEWAY_ENV | BACKEND_ENV) - COMPOSE_ONLY
    secrets = {name: value for name, value in example.items() if "SECRET" in name}
    assert secrets
    assert all(value == "" for value in secrets.values())
    assert example["POSTGRES_PASSWORD"] == ""


def test_build_context_leaves_out_secrets_and_local_state() -> None:
    ignored = set((ROOT / ".dockerignore").read_text().split())
    assert {".env", ".venv", ".git", "**/node_modules", "*.db"} <= ignored
