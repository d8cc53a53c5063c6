"""`platformctl doctor`: the checks for what goes wrong before it does, each passing or saying what to do.

minikube and a driver on PATH, the host's memory and CPUs against the minikube settings, what the platform
(with kafka.brokers brokers) requests against minikube's CPUs and memory, the kube context, the ports
`port-forward` needs on 127.0.0.1 (one per Kafka broker), the server version against the security mode,
and pinned images. A failed check never raises: the CLI prints them all, then exits 1 if any failed.
Only the intended context is ever contacted (the same guard as `up`), and nothing is started.
"""

from __future__ import annotations

import os
import shutil
import socket
from dataclasses import dataclass
from typing import TYPE_CHECKING

from platformctl import hints, ui
from platformctl.errors import PlatformError
from platformctl.platform import render
from platformctl.platform.guard import intended_context, target, uses_minikube

if TYPE_CHECKING:
    from platformctl.settings import Settings

DRIVERS = {
    "docker": "docker",
    "podman": "podman",
    "kvm2": "virsh",
    "qemu2": "qemu-system-x86_64",
    "virtualbox": "VBoxManage",
    "hyperkit": "hyperkit",
    "vfkit": "vfkit",
    "parallels": "prlctl",
    "vmware": "vmrun",
}


@dataclass
class Check:
    name: str
    ok: bool
    detail: str
    fix: str | None = None


