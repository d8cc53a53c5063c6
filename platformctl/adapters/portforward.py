"""The Kubernetes side of `port-forward`: Service (or pod) -> ready pod -> `kubernetes.stream.portforward`.

`forward.py` relays bytes between 127.0.0.1 and an upstream stream and knows nothing of Kubernetes;
this module supplies those streams: to a ready pod behind a Service or, for each Kafka broker, to that
broker's own pod (its HOST listener is advertised per pod, so no Service can stand in for it). The client's
`portforward` gives an in-process socket, not a local port, so every accepted connection asks here for a
fresh stream, and the pod is resolved again each time: when it is replaced, new connections reach the new
one.
Like `adapters/kube.py`, it imports the `kubernetes` client and is imported only by commands that forward;
which context it may forward through is the target guard's (platform/forwarding.py asks it).
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

import urllib3
from kubernetes import client as k8s_client
from kubernetes.client.exceptions import ApiException

from platformctl import hints
from platformctl.adapters import kube, kubeconfig
from platformctl.errors import PlatformError
from platformctl.forward import Stream

T = TypeVar("T")


@dataclass(frozen=True)
class PodPort:
    """A ready pod behind a Service, and the container port its service port maps to."""

    namespace: str
    pod: str
    uid: str
    port: int

    def describe(self) -> str:
        return f"pod {self.namespace}/{self.pod} port {self.port} (uid {self.uid[:8]})"


def ready_pod(
    service: dict[str, Any], slices: list[dict[str, Any]], service_port: int, *, prefer: str | None = None
) -> PodPort:
    """Pick a ready pod for `service_port` from the Service and its EndpointSlices (API JSON dicts).

    The endpoints controller has already resolved a named `targetPort` to each pod's container port and
    records it under the service port's *name* in the slice, so no pod spec needs reading. Endpoints whose
    `conditions.ready` is absent count as ready (EndpointConditions API docs). `prefer` (a pod uid) keeps
    new connections on the pod in use while it stays ready.
    """
    meta = service.get("metadata", {})
    namespace, name = meta.get("namespace", ""), meta.get("name", "")
    ports = service.get("spec", {}).get("ports") or []
    port_name = next((p.get("name") or "" for p in ports if p.get("port") == service_port), None)
    if port_name is None:
        have = ", ".join(str(p.get("port")) for p in ports) or "none"
        raise PlatformError(
            f"service {namespace}/{name} has no port {service_port} (has: {have})",
            hint=f"the Service differs from what platformctl renders; `{hints.command('up')}` converges it",
        )
    candidates: dict[str, PodPort] = {}
    for piece in slices:
        number = next(
            (p.get("port") for p in piece.get("ports") or [] if (p.get("name") or "") == port_name), None
        )
        if not isinstance(number, int):
            continue
        for endpoint in piece.get("endpoints") or []:
            ref = endpoint.get("targetRef") or {}
            if ref.get("kind") != "Pod" or (endpoint.get("conditions") or {}).get("ready") is False:
                continue
            uid = str(ref.get("uid", ""))
            candidates[uid] = PodPort(ref.get("namespace") or namespace, str(ref.get("name")), uid, number)
    if not candidates:
        raise PlatformError(
            f"service {namespace}/{name} has no ready pod",
            hint=f"`{hints.command('status')}` shows which component is not ready; "
            f"`{hints.command('up')}` waits for them",
        )
    if prefer in candidates:
        return candidates[prefer]
    return min(candidates.values(), key=lambda p: (p.pod, p.uid))


def _endpoints_as_slices(endpoints: dict[str, Any]) -> list[dict[str, Any]]:
    """core/v1 Endpoints in EndpointSlice shape, for servers older than discovery.k8s.io/v1 (1.21)."""
    slices = []
    for subset in endpoints.get("subsets") or []:
        members = [(a, True) for a in subset.get("addresses") or []]
        members += [(a, False) for a in subset.get("notReadyAddresses") or []]
        listed = [{"conditions": {"ready": r}, "targetRef": a.get("targetRef")} for a, r in members]
        slices.append({"ports": subset.get("ports") or [], "endpoints": listed})
    return slices


def pod_port(pod: dict[str, Any], port_name: str) -> PodPort:
    """A pod (API JSON) that is ready, and the number of its container port named `port_name`.

    For forwards to one particular pod (each Kafka broker: its HOST listener is advertised per pod, so a
    Service, which picks any pod, cannot carry it).
    """
    meta, spec, status = pod.get("metadata", {}), pod.get("spec", {}), pod.get("status", {})
    where = f"pod {meta.get('namespace', '')}/{meta.get('name', '')}"
    numbers = [
        p.get("containerPort")
        for c in spec.get("containers") or []
        for p in c.get("ports") or []
        if p.get("name") == port_name
    ]
    if not numbers or not isinstance(numbers[0], int):
        raise PlatformError(
            f"{where} has no container port named {port_name!r}",
            hint=f"the pod differs from what platformctl renders; `{hints.command('up')}` converges it",
        )
    ready = any(c.get("type") == "Ready" and c.get("status") == "True" for c in status.get("conditions") or [])
    if meta.get("deletionTimestamp") or not ready:
        raise PlatformError(
            f"{where} is not ready",
            hint=f"`{hints.command('status')}` shows which component is not ready; "
            f"`{hints.command('up')}` waits for them",
        )
    return PodPort(str(meta.get("namespace", "")), str(meta.get("name", "")), str(meta.get("uid", "")), numbers[0])


class _Opener:
    """Opens a new `kubernetes.stream.portforward` to a ready pod, once per call; subclasses find the pod.

    The pod is resolved again on every call, so when it is replaced the next connection reaches the new
    one. Calls are serialized: `kubernetes.stream.portforward` swaps `call_api` on the shared `ApiClient`
    while it opens the websocket (kubernetes/stream/stream.py), which is not thread-safe.
    """

    def __init__(self, api: k8s_client.ApiClient, namespace: str, *, context: str = "") -> None:
        self._api = api
        self._context = context
        self._namespace = namespace
        self._lock = threading.Lock()

    def describe(self, pod: PodPort) -> str:
        return pod.describe()

    def close(self) -> None:
        """Release the API client's connection pool (the forward calls this when it closes)."""
        self._api.close()

    def resolve(self) -> PodPort:
        raise NotImplementedError

    def _read(self, where: str, read: Callable[[], T]) -> T:
        """API reads, their errors turned into one-line `PlatformError`s naming `where`."""
        try:
            return read()
        except ApiException as e:
            if e.status == 404:
                raise PlatformError(f"{where} not found", hint=f"run `{hints.command('up')}` first") from e
            raise PlatformError(f"cannot read {where}: {_reason(e)}") from e
        except (urllib3.exceptions.HTTPError, OSError) as e:
            raise kube.transport_error(e, self._api.configuration.host, self._context, f"resolving {where}") from e

    def __call__(self) -> Stream:
        from kubernetes import stream as k8s_stream

        with self._lock:
            pod = self.resolve()
            try:
                pf = k8s_stream.portforward(
                    k8s_client.CoreV1Api(self._api).connect_get_namespaced_pod_portforward,
                    pod.pod,
                    pod.namespace,
                    ports=str(pod.port),
                )
            except ApiException as e:
                raise PlatformError(f"cannot open a port-forward to {pod.describe()}: {_reason(e)}") from e
        return Stream(
            sock=pf.socket(pod.port), peer=pod.describe(), error=lambda: pf.error(pod.port), close=pf.close
        )


