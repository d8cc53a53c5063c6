"""The rendered platform: valid for each supported server, `restricted`-clean, ClusterIP-only, pinned.

Schemas: kubernetes-validate (strict) for every minor from 1.25 to the newest it ships, both Kafka flavors;
the PodSecurityPolicy render for 1.22, 1.23 and 1.24 against their schemas (tests/plugins/legacy_schemas.py).
Applied to a real API server: 1.36 (tests/test_lifecycle_real.py and the other *_real.py).
"""

from __future__ import annotations

import difflib
from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
import yaml

from platformctl import render
from platformctl.settings import KafkaSettings, Settings
from tests.psa import pod_spec_of, restricted_violations

ROOT = Path(__file__).resolve().parents[1]
NEWEST = kubernetes_validate.latest_version()
NEWEST_MINOR = int(NEWEST.split(".")[1])
VERSIONS = [f"1.{minor}" for minor in range(25, NEWEST_MINOR + 1)]  # every minor with Pod Security admission
PSP_VERSIONS = ["1.22", "1.23", "1.24"]  # render.OLDEST up to the last with PodSecurityPolicy


def rendered(settings: Settings | None = None, version: str = "1.35") -> render.Rendered:
    return render.render(settings or Settings(), render.parse_version(version))


def fast_data_dev() -> Settings:
    return Settings(kafka=KafkaSettings(flavor="fast-data-dev"))


def kinds(result: render.Rendered) -> list[str]:
    return [doc["kind"] for doc in result.documents]


@pytest.mark.parametrize("flavor", ["apache", "fast-data-dev"])
@pytest.mark.parametrize("version", VERSIONS)
def test_every_manifest_validates_strictly(version: str, flavor: str) -> None:
    settings = Settings() if flavor == "apache" else fast_data_dev()
    problems = []
    for doc in rendered(settings, version).documents:
        name = f"{doc['kind']}/{doc['metadata']['name']}"
        try:
            kubernetes_validate.validate(doc, f"{version}.0", strict=True)
        except kubernetes_validate.SchemaNotFoundError as e:  # a kind the server does not know is a failure
            problems.append(f"{name}: no schema for {version}: {e}")
        except kubernetes_validate.ValidationError as e:
            problems.append(f"{name}: {e.message} at {list(e.path)}")
    assert problems == []


@pytest.mark.parametrize("version", PSP_VERSIONS)
def test_psp_render_validates_against_its_versions_schemas(tmp_path: Path, legacy_validate: Any, version: str) -> None:
    result = rendered(version=version)
    assert result.security.mechanism == "pod-security-policy"
    written = render.write_files(result, tmp_path)
    assert legacy_validate(f"{version}.0", written) == []


def test_the_oldest_supported_version_is_the_oldest_with_schemas() -> None:
    assert str(render.OLDEST) == PSP_VERSIONS[0]
    assert kubernetes_validate.latest_version().startswith(f"1.{NEWEST_MINOR}.")


def test_psp_policies_for_minikube_system_namespaces_validate(legacy_validate: Any) -> None:
    psp = render.psp_file()
    kinds_in_file = {doc["kind"] for doc in yaml.safe_load_all(psp.read_text()) if doc}
    assert "PodSecurityPolicy" in kinds_in_file
    assert legacy_validate("1.24.0", [psp]) == []


def test_security_mechanism_follows_the_server_version() -> None:
    old = kinds(rendered(version="1.24"))
    assert "PodSecurityPolicy" in old and "ValidatingAdmissionPolicy" not in old
    mid = rendered(version="1.29")
    assert mid.security.mechanism == "pod-security-admission"
    assert "PodSecurityPolicy" not in kinds(mid) and "ValidatingAdmissionPolicy" not in kinds(mid)
    new = kinds(rendered(version="1.30"))
    assert new.count("ValidatingAdmissionPolicy") == 1 and new.count("ValidatingAdmissionPolicyBinding") == 1


@pytest.mark.parametrize("version", ["1.24", *VERSIONS])
def test_every_pod_passes_restricted_field_by_field(version: str) -> None:
    pods = [(doc, pod_spec_of(doc)) for doc in rendered(version=version).documents]
    pods = [(doc, spec) for doc, spec in pods if spec is not None]
    assert len(pods) == 5  # kafka, schema-registry, kafka-ui, etcd, fluentd
    for doc, spec in pods:
        assert restricted_violations(spec) == [], doc["metadata"]["name"]


def test_psa_checker_catches_a_root_container() -> None:
    doc = next(d for d in rendered().documents if d["kind"] == "StatefulSet")
    spec = pod_spec_of(doc)
    assert spec is not None
    spec["containers"][0]["securityContext"]["runAsUser"] = 0
    del spec["containers"][0]["securityContext"]["capabilities"]
    problems = restricted_violations(spec)
    assert any("runAsUser must not be 0" in p for p in problems)
    assert any("capabilities.drop" in p for p in problems)


def test_namespace_enforces_restricted_with_pinned_version() -> None:
    namespace = rendered(version="1.36").documents[0]
    assert namespace["kind"] == "Namespace"
    labels = namespace["metadata"]["labels"]
    assert labels["pod-security.kubernetes.io/enforce"] == "restricted"
    assert labels["pod-security.kubernetes.io/enforce-version"] == "v1.36"
    assert labels["phase"] == "dev"


