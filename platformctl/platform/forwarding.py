"""Port-forward targets: which Service (or broker pod) and port each name reaches, and the forwards to them.

`port-forward kafka-ui` and the in-process forwards `topics`, `overrides` and `up` open to reach Kafka, etcd
or the Schema Registry (`open_forward`, for the length of one command) are the platform's knowledge: the
Services and ports come from the render, each forward goes to the cluster the target guard allows
(platform/guard.py), and its streams come from the Kubernetes adapter (adapters/portforward.py). The relay
itself, which knows nothing of Kubernetes or the platform, is platformctl/forward.py.
"""

from __future__ import annotations

import contextlib
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from platformctl import ui
from platformctl.errors import InputError
from platformctl.forward import Forward

if TYPE_CHECKING:
    from platformctl.settings import Settings

# Broker i advertises its HOST listener as localhost:9092+i (templates/kafka.yaml.j2, brokers.HOST_PORT_BASE;
# fast-data-dev's ADV_HOST): after bootstrap, clients connect to exactly those addresses, so the local end
# of broker i's forward must be this port + i and nothing else.
KAFKA_ADVERTISED_PORT = 9092
KAFKA_TARGET = "kafka"


# --- targets: which Service (or pod) and port each port-forward target reaches ---------------------------


@dataclass(frozen=True)
class Target:
    name: str  # kafka-ui, schema-registry, kafka, etcd, fluentd
    service: str
    service_port: int
    local_port: int  # 0: any free port
    # kafka: one forward per broker, to that broker's pod and its HOST listener (the container port of this
    # name), because broker i is advertised to the host as localhost:9092+i; None: through the Service.
    pod: str | None = None
    pod_port: str | None = None

    def describe(self, namespace: str) -> str:
        if self.pod is not None:
            return f"pod {namespace}/{self.pod}:{self.pod_port}"
        return f"service {namespace}/{self.service}:{self.service_port}"


def targets(settings: Settings, specs: Sequence[str], port: int | None = None) -> list[Target]:
    """The forwards asked for: each spec is `NAME` or `NAME:LOCALPORT`; `port` (--port) is the same for one.

    kafka is the exception: one forward per broker on the ports the brokers advertise (9092, 9093, ...),
    which cannot be moved (exit 2).
    """
    from platformctl.platform.brokers import HOST_PORT_NAME, kafka_layout
    from platformctl.platform.render import components

    available = {name: (c.service, p) for c in components(settings) for name, p in c.ports.items()}
    wanted: list[tuple[str, int | None, str]] = []  # name, local port, what to blame
    for spec in specs:
        name, colon, text = spec.partition(":")
        # ASCII digits, and few of them: isdigit() is true for "²", which int() refuses.
        if colon and not re.fullmatch(r"[0-9]{1,9}", text):
            shown = repr(spec) if len(spec) <= 60 else f"{spec[:40]!r}... ({len(spec)} characters)"
            raise InputError(f"{shown}: the local port after ':' must be a number", field="TARGET")
        wanted.append((name, int(text) if colon else None, "TARGET"))
    if port is not None:
        if len(wanted) != 1:
            raise InputError(
                "--port applies to a single target", field="--port", hint="use TARGET:PORT for several"
            )
        if wanted[0][1] is not None:
            raise InputError("give the local port once, as TARGET:PORT or --port", field="--port")
        wanted = [(wanted[0][0], port, "--port")]
    names = [name for name, _, _ in wanted]
    unknown = [name for name in names if name not in available]
    if unknown:
        raise InputError(
            f"unknown target {', '.join(map(repr, unknown))} (choose from: {', '.join(available)})",
            field="TARGET",
        )
    if len(set(names)) != len(names):
        raise InputError("a target is named twice", field="TARGET")
    result = []
    for name, local, origin in wanted:
        service, service_port = available[name]
        if local is not None and not 0 <= local <= 65535:
            raise InputError(f"{local} is not a TCP port (0-65535)", field=origin)
        if name == KAFKA_TARGET:
            if local not in (None, KAFKA_ADVERTISED_PORT):
                raise InputError(
                    f"the kafka forward always listens on {KAFKA_ADVERTISED_PORT}, the port the broker "
                    "advertises to clients; it cannot be moved",
                    field=origin,
                    hint="Kafka clients connect to the advertised localhost:9092 after bootstrap",
                )
            result += [
                Target(name, service, service_port, KAFKA_ADVERTISED_PORT + b.index, b.pod, HOST_PORT_NAME)
                for b in kafka_layout(settings).all()
            ]
            continue
        result.append(Target(name, service, service_port, service_port if local is None else local))
    return result


def service_of(settings: Settings, target: str) -> str:
    """The Service behind a target (for kafka, the one apps bootstrap from), whose presence means it is up."""
    from platformctl.platform.render import components

    for component in components(settings):
        if target in component.ports:
            return component.service
    raise InputError(f"unknown target {target!r}", field="TARGET")


def port_hint(target: Target) -> str:
    if target.name == KAFKA_TARGET:
        return (
            f"Kafka clients are sent to localhost:{target.local_port} after bootstrap, so this forward "
            "cannot use another port: stop that process (another `platformctl port-forward kafka`?) and retry"
        )
    return "stop that process, or choose another local port with --port N or TARGET:N"


def target_context(settings: Settings) -> str:
    """The kube context to forward through: a running minikube profile, or the --context given, after the
    same guard `up` uses (with the same errors and exit codes)."""
    from platformctl.platform import guard

    return guard.require_cluster(settings).context


def build(settings: Settings, target: Target) -> Forward:
    """A not-yet-started forward for `target`, to the platform's cluster (resolves the pod once now).

    Resolving up front turns "no such service" or "no ready pod" into one clear error before anything
    listens; later failures only cost the connection that hit them.
    """
    from platformctl.adapters import portforward

    context = target_context(settings)
    opener = (
        portforward.pod_opener(context, settings.namespace, target.pod, target.pod_port or "")
        if target.pod is not None
        else portforward.service_opener(context, settings.namespace, target.service, target.service_port)
    )
    ui.detail(f"{target.name}: {target.describe(settings.namespace)} -> {opener.describe(opener.resolve())}")
    return Forward(target.name, opener, target.local_port, hint=port_hint(target))


def build_all(settings: Settings, plans: Sequence[Target]) -> list[Forward]:
    """`build` for each plan: every pod resolved before anything listens, or none kept (all or nothing)."""
    built: list[Forward] = []
    try:
        for plan in plans:
            built.append(build(settings, plan))
    except BaseException:
        for fwd in built:
            fwd.close()
        raise
    return built


@contextlib.contextmanager
def open_forward(settings: Settings, target: str) -> Iterator[str]:
    """Forward `target` (kafka, etcd, ...) for the length of a `with` block; yields `127.0.0.1:PORT`.

    kafka listens on the ports its brokers advertise (9092, 9093, ...: all of them or none; a busy port
    raises `PortBusyError`) and yields the first as the bootstrap address; every other target gets a free
    port. Every connection is closed when the block ends.
    """
    plans = targets(settings, [target])
    if target != KAFKA_TARGET:
        plans = [Target(p.name, p.service, p.service_port, 0, p.pod, p.pod_port) for p in plans]
    forwards = build_all(settings, plans)
    try:
        for fwd in forwards:
            fwd.start()
        yield forwards[0].address
    finally:
        for fwd in forwards:
            fwd.close()