class ServiceOpener(_Opener):
    """Forwards to a ready pod behind a Service, preferring the pod in use while it stays ready."""

    def __init__(
        self, api: k8s_client.ApiClient, namespace: str, service: str, service_port: int, *, context: str = ""
    ) -> None:
        super().__init__(api, namespace, context=context)
        self._service = service
        self._service_port = service_port
        self._current: str | None = None

    def resolve(self) -> PodPort:
        where = f"service {self._namespace}/{self._service}"
        core = k8s_client.CoreV1Api(self._api)

        def read() -> tuple[dict[str, Any], list[dict[str, Any]]]:
            service = _json(
                core.read_namespaced_service(
                    self._service, self._namespace, _preload_content=False, _request_timeout=kube.REQUEST_TIMEOUT
                )
            )
            try:
                slices = k8s_client.DiscoveryV1Api(self._api).list_namespaced_endpoint_slice(
                    self._namespace,
                    label_selector=f"kubernetes.io/service-name={self._service}",
                    _preload_content=False,
                    _request_timeout=kube.REQUEST_TIMEOUT,
                )
                return service, _json(slices).get("items", [])
            except ApiException as e:
                if e.status != 404:
                    raise
            endpoints = core.read_namespaced_endpoints(
                self._service, self._namespace, _preload_content=False, _request_timeout=kube.REQUEST_TIMEOUT
            )
            return service, _endpoints_as_slices(_json(endpoints))

        service, slices = self._read(where, read)
        pod = ready_pod(service, slices, self._service_port, prefer=self._current)
        self._current = pod.uid
        return pod


class PodOpener(_Opener):
    """Forwards to one named pod's named container port (a Kafka broker's HOST listener)."""

    def __init__(
        self, api: k8s_client.ApiClient, namespace: str, pod: str, port_name: str, *, context: str = ""
    ) -> None:
        super().__init__(api, namespace, context=context)
        self._pod = pod
        self._port_name = port_name

    def resolve(self) -> PodPort:
        core = k8s_client.CoreV1Api(self._api)
        found = self._read(
            f"pod {self._namespace}/{self._pod}",
            lambda: _json(
                core.read_namespaced_pod(
                    self._pod, self._namespace, _preload_content=False, _request_timeout=kube.REQUEST_TIMEOUT
                )
            ),
        )
        return pod_port(found, self._port_name)


def service_opener(context: str, namespace: str, service: str, service_port: int) -> ServiceOpener:
    return ServiceOpener(kubeconfig.api_client(context), namespace, service, service_port, context=context)


def pod_opener(context: str, namespace: str, pod: str, port_name: str) -> PodOpener:
    return PodOpener(kubeconfig.api_client(context), namespace, pod, port_name, context=context)


def _json(response: Any) -> dict[str, Any]:
    data = json.loads(response.data)
    if not isinstance(data, dict):
        raise PlatformError(f"unexpected answer from the API server: {str(data)[:200]}")
    return data


def _reason(e: ApiException) -> str:
    """The API's own message (a Status object's `message`) when there is one, else the HTTP reason."""
    try:
        message = json.loads(e.body or "").get("message")
    except (ValueError, AttributeError):
        message = None
    status = f"HTTP {e.status}: " if e.status else ""
    return f"{status}{message or e.reason}"
