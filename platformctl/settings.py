"""The typed schema of `platformctl.yaml`, and the pinned defaults of every component.

Kept apart from `config.py` because pydantic costs ~80 ms to import and `platformctl --help` and
`--version` must not pay for it (sub-commands pay anyway: Typer coerces option values with pydantic).
Keys are kebab-case in YAML (`kubernetes-version`), snake_case in Python. Unknown keys are errors (a typo
must never silently fall back to a default), and types are strict: `memory: "8192"` is a mistake worth
reporting, not coercing.

Every image is pinned to an exact tag that was confirmed to exist (see README, "Pinned images"): a wrong
pin is an ImagePullBackOff for every user, and `latest` would make two laptops run different platforms.
"""

from __future__ import annotations

import ipaddress
import re
from typing import Annotated, Literal
from urllib.parse import urlsplit

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, ValidationInfo, field_validator

from platformctl.topics.spec import cluster_id_problem

# Every pattern is applied with fullmatch: `re.match` with `$` also accepts a trailing newline, so
# `--env $'stage\n'` would pass as an environment of its own (another lock, other etcd keys). Digits are
# [0-9]: `\d` matches the digits of every script.
_DNS_LABEL = re.compile(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?")
_ENV_NAME = re.compile(r"[a-z0-9]([a-z0-9_.-]*[a-z0-9])?")
_K8S_VERSION = re.compile(r"v?1\.([0-9]{1,4})\.([0-9]{1,4})")
_QUANTITY = re.compile(r"[0-9]{1,15}(\.[0-9]{1,15})?(m|k|Ki|M|Mi|G|Gi|T|Ti)?")
_IMAGE = re.compile(
    r"(?P<repo>[a-z0-9]+([._-][a-z0-9]+)*(:[0-9]+)?(/[a-z0-9]+([._/-][a-z0-9]+)*)*)"
    r"(:(?P<tag>[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}))?(@(?P<digest>sha256:[a-f0-9]{64}))?"
)
_LABEL = r"[A-Za-z0-9_]([A-Za-z0-9_-]{0,61}[A-Za-z0-9_])?"
_HOSTNAME = re.compile(rf"{_LABEL}(\.{_LABEL})*")


def _dns_label(value: str) -> str:
    if len(value) > 63 or not _DNS_LABEL.fullmatch(value):
        raise ValueError("must be a DNS label: lowercase letters, digits and '-', at most 63 characters")
    return value


def _dns_subdomain(value: str) -> str:
    if len(value) > 253 or not all(_DNS_LABEL.fullmatch(part) for part in value.split(".")):
        raise ValueError("must be a DNS subdomain: lowercase letters, digits, '-' and '.', at most 253 characters")
    return value


def _env_name(value: str) -> str:
    if len(value) > 63 or not _ENV_NAME.fullmatch(value):
        raise ValueError("must be lowercase letters, digits, '-', '_' or '.', at most 63 characters")
    return value


def _kubernetes_version(value: str) -> str:
    match = _K8S_VERSION.fullmatch(value)
    if not match:
        # A full version: minikube pins exactly this, and reports it back as vX.Y.Z for the running check.
        raise ValueError("must be a full Kubernetes version such as v1.35.0")
    return value if value.startswith("v") else f"v{value}"


def split_etcd_endpoint(endpoint: str, *, default_port: int = 2379) -> tuple[str, str, int]:
    """`http://host:port`, `https://host:port` or `host:port` -> (scheme, host, port); ValueError if not.

    Here (not in the etcd adapter) so that `etcd.endpoint` in platformctl.yaml is checked with the file's
    line, by the same rule `--etcd-endpoint` is.
    """
    _no_blanks(endpoint, "an etcd endpoint")
    text = endpoint
    if "://" not in text:
        text = f"http://{text}"
    try:
        parts = urlsplit(text)
        port = parts.port or default_port
    except ValueError as e:
        raise ValueError(f"not an etcd endpoint ({e})") from None
    if parts.scheme not in ("http", "https") or not parts.hostname or parts.path not in ("", "/"):
        raise ValueError(f"not an etcd endpoint: {endpoint!r} (expected http://HOST:PORT)")
    return parts.scheme, parts.hostname, port


def _no_blanks(value: str, what: str) -> None:
    # urlsplit drops tabs and newlines anywhere in a URL (WHATWG), so check before it sees the text.
    if any(c.isspace() or not c.isprintable() for c in value):
        raise ValueError(f"not {what}: {value!r} contains spaces or control characters")


def split_bootstrap_servers(value: str) -> list[tuple[str, int]]:
    """`HOST:PORT[,HOST:PORT...]` -> [(host, port)]; ValueError naming what is wrong.

    Checked before Kafka is contacted, like `--etcd-endpoint`: librdkafka takes any text and retries it
    until its timeout, so `127.0.0.1:99999` would be a fault after seconds instead of bad input at once.
    """
    _no_blanks(value, "a Kafka bootstrap address")
    found = []
    for entry in value.split(","):
        host, colon, port = entry.rpartition(":")
        if host.startswith("[") and host.endswith("]"):
            try:
                ipaddress.IPv6Address(host[1:-1])
            except ValueError:
                raise ValueError(f"not a Kafka bootstrap address: {entry!r} ({host} is no IPv6 address)") from None
        elif not colon or not host or len(host) > 253 or not _HOSTNAME.fullmatch(host):
            raise ValueError(f"not a Kafka bootstrap address: {entry!r} (expected HOST:PORT, such as 127.0.0.1:9092)")
        if not re.fullmatch(r"[0-9]{1,5}", port) or not 1 <= int(port) <= 65535:
            raise ValueError(f"not a Kafka bootstrap address: {entry!r} (the port must be 1-65535)")
        found.append((host, int(port)))
    return found


def _bootstrap_servers(value: str) -> str:
    split_bootstrap_servers(value)
    return value


def _registry_url(value: str) -> str:
    _no_blanks(value, "a Schema Registry URL")
    parts = urlsplit(value.strip())
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError(f"must be a Schema Registry URL such as http://127.0.0.1:8081 (got {value!r})")
    return value.strip()


def _etcd_endpoint(value: str) -> str:
    split_etcd_endpoint(value)
    return value


def _quantity(value: str) -> str:
    if not _QUANTITY.fullmatch(value):
        raise ValueError("must be a Kubernetes quantity such as 250m, 1, 512Mi or 2Gi")
    return value


def _pinned_image(value: str) -> str:
    match = _IMAGE.fullmatch(value)
    if not match:
        raise ValueError("must be an image reference such as apache/kafka:4.2.2")
    if not match.group("tag") and not match.group("digest"):
        raise ValueError("must be pinned to a tag or digest (apache/kafka:4.2.2), not left floating")
    if match.group("tag") == "latest":
        raise ValueError("must be pinned to an exact tag, not 'latest'")
    return value


def _cluster_id(value: str) -> str:
    problem = cluster_id_problem(value)
    if problem:
        raise ValueError(problem)
    return value


DnsLabel = Annotated[str, AfterValidator(_dns_label)]
DnsSubdomain = Annotated[str, AfterValidator(_dns_subdomain)]
EtcdEndpoint = Annotated[str, AfterValidator(_etcd_endpoint)]
EnvName = Annotated[str, AfterValidator(_env_name)]
KubernetesVersion = Annotated[str, AfterValidator(_kubernetes_version)]
Quantity = Annotated[str, AfterValidator(_quantity)]
Image = Annotated[str, AfterValidator(_pinned_image)]
ClusterId = Annotated[str, AfterValidator(_cluster_id)]


def _kebab(name: str) -> str:
    return name.replace("_", "-")


class _Model(BaseModel):
    model_config = ConfigDict(
        extra="forbid", strict=True, alias_generator=_kebab, populate_by_name=True, frozen=True
    )


class ResourceList(_Model):
    cpu: Quantity
    memory: Quantity


class Resources(_Model):
    requests: ResourceList
    limits: ResourceList


def _resources(cpu: str, memory: str, cpu_limit: str, memory_limit: str) -> Resources:
    return Resources(
        requests=ResourceList(cpu=cpu, memory=memory),
        limits=ResourceList(cpu=cpu_limit, memory=memory_limit),
    )


class MinikubeSettings(_Model):
    profile: DnsLabel = "minikube"
    kubernetes_version: KubernetesVersion = "v1.35.0"
    memory: Annotated[int, Field(ge=2048, description="MB")] = 8192
    cpus: Annotated[int, Field(ge=2)] = 2
    driver: str | None = None


# Production's replication: internal topics get min(this, brokers) replicas, and `up` seeds one-broker
# topic-defaults only when the broker count is below it (issue: the reference topic file says RF 3).
PRODUCTION_REPLICATION = 3
MAX_BROKERS = 9


class KafkaSettings(_Model):
    flavor: Literal["apache", "fast-data-dev"] = "apache"
    image: Image = "apache/kafka:4.2.2"
    # KRaft nodes, each broker and controller (platform/render.py says why combined); broker i is advertised to
    # in-cluster clients as kafka-i.kafka-brokers.<ns>.svc.cluster.local:9092 and to the host as
    # localhost:9092+i (one `port-forward kafka` forward per broker).
    brokers: Annotated[int, Field(ge=1, le=MAX_BROKERS)] = 1
    # Each broker's PersistentVolumeClaim (storage: persistent).
    volume_size: Quantity = "5Gi"
    fast_data_dev_image: Image = "lensesio/fast-data-dev:3.9.0"
    # KRaft needs the storage formatted with a cluster id; a fixed one keeps `topics apply --cluster-id`
    # checks meaningful across `down`/`up` (the data is gone, the identity is not).
    cluster_id: ClusterId = "cGxhdGZvcm1jdGwtZGV2MQ"
    heap: str = "-Xms512m -Xmx512m"
    resources: Resources = _resources("250m", "768Mi", "1", "1280Mi")
    fast_data_dev_resources: Resources = _resources("500m", "2Gi", "2", "3Gi")
    bootstrap_server: Annotated[str, AfterValidator(_bootstrap_servers)] | None = None
    # Seconds each Kafka admin request (and the metadata poll after it) may take; a dead broker fails
    # after this long, not after librdkafka's default of a minute. At most 300: librdkafka refuses a
    # socket.timeout.ms above 300,000 (kafka.MAX_REQUEST_TIMEOUT).
    request_timeout: Annotated[float, Field(gt=0, le=300)] = 10.0

    @field_validator("brokers")
    @classmethod
    def _one_all_in_one_broker(cls, value: int, info: ValidationInfo) -> int:
        if value != 1 and info.data.get("flavor") == "fast-data-dev":
            raise ValueError("fast-data-dev is one all-in-one container: brokers must be 1 with that flavor")
        return value


class SchemaRegistrySettings(_Model):
    image: Image = "confluentinc/cp-schema-registry:8.2.4"
    heap: str = "-Xms128m -Xmx256m"
    resources: Resources = _resources("100m", "384Mi", "500m", "512Mi")
    # Reach an existing registry (its REST base URL) instead of the forward to the platform's.
    url: Annotated[str, AfterValidator(_registry_url)] | None = None


class KafkaUiSettings(_Model):
    image: Image = "kafbat/kafka-ui:v1.4.2"
    resources: Resources = _resources("100m", "384Mi", "500m", "768Mi")


class EtcdSettings(_Model):
    image: Image = "gcr.io/etcd-development/etcd:v3.6.16"
    resources: Resources = _resources("50m", "64Mi", "500m", "256Mi")
    volume_size: Quantity = "1Gi"
    endpoint: EtcdEndpoint | None = None


class FluentdSettings(_Model):
    image: Image = "fluent/fluentd:v1.19.3-debian-2.4"
    resources: Resources = _resources("50m", "128Mi", "250m", "256Mi")


class Settings(_Model):
    """Everything a command may need; built once per run by `config.load_settings`."""

    namespace: DnsLabel = "dev"
    env: EnvName = "dev"
    context: str | None = None
    # persistent: Kafka's and etcd's data on PersistentVolumeClaims (volumeClaimTemplates), kept across pod
    # and node restarts and, with `down --keep-data`, across down/up. ephemeral: emptyDir, gone with the pod.
    storage: Literal["persistent", "ephemeral"] = "persistent"
    # The claims' StorageClass; null: the cluster's default (minikube's `standard`, its hostpath provisioner).
    storage_class: DnsSubdomain | None = None
    minikube: MinikubeSettings = MinikubeSettings()
    kafka: KafkaSettings = KafkaSettings()
    schema_registry: SchemaRegistrySettings = SchemaRegistrySettings()
    kafka_ui: KafkaUiSettings = KafkaUiSettings()
    etcd: EtcdSettings = EtcdSettings()
    fluentd: FluentdSettings = FluentdSettings()
