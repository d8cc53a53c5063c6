"""How a command reaches Kafka and etcd: the endpoint given, else a forward to the platform in the cluster.

An endpoint the user gave (`--bootstrap-server` / `kafka.bootstrap-server`, `--etcd-endpoint` /
`etcd.endpoint`, or their env vars) is used as it is. Without one, the platform in the target cluster is
looked for (after the same target guard as `up`: only minikube's profile context or exactly `--context`)
and, when its Service is there, reached through an in-process port-forward opened for the command and
closed after it (`forwarding.open_forward`): Kafka on 127.0.0.1:9092 (and 9093, ... for more brokers), the
ports the brokers advertise (a busy port is an error naming its holder, never a silent fallback), etcd on a
free port.

Whether the platform is "up" decides what a missing etcd means for `topics plan/apply` (issue 6): if the
namespace has the platform's etcd Service, overrides are expected, and failing to read them is an error
(production values must never reach dev silently); if there is no platform (no such context, the cluster
does not answer, no such namespace), the files' values apply with a warning, as with no endpoint at all.
No Typer here: commands turn options into `Override`s with `endpoint_overrides`, build `Settings`, and
pass an `ExitStack` they close when the command ends, which owns the forwards.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from platformctl import hints, ui
from platformctl.config import ENV_BOOTSTRAP_SERVER, ENV_ETCD_ENDPOINT, ENV_SCHEMA_REGISTRY, Override
from platformctl.errors import InputError, WrongTargetError

if TYPE_CHECKING:
    from platformctl.adapters.etcd import EtcdStore
    from platformctl.settings import Settings

KAFKA = "kafka"
ETCD = "etcd"
SCHEMA_REGISTRY = "schema-registry"


def endpoint_overrides(
    *, bootstrap_server: str | None = None, etcd_endpoint: str | None = None, schema_registry: str | None = None
) -> tuple[Override, ...]:
    """`--bootstrap-server` / `--etcd-endpoint` / `--schema-registry` as settings overrides (flag > env var > file)."""
    given = []
    if schema_registry:
        given.append(
            Override("schema-registry.url", schema_registry, f"--schema-registry / {ENV_SCHEMA_REGISTRY}")
        )
    if bootstrap_server:
        origin = f"--bootstrap-server / {ENV_BOOTSTRAP_SERVER}"
        given.append(Override("kafka.bootstrap-server", bootstrap_server, origin))
    if etcd_endpoint:
        given.append(Override("etcd.endpoint", etcd_endpoint, f"--etcd-endpoint / {ENV_ETCD_ENDPOINT}"))
    return tuple(given)


@dataclass(frozen=True)
class Platform:
    """What `locate` found: the platform's Services in the target namespace, or why there is no platform."""

    context: str | None
    services: frozenset[str] = field(default_factory=frozenset)
    absent: str | None = None  # why no platform was found; None when the namespace has its Services

    def serves(self, settings: Settings, target: str) -> bool:
        return _service(settings, target) in self.services


def _service(settings: Settings, target: str) -> str:
    from platformctl.platform import forwarding

    return forwarding.service_of(settings, target)


def locate(settings: Settings) -> Platform:
    """Look for the platform in the target cluster: one LIST of the Services `up` labelled in the namespace.

    No platform (not an error): kubeconfig lacks the intended context, the API server does not answer, or
    the namespace holds none of platformctl's Services. Any other answer (401, 403, 5xx) is an error: it
    cannot tell whether the platform is up, and guessing "no" would apply the files' values to dev.
    """
    from platformctl.adapters import kube
    from platformctl.platform import guard, render

    ns = settings.namespace
    try:
        target = guard.target(settings)
    except WrongTargetError as e:
        return Platform(None, absent=e.message)
    cluster = kube.Cluster.connect(target)
    try:
        service_kind = next(k for k in kube.KINDS if k.kind == "Service")
        found = cluster.list_objects(service_kind, ns, render.selector(ns))
    except kube.UnreachableError as e:
        return Platform(target.context, absent=e.message)
    finally:
        cluster.close()
    names = frozenset(str(s.get("metadata", {}).get("name")) for s in found)
    if not names:
        return Platform(target.context, absent=f"namespace {ns!r} of context {target.context!r} has no platform")
    return Platform(target.context, names)


