"""The target guard: which cluster this run may touch, decided before the first request.

platformctl talks only to minikube's profile context, or exactly the `--context` given; kubeconfig's
current-context is never used implicitly, and a context kubeconfig does not have is refused before anything
is sent (WrongTargetError, exit 2). Every command that reaches a cluster goes through here: `up`, `down`,
`status`, `doctor`, `port-forward`, and the forwards `topics` and `overrides` open to the platform. It sits
below all of them and imports only the adapters it asks (kubeconfig, minikube's profile), so
nothing that must not touch the wrong cluster has to reach up into a command's logic for it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from platformctl.errors import WrongTargetError

if TYPE_CHECKING:
    from platformctl.adapters.kubeconfig import Target
    from platformctl.settings import Settings


def uses_minikube(settings: Settings) -> bool:
    """minikube unless a context was named: then minikube is never touched."""
    return settings.context is None


def intended_context(settings: Settings) -> tuple[str, str]:
    """(the only context this run may use, where that choice came from)."""
    if settings.context is not None:
        return settings.context, "--context"
    return settings.minikube.profile, "minikube.profile"


def target(settings: Settings) -> Target:
    """The guard: the intended context resolved from kubeconfig, or WrongTargetError (nothing sent)."""
    from platformctl.adapters import kubeconfig

    context, origin = intended_context(settings)
    return kubeconfig.resolve_target(context, origin=origin)


def require_cluster(settings: Settings, *, minikube_first: bool = False) -> Target:
    """`target` for a command that needs the cluster (status, port-forward). In minikube mode, a missing
    context is explained by minikube when it can be (`minikube is not installed`, `profile ... is not
    running`: exit 1, as `up` says it) rather than as a wrong target; `minikube_first` asks minikube before
    anything else (status: a stopped profile's API server would only time out)."""
    if not uses_minikube(settings):
        return target(settings)
    from platformctl.adapters import minikube

    if minikube_first:
        minikube.require_running(settings.minikube.profile)
    try:
        return target(settings)
    except WrongTargetError:
        minikube.require_running(settings.minikube.profile)
        raise
