"""The Kubernetes promises, checked on what `kubectl apply -k deploy/kubernetes` would apply.

The kustomization is built for real and offline (`kubectl kustomize`, with secrets.env made
from the committed example), every resource is validated against the Kubernetes schemas that
the kubernetes-validate package ships, and the deployment's promises are read from the result:
the backend on loopback behind its gateway sidecar, one Service port, secrets by reference,
probes on the health endpoints, a locked-down security context, limits, PDB, HPA, policies.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
import yaml

from tests.delivery.dockerfiles import dockerfile_stages

ROOT = Path(__file__).resolve().parents[2]
MANIFESTS = ROOT / "deploy" / "kubernetes"
KUBERNETES_VERSION = "1.32"
SECRET_ENV = {"GATEWAY_IDENTITY_SECRET", "GATEWAY_IDENTITY_PREVIOUS_SECRETS"}
SECRET_ENV |= {"BETTER_AUTH_SECRET", "DATABASE_URL"}

Resource = dict[str, Any]


def build(directory: Path) -> list[Resource]:
    built = subprocess.run(
        ["kubectl", "kustomize", str(directory)],
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )
    return [doc for doc in yaml.safe_load_all(built.stdout) if doc]


@pytest.fixture(scope="module")
def resources(tmp_path_factory: pytest.TempPathFactory) -> list[Resource]:
    directory = tmp_path_factory.mktemp("kustomize") / "kubernetes"
    shutil.copytree(MANIFESTS, directory)
    shutil.copy(directory / "secrets.env.example", directory / "secrets.env")
    return build(directory)


def find(resources: list[Resource], kind: str, name: str) -> Resource:
    found = [r for r in resources if r["kind"] == kind and r["metadata"]["name"] == name]
    assert len(found) == 1, f"{kind}/{name}"
    return found[0]


def pod_spec(resources: list[Resource], name: str = "todo-api") -> dict[str, Any]:
    spec: dict[str, Any] = find(resources, "Deployment", name)["spec"]["template"]["spec"]
    return spec


def container(resources: list[Resource], name: str) -> dict[str, Any]:
    (found,) = [c for c in pod_spec(resources)["containers"] if c["name"] == name]
    return dict(found)


def env(resources: list[Resource], name: str) -> dict[str, dict[str, Any]]:
    return {entry["name"]: entry for entry in container(resources, name)["env"]}


def test_every_resource_is_valid_against_the_kubernetes_schemas(
    resources: list[Resource],
) -> None:
    kinds = sorted({r["kind"] for r in resources})
    assert kinds == [
        "ConfigMap",
        "Deployment",
        "HorizontalPodAutoscaler",
        "NetworkPolicy",
        "PodDisruptionBudget",
        "Secret",
        "Service",
    ]
    for resource in resources:
        kubernetes_validate.validate(resource, KUBERNETES_VERSION, strict=True)


def test_the_schema_check_catches_a_misspelt_field(resources: list[Resource]) -> None:
    deployment = find(resources, "Deployment", "todo-api")
    deployment["spec"]["template"]["spec"]["containers"][0]["securityContext"][
        "readOnlyRootFileSystem"
    ] = True
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(deployment, KUBERNETES_VERSION, strict=True)
    del deployment["spec"]["template"]["spec"]["containers"][0]["securityContext"][
        "readOnlyRootFileSystem"
    ]


def test_every_manifest_file_is_part_of_the_kustomization() -> None:
    kustomization = yaml.safe_load((MANIFESTS / "kustomization.yaml").read_text())
    files = {path.name for path in MANIFESTS.glob("*.yaml")} - {"kustomization.yaml"}
    assert set(kustomization["resources"]) == files


def test_the_backend_listens_on_loopback_behind_its_sidecar(resources: list[Resource]) -> None:
    backend = env(resources, "backend")
    gateway = env(resources, "gateway")
    assert backend["BACKEND_HOST"]["value"] == "127.0.0.1"
    assert gateway["BACKEND_URL"]["value"] == f"http://127.0.0.1:{backend['BACKEND_PORT']['value']}"
    backend_ports = {p["containerPort"] for p in container(resources, "backend")["ports"]}
    assert int(backend["BACKEND_PORT"]["value"]) not in backend_ports


def test_only_the_gateway_port_is_a_service(resources: list[Resource]) -> None:
    gateway_port = int(env(resources, "gateway")["GATEWAY_PORT"]["value"])
    named = {p["name"]: p["containerPort"] for p in container(resources, "gateway")["ports"]}
    pod_labels = find(resources, "Deployment", "todo-api")["spec"]["template"]["metadata"]["labels"]
    api_services = [
        r
        for r in resources
        if r["kind"] == "Service" and r["spec"]["selector"].items() <= pod_labels.items()
    ]
    targets = [
        named.get(p["targetPort"], p["targetPort"])
        for s in api_services
        for p in s["spec"]["ports"]
    ]
    assert targets == [gateway_port]
    assert all(s["spec"].get("type", "ClusterIP") == "ClusterIP" for s in api_services)


def test_secrets_are_referenced_never_written(resources: list[Resource]) -> None:
    example = (MANIFESTS / "secrets.env.example").read_text().splitlines()
    example_values = dict(line.split("=", 1) for line in example if line and line[0] != "#")
    assert set(example_values) == SECRET_ENV
    assert all(value == "" for value in example_values.values())
    (secret,) = [r for r in resources if r["kind"] == "Secret"]
    for name in ("gateway", "backend"):
        for variable, entry in env(resources, name).items():
            if variable in SECRET_ENV:
                reference = entry["valueFrom"]["secretKeyRef"]
                assert (reference["name"], reference["key"]) == (
                    secret["metadata"]["name"],
                    variable,
                )
    assert "deploy/kubernetes/secrets.env" in (ROOT / ".gitignore").read_text().split()


def test_probes_use_the_health_endpoints(resources: list[Resource]) -> None:
    gateway = container(resources, "gateway")
    assert gateway["livenessProbe"]["httpGet"] == {"path": "/healthz", "port": "http"}
    assert gateway["readinessProbe"]["httpGet"] == {"path": "/readyz", "port": "http"}
    backend = container(resources, "backend")
    # The kubelet cannot reach the backend's loopback address: the probe runs in the container.
    probe = ["python", "healthcheck.py", "BACKEND_PORT"]
    assert backend["livenessProbe"]["exec"]["command"] == [*probe, "/healthz"]
    assert backend["readinessProbe"]["exec"]["command"] == [*probe, "/readyz"]
    runtime = dockerfile_stages()["runtime"]
    assert "WORKDIR /app" in runtime
    assert "COPY deploy/healthcheck.py ./" in runtime


def every_pod(resources: list[Resource]) -> list[dict[str, Any]]:
    deployments = [r for r in resources if r["kind"] == "Deployment"]
    assert len(deployments) == 2
    return [d["spec"]["template"]["spec"] for d in deployments]


def test_every_container_is_locked_down_and_bounded(resources: list[Resource]) -> None:
    for pod in every_pod(resources):
        assert pod["securityContext"]["runAsNonRoot"] is True
        assert pod["securityContext"]["runAsUser"] != 0
        assert pod["automountServiceAccountToken"] is False
        for spec in pod["containers"]:
            context = spec["securityContext"]
            assert context["runAsNonRoot"] is True
            assert context["readOnlyRootFilesystem"] is True
            assert context["allowPrivilegeEscalation"] is False
            assert context["capabilities"] == {"drop": ["ALL"]}
            for bound in ("requests", "limits"):
                assert set(spec["resources"][bound]) == {"cpu", "memory"}


def test_the_pod_runs_as_the_images_user(resources: list[Resource]) -> None:
    useradd = next(line for line in dockerfile_stages()["runtime"] if "useradd" in line)
    assert f"--uid {pod_spec(resources)['securityContext']['runAsUser']} " in useradd


def test_disruption_budget_and_autoscaler_keep_a_replica(resources: list[Resource]) -> None:
    labels = find(resources, "Deployment", "todo-api")["spec"]["template"]["metadata"]["labels"]
    budget = find(resources, "PodDisruptionBudget", "todo-api")["spec"]
    assert budget["selector"]["matchLabels"].items() <= labels.items()
    autoscaler = find(resources, "HorizontalPodAutoscaler", "todo-api")["spec"]
    target = autoscaler["scaleTargetRef"]
    assert (target["kind"], target["name"]) == ("Deployment", "todo-api")
    assert budget["minAvailable"] < autoscaler["minReplicas"] <= autoscaler["maxReplicas"]


def policy_ports(policy: Resource) -> set[int]:
    return {port["port"] for rule in policy["spec"]["ingress"] for port in rule["ports"]}


def test_network_policies_admit_only_the_gateway_metrics_and_redis(
    resources: list[Resource],
) -> None:
    gateway = env(resources, "gateway")
    backend = env(resources, "backend")
    api = find(resources, "NetworkPolicy", "todo-api")
    assert policy_ports(api) == {
        int(gateway["GATEWAY_PORT"]["value"]),
        int(gateway["GATEWAY_METRICS_PORT"]["value"]),
        int(backend["BACKEND_METRICS_PORT"]["value"]),
    }
    redis = find(resources, "NetworkPolicy", "todo-redis")
    assert policy_ports(redis) == {6379}
    sources = [source for rule in redis["spec"]["ingress"] for source in rule["from"]]
    assert sources == [{"podSelector": {"matchLabels": {"app.kubernetes.io/name": "todo-api"}}}]


def test_the_gateway_shares_its_limits_through_the_redis_service(
    resources: list[Resource],
) -> None:
    service = find(resources, "Service", "todo-redis")
    (port,) = service["spec"]["ports"]
    url = env(resources, "gateway")["REDIS_URL"]["value"]
    assert url.startswith(f"redis://{service['metadata']['name']}:{port['port']}/")


def test_the_metrics_port_is_annotated_for_scraping(resources: list[Resource]) -> None:
    template = find(resources, "Deployment", "todo-api")["spec"]["template"]
    annotations = template["metadata"]["annotations"]
    gateway = env(resources, "gateway")
    assert annotations["prometheus.io/scrape"] == "true"
    assert annotations["prometheus.io/path"] == "/metrics"
    assert annotations["prometheus.io/port"] == gateway["GATEWAY_METRICS_PORT"]["value"] == "9464"
    backend = env(resources, "backend")
    backend_ports = {p["containerPort"] for p in container(resources, "backend")["ports"]}
    assert backend_ports == {int(backend["BACKEND_METRICS_PORT"]["value"])} == {9465}
