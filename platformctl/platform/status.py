"""`status` lives apart from `up` and `down` because it only reads and is what people look at when something
is wrong: it gathers the cluster, the security mode in force and each component's readiness as plain data
(`--output json` prints that data as it is, so its keys are a contract), and the table is drawn from that
data alone. The target guard is platform/guard.py's, shared with `up`, `down` and `doctor`. No Typer here.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from platformctl import ui
from platformctl.errors import PlatformError
from platformctl.platform import render
from platformctl.platform.guard import intended_context, require_cluster, uses_minikube

if TYPE_CHECKING:
    from platformctl.adapters.kube import Cluster
    from platformctl.settings import Settings


def security_report(cluster: Cluster, settings: Settings, version: render.KubeVersion) -> dict[str, Any]:
    """The security mode in force (namespace labels, policies present) next to the expected one."""
    from platformctl.adapters import kube

    ns = settings.namespace
    expected = render.security_mode(settings, version)
    namespace = cluster.get(kube.NAMESPACE, None, ns)
    labels = ((namespace or {}).get("metadata") or {}).get("labels") or {}
    enforce = labels.get("pod-security.kubernetes.io/enforce")
    report: dict[str, Any] = {
        "expected": expected.describe(),
        "namespace_exists": namespace is not None,
        "pod_security_enforce": enforce,
        "pod_security_version": labels.get("pod-security.kubernetes.io/enforce-version"),
    }
    selector = render.selector(ns)
    if expected.clusterip_policy:
        vap = next(k for k in kube.KINDS if k.kind == "ValidatingAdmissionPolicy")
        report["clusterip_policy"] = bool(cluster.list_objects(vap, None, selector))
    if expected.mechanism == "pod-security-policy":
        psp = next(k for k in kube.KINDS if k.kind == "PodSecurityPolicy")
        report["pod_security_policy"] = [o["metadata"]["name"] for o in cluster.list_objects(psp, None, selector)]
    if expected.mechanism == "pod-security-admission":
        report["in_force"] = f"pod-security-admission ({enforce})" if enforce else "none"
    else:
        report["in_force"] = (
            f"pod-security-policy ({', '.join(report['pod_security_policy'])})"
            if report["pod_security_policy"]
            else "none"
        )
    return report


def status(settings: Settings) -> tuple[dict[str, Any], PlatformError | None]:
    """Cluster, server version, security mode and each component's readiness, as plain data; and why
    there is no cluster to report on (minikube not running, no such context, API server unreachable), in
    which case the report says so (`cluster.reachable` false, components `unknown`)."""
    from platformctl.adapters import kube
    from platformctl.platform import kubesync

    components = render.components(settings)
    try:
        cluster = kube.Cluster.connect(require_cluster(settings, minikube_first=True))
        server_version = cluster.version()
    except PlatformError as e:
        context, _ = intended_context(settings)
        return _no_cluster(settings, context, components, e), e
    try:
        version = render.parse_version(server_version, origin=f"server version of {cluster.target.context}")
        security = security_report(cluster, settings, version)
        ns = settings.namespace
        states = kubesync.workload_states(cluster, ns, render.selector(ns), [(c.kind, c.name) for c in components])
    finally:
        cluster.close()
    report = {
        "cluster": {
            "context": cluster.target.context,
            "server": cluster.server,
            "version": server_version,
            "minikube_profile": settings.minikube.profile if uses_minikube(settings) else None,
            "reachable": True,
            "problem": None,
        },
        "namespace": settings.namespace,
        "security": security,
        "components": [
            {
                "name": c.name,
                "kind": c.kind,
                "image": c.image,
                "service": c.service,
                "ready": f"{s.ready}/{s.desired}" if s.exists else "0/0",
                "state": "ready" if s.ready_now else ("missing" if not s.exists else "not ready"),
                "detail": s.summary,
                "forwards": {t: f"127.0.0.1:{p}" for t, p in forward_ports(settings, c).items()},
                "local_ports": {t: local_port(p) for t, p in forward_ports(settings, c).items()},
            }
            for c, s in zip(components, states, strict=True)
        ],
        "ready": all(s.ready_now for s in states),
    }
    return report, None


def _no_cluster(settings: Settings, context: str, components: list[Any], e: PlatformError) -> dict[str, Any]:
    return {
        "cluster": {
            "context": context,
            "server": None,
            "version": None,
            "minikube_profile": settings.minikube.profile if uses_minikube(settings) else None,
            "reachable": False,
            "problem": str(e),
        },
        "namespace": settings.namespace,
        "security": None,
        "components": [
            {
                "name": c.name,
                "kind": c.kind,
                "image": c.image,
                "service": c.service,
                "ready": None,
                "state": "unknown",
                "detail": "no cluster",
                "forwards": {t: f"127.0.0.1:{p}" for t, p in forward_ports(settings, c).items()},
                "local_ports": {t: local_port(p) for t, p in forward_ports(settings, c).items()},
            }
            for c in components
        ],
        "ready": False,
    }


def forward_ports(settings: Settings, component: Any) -> dict[str, int]:
    """The local port of each port-forward a component offers: Kafka's one per broker (`kafka`, then
    `kafka-1`, `kafka-2`, ... on 9093, 9094, ...), every other target its own."""
    from platformctl.platform import forwarding

    ports: dict[str, int] = {}
    for name in component.ports:
        for i, plan in enumerate(forwarding.targets(settings, [name])):
            ports[name if i == 0 else f"{name}-{i}"] = plan.local_port
    return ports


def local_port(port: int) -> dict[str, Any]:
    """Whether the local end of a port-forward is taken (by a running `port-forward`, or by something else)."""
    from platformctl import forward

    in_use = forward.port_in_use(port)
    holder = forward.port_holder(port) if in_use else None
    return {"address": f"127.0.0.1:{port}", "in_use": in_use, "holder": holder}


def _forward_detail(target: str, state: dict[str, Any]) -> str:
    text = f"{target} -> {state['address']}"
    if state["in_use"]:
        text += f" (in use by {state['holder']})" if state["holder"] else " (in use)"
    return text


def security_in_force(security: dict[str, Any]) -> str:
    """What enforces the namespace's security, the ClusterIP-only policy included when it is there."""
    text = str(security["in_force"])
    if security.get("clusterip_policy"):
        text += " + ClusterIP-only admission policy"
    return text