def _host_memory_mb() -> int | None:
    try:
        return int(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") // (1024 * 1024))
    except (ValueError, OSError, AttributeError):
        return None


def port_free(port: int) -> bool:
    """Can something listen on 127.0.0.1:port? (SO_REUSEADDR: a TIME_WAIT leftover is not a user.)"""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def forward_ports(settings: Settings) -> list[tuple[str, int]]:
    """(target, local port) of every port-forward the rendered platform offers (the flavor and the number of
    Kafka brokers decide: one local port per broker)."""
    from platformctl.platform import forwarding
    from platformctl.platform.render import components

    names = [name for c in components(settings) for name in c.ports]
    return [(plan.name, plan.local_port) for plan in forwarding.targets(settings, names)]


def port_state(port: int) -> tuple[bool, str | None]:
    """(free, who holds it): read from /proc where it can be, else by trying to bind."""
    from platformctl import forward

    in_use = forward.port_in_use(port)
    if in_use is None:
        return port_free(port), None
    return not in_use, forward.port_holder(port) if in_use else None


def run(settings: Settings) -> list[Check]:
    """Every check, each passing or saying what to do; never raises for a failed check."""
    checks: list[Check] = []
    mk = settings.minikube
    running_profile = None
    if uses_minikube(settings):
        from platformctl.adapters import minikube

        found_minikube = shutil.which(minikube.MINIKUBE)
        checks.append(
            Check("minikube", True, found_minikube)
            if found_minikube
            else Check(
                "minikube",
                False,
                "not found on PATH",
                "install it: https://minikube.sigs.k8s.io/docs/start/ (or use an existing cluster with --context)",
            )
        )
        checks.append(_driver_check(mk.driver))
        memory = _host_memory_mb()
        if memory is not None:
            checks.append(
                Check("memory", True, f"host {memory} MB >= minikube.memory {mk.memory} MB")
                if memory >= mk.memory
                else Check(
                    "memory",
                    False,
                    f"host has {memory} MB, minikube.memory asks for {mk.memory} MB",
                    "lower minikube.memory in platformctl.yaml (and the components' resources with it)",
                )
            )
        cpus = os.cpu_count() or 0
        checks.append(
            Check("cpus", True, f"host {cpus} >= minikube.cpus {mk.cpus}")
            if cpus >= mk.cpus
            else Check("cpus", False, f"host has {cpus} CPUs, minikube.cpus is {mk.cpus}", "lower minikube.cpus")
        )
        if found_minikube:
            try:
                profile = minikube.profile(mk.profile)
                running = (profile.kubernetes_version or "").lstrip("v") if profile is not None else ""
                if profile is not None and running and running != mk.kubernetes_version.lstrip("v"):
                    checks.append(
                        Check(
                            "minikube version",
                            False,
                            f"profile {mk.profile!r} runs {profile.kubernetes_version}, "
                            f"configured {mk.kubernetes_version}",
                            f"set minikube.kubernetes-version: {profile.kubernetes_version}, or "
                            f"`minikube delete -p {mk.profile}`",
                        )
                    )
                running_profile = profile if profile is not None and profile.running else None
            except PlatformError as e:
                checks.append(Check("minikube profile", False, str(e), e.hint))

    checks.append(_resources_check(settings))
    checks.append(_context_check(settings, running_profile is not None))
    for forward_target, port in forward_ports(settings):
        free, holder = port_state(port)
        checks.append(
            Check(f"port {port}", True, f"free on 127.0.0.1 (port-forward {forward_target})")
            if free
            else Check(
                f"port {port}",
                False,
                f"in use on 127.0.0.1{f' by {holder}' if holder else ''} (port-forward {forward_target} needs it)",
                f"stop what listens there (`ss -ltnp 'sport = :{port}'` shows it)",
            )
        )
    checks.append(_version_check(settings, running_profile is not None or not uses_minikube(settings)))
    checks.append(_images_check(settings))
    return checks


def _docker_problem() -> str | None:
    """Why the host's Docker daemon does not answer, or None when it does (the binary alone is not a driver:
    `minikube start --driver=docker` needs the daemon)."""
    from platformctl.adapters import dockerhost

    try:
        dockerhost.connect()
    except PlatformError as e:
        return e.message
    return None


def _driver_check(driver: str | None) -> Check:
    wanted = [driver] if driver else list(DRIVERS)
    present = [d for d in wanted if d in DRIVERS and shutil.which(DRIVERS[d])]
    if driver and driver not in DRIVERS:
        present = [driver] if shutil.which(driver) else []
    silent = _docker_problem() if "docker" in present else None
    if silent is not None:
        present.remove("docker")
        if not present:
            return Check(
                "driver",
                False,
                f"docker is installed, but {silent}",
                "start Docker (Docker Desktop, or `sudo systemctl start docker`), or set minikube.driver to "
                "another driver you have",
            )
        return Check("driver", True, f"{', '.join(present)} (docker is installed, but its daemon does not answer)")
    if not present:
        return Check(
            "driver",
            False,
            f"no {'driver ' + driver if driver else 'minikube driver'} found",
            "install Docker or Podman (or kvm2/qemu), or set minikube.driver to one you have",
        )
    return Check("driver", True, ", ".join(d + (" (the daemon answers)" if d == "docker" else "") for d in present))


def checks_text(checks: list[Check], *, colour: bool = False) -> str:
    """The checks as aligned plain lines, each fix on its own line below its check: nothing is cut or
    folded at any width (a URL stays whole), and FAIL is red on a terminal."""
    width = max(len(c.name) for c in checks)
    lines = ["platformctl doctor"]
    for c in checks:
        result = "ok  " if c.ok else "FAIL"
        if colour:
            result = ui.paint(result, "green" if c.ok else "bold red")
        lines.append(f"{c.name.ljust(width)}  {result}  {c.detail}".rstrip())
        if not c.ok and c.fix:
            lines.append(f"{' ' * width}        fix: {c.fix}")
    return "\n".join(lines)


def _resources_check(settings: Settings) -> Check:
    """What the platform (kafka.brokers brokers and the rest) requests against minikube's CPUs and memory."""
    from platformctl.platform import sizing

    try:
        fit = sizing.fit(settings)
    except PlatformError as e:
        return Check("resources", False, str(e), e.hint)
    return Check("resources", fit.ok, fit.detail, fit.fix)


def _context_check(settings: Settings, minikube_running: bool) -> Check:
    from platformctl.adapters import kubeconfig

    context, origin = intended_context(settings)
    try:
        names, current = kubeconfig.kubeconfig_contexts()
    except PlatformError as e:
        return Check("kube context", False, str(e), e.hint)
    if context in names:
        note = "" if current == context else f" (kubeconfig's current context is {current!r}; not used)"
        return Check("kube context", True, f"{context!r} found{note}")
    if uses_minikube(settings) and not minikube_running:
        return Check("kube context", True, f"{context!r} will be created by `{hints.command('up')}` (minikube start)")
    fix = f"`minikube update-context -p {context}`" if uses_minikube(settings) else "pass an existing --context"
    return Check("kube context", False, f"{context!r} ({origin}) not in kubeconfig {kubeconfig.kubeconfig_path()}", fix)


def _version_check(settings: Settings, reachable: bool) -> Check:
    from platformctl.adapters import kube

    if not reachable:
        version = render.parse_version(settings.minikube.kubernetes_version, origin="minikube.kubernetes-version")
        mode = render.security_mode(settings, version)
        if mode.mechanism == "pod-security-policy":
            return Check(
                "security mode",
                True,
                f"{version}: {mode.describe()}; needs a minikube release that still starts Kubernetes {version}",
            )
        return Check("security mode", True, f"{version} (configured): {mode.describe()}")
    try:
        cluster = kube.Cluster.connect(target(settings))
        try:
            server = cluster.version()
        finally:
            cluster.close()
        version = render.parse_version(server, origin="server version")
    except PlatformError as e:
        return Check("security mode", False, str(e), e.hint)
    mode = render.security_mode(settings, version)
    return Check("security mode", True, f"server {server}: {mode.describe()}")


def _images_check(settings: Settings) -> Check:
    floating = []
    for component in render.components(settings):
        image = component.image
        tag = image.rsplit("/", 1)[-1].partition(":")[2] if "@" not in image else "digest"
        if not tag or tag == "latest":
            floating.append(f"{component.name}: {image}")
    if floating:
        return Check("pinned images", False, "; ".join(floating), "pin an exact tag in platformctl.yaml")
    return Check("pinned images", True, ", ".join(c.image for c in render.components(settings)))