def forward_to(stack: contextlib.ExitStack, settings: Settings, target: str) -> str:
    """Open an in-process forward to the platform's `target` until `stack` closes; its `127.0.0.1:PORT`."""
    from platformctl.platform import forwarding

    address = stack.enter_context(forwarding.open_forward(settings, target))
    ui.detail(f"{target}: forwarding {address} -> service {settings.namespace}/{_service(settings, target)}")
    return address


def kafka_bootstrap(stack: contextlib.ExitStack, settings: Settings, platform: Platform | None = None) -> str:
    """The bootstrap address: the one configured, else a forward to the platform's Kafka (closed with `stack`).

    Exit 2 when there is neither: nothing to talk to.
    """
    if settings.kafka.bootstrap_server:
        return settings.kafka.bootstrap_server
    platform = platform or locate(settings)
    if not platform.serves(settings, KAFKA):
        raise InputError(
            f"no Kafka to talk to: give --bootstrap-server HOST:PORT, or run `{hints.command('up')}` "
            f"(no platform to forward to: {platform.absent or 'it has no Kafka Service'})",
            hint=f"or set {ENV_BOOTSTRAP_SERVER}, or kafka.bootstrap-server in platformctl.yaml",
        )
    return forward_to(stack, settings, KAFKA)


def etcd_endpoint(stack: contextlib.ExitStack, settings: Settings, platform: Platform | None = None) -> str | None:
    """The etcd URL: the one configured, else a forward to the platform's etcd; None when there is no platform.

    A forward that cannot be opened (no ready etcd pod, the API server refusing) raises: the platform is
    there, so its overrides are expected.
    """
    if settings.etcd.endpoint:
        return settings.etcd.endpoint
    platform = platform or locate(settings)
    if not platform.serves(settings, ETCD):
        return None
    return f"http://{forward_to(stack, settings, ETCD)}"


def etcd_store(stack: contextlib.ExitStack, settings: Settings) -> EtcdStore:
    """A store for the configured etcd or the platform's (through a forward); exit 2 when there is neither."""
    from platformctl.adapters.etcd import EtcdStore

    platform = None if settings.etcd.endpoint else locate(settings)
    endpoint = etcd_endpoint(stack, settings, platform)
    if endpoint is None:
        absent = platform.absent if platform is not None and platform.absent else "it has no etcd Service"
        raise InputError(
            f"no etcd endpoint configured, and no platform to forward to ({absent})",
            path="command line",
            field="--etcd-endpoint",
            hint=f"run `{hints.command('up')}`, or pass --etcd-endpoint http://HOST:2379, set {ENV_ETCD_ENDPOINT}, or "
            "set etcd.endpoint in platformctl.yaml",
        )
    return EtcdStore(endpoint)


def schema_registry_url(stack: contextlib.ExitStack, settings: Settings, platform: Platform | None = None) -> str:
    """The registry URL: the one configured, else a forward to the platform's Schema Registry (closed with
    `stack`). Exit 2 when there is neither: topic files that declare schemas need one."""
    if settings.schema_registry.url:
        return settings.schema_registry.url
    platform = platform or locate(settings)
    if not platform.serves(settings, SCHEMA_REGISTRY):
        raise InputError(
            "the topic files declare schemas, but there is no Schema Registry to talk to: give "
            f"--schema-registry URL, or run `{hints.command('up')}` "
            f"(no platform to forward to: {platform.absent or 'it has no Schema Registry Service'})",
            hint=f"or set {ENV_SCHEMA_REGISTRY}, or schema-registry.url in platformctl.yaml",
        )
    return f"http://{forward_to(stack, settings, SCHEMA_REGISTRY)}"