def test_fast_data_dev_lowers_the_namespace_to_baseline_loudly() -> None:
    result = rendered(fast_data_dev())
    labels = result.documents[0]["metadata"]["labels"]
    assert labels["pod-security.kubernetes.io/enforce"] == "baseline"
    assert labels["pod-security.kubernetes.io/warn"] == "restricted"
    assert any("baseline" in w for w in result.warnings)
    images = [c["image"] for d in result.documents if (s := pod_spec_of(d)) for c in s["containers"]]
    assert "lensesio/fast-data-dev:3.9.0" in images
    assert not any(i.startswith("confluentinc/") or i.startswith("kafbat/") for i in images)


@pytest.mark.parametrize("flavor", ["apache", "fast-data-dev"])
def test_services_are_cluster_ip_only(flavor: str) -> None:
    settings = Settings() if flavor == "apache" else fast_data_dev()
    services = [d for d in rendered(settings).documents if d["kind"] == "Service"]
    assert services
    for service in services:
        assert service["spec"].get("type", "ClusterIP") == "ClusterIP", service["metadata"]["name"]
        assert "externalIPs" not in service["spec"]
        assert all("nodePort" not in port for port in service["spec"]["ports"])


@pytest.mark.parametrize("flavor", ["apache", "fast-data-dev"])
def test_images_are_pinned_and_pods_do_not_get_service_links(flavor: str) -> None:
    settings = Settings() if flavor == "apache" else fast_data_dev()
    for doc in rendered(settings).documents:
        spec = pod_spec_of(doc)
        if spec is None:
            continue
        assert spec["enableServiceLinks"] is False
        for container in spec["containers"]:
            image = container["image"]
            assert ":" in image.rsplit("/", 1)[-1] and not image.endswith(":latest"), image
            assert container["imagePullPolicy"] == "IfNotPresent"
            assert container["resources"]["requests"] and container["resources"]["limits"]
            assert container.get("readinessProbe"), container["name"]


def test_every_object_carries_the_platform_labels() -> None:
    for doc in rendered(version="1.24").documents + rendered().documents:
        labels = doc["metadata"]["labels"]
        assert labels[render.LABEL_MANAGED_BY] == "platformctl"
        assert labels[render.LABEL_PART_OF] == "platformctl"
        assert labels[render.LABEL_INSTANCE] == "dev"
        assert labels[render.LABEL_NAME]
        spec = pod_spec_of(doc)
        if spec is not None:
            template_labels = doc["spec"]["template"]["metadata"]["labels"]
            assert doc["spec"]["selector"]["matchLabels"].items() <= template_labels.items()


def test_kafka_listeners_let_pods_and_the_host_reach_the_same_broker() -> None:
    settings = Settings(namespace="data")
    kafka = next(d for d in rendered(settings).documents if d["kind"] == "StatefulSet")
    env = {e["name"]: e.get("value") for e in kafka["spec"]["template"]["spec"]["containers"][0]["env"]}
    assert env["KAFKA_LISTENERS"] == "INTERNAL://:19092,HOST://:9092,CONTROLLER://:9093"
    assert env["KAFKA_ADVERTISED_LISTENERS"] == (
        "INTERNAL://kafka-service.data.svc.cluster.local:19092,HOST://localhost:9092"
    )
    assert env["KAFKA_INTER_BROKER_LISTENER_NAME"] == "INTERNAL"
    assert env["KAFKA_CONTROLLER_QUORUM_VOTERS"] == "1@localhost:9093"


def test_values_cannot_inject_yaml() -> None:
    # Validation refuses such names; render must still be safe if a value slips through.
    evil = "dev\nkind: Secret\n---\napiVersion: v1"
    settings = Settings.model_construct(**{**Settings().__dict__, "namespace": evil, "env": "a: b"})
    result = rendered(settings)
    assert len(result.documents) == len(rendered().documents)
    assert {doc["kind"] for doc in result.documents} == {doc["kind"] for doc in rendered().documents}
    assert result.documents[0]["metadata"]["name"] == evil
    assert result.documents[0]["metadata"]["labels"]["phase"] == "a: b"
    reparsed = list(yaml.safe_load_all(render.to_yaml(result.documents)))
    assert reparsed == result.documents


def test_committed_manifests_match_the_templates() -> None:
    """manifests/ is the default render, committed so reviews see what a template change does."""
    settings = Settings()
    result = render.render(settings, render.parse_version(settings.minikube.kubernetes_version))
    committed = {p.name: p.read_text() for p in sorted((ROOT / "manifests").glob("*.yaml"))}
    fresh = {name: render.to_yaml(docs) for name, docs in result.files}
    diff = []
    for name in sorted(committed.keys() | fresh.keys()):
        diff += difflib.unified_diff(
            committed.get(name, "").splitlines(keepends=True),
            fresh.get(name, "").splitlines(keepends=True),
            f"manifests/{name} (committed)",
            f"manifests/{name} (rendered)",
        )
    assert not diff, "templates and manifests/ disagree; after checking the change, run " \
        "`platformctl render --out manifests`:\n" + "".join(diff)