_STATE_COLOURS = {"ready": "green", "not ready": "yellow", "missing": "red", "unknown": "red", "none": "red"}


def status_text(report: dict[str, Any], *, colour: bool = False) -> str:
    """The report as aligned plain lines: nothing is cut at any width (a terminal wraps a long line; a
    table would fold a URL in two), and states are coloured on a terminal."""
    cluster, security = report["cluster"], report["security"]
    rows: list[tuple[str, str, str, str | None]] = []  # name, state, detail, the state's colour
    if not cluster["reachable"]:
        rows.append(("cluster", "none", cluster["problem"], _STATE_COLOURS["none"]))
    else:
        rows.append(("cluster", cluster["context"], cluster["server"], None))
        rows.append(("kubernetes", cluster["version"], "", None))
        in_force = security_in_force(security)
        same = in_force == security["expected"]
        rows.append(("security", in_force, "as expected" if same else f"expected: {security['expected']}", None))
    for c in report["components"]:
        forwards = ", ".join(_forward_detail(t, state) for t, state in c["local_ports"].items())
        state = c["state"] if c["ready"] is None else f"{c['state']} {c['ready']}"
        detail = forwards if c["state"] == "ready" else c["detail"]
        rows.append((c["name"], state, detail, _STATE_COLOURS.get(c["state"])))
    first = max(len(r[0]) for r in rows)
    second = max(len(r[1]) for r in rows)
    lines = [f"platformctl status: namespace {report['namespace']}"]
    for name, state, detail, paint in rows:
        shown = ui.paint(state.ljust(second), paint) if colour and paint else state.ljust(second)
        lines.append(f"{name.ljust(first)}  {shown}  {detail}".rstrip())
    return "\n".join(lines)
