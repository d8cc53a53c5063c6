"""The Kubernetes adapter: the only module that imports the official `kubernetes` client.

Everything that talks to an API server goes through here, so client exceptions are translated into
`PlatformError`s in one place (`raise ... from e`), and the rest of platformctl deals in dicts and
plain values. `import kubernetes` costs ~0.6 s: this module is imported only by commands that need it.
"""

from __future__ import annotations

from kubernetes import client as k8s_client
from kubernetes import config as k8s_config

from platformctl.errors import InputError, PlatformError


def kubeconfig_contexts() -> tuple[list[str], str | None]:
    """(all context names, the current one) from the user's kubeconfig."""
    try:
        contexts, current = k8s_config.list_kube_config_contexts()
    except (k8s_config.ConfigException, FileNotFoundError) as e:
        raise PlatformError(f"cannot read kubeconfig: {e}", hint="is KUBECONFIG set correctly?") from e
    names = [c["name"] for c in contexts or []]
    return names, (current or {}).get("name")


def api_client(context: str) -> k8s_client.ApiClient:
    """An API client for exactly this context (never the kubeconfig's current one by accident)."""
    names, _ = kubeconfig_contexts()
    if context not in names:
        raise InputError(
            f"kube context {context!r} not found in kubeconfig (have: {', '.join(names) or 'none'})",
            field="--context",
        )
    try:
        api: k8s_client.ApiClient = k8s_config.new_client_from_config(context=context)
        return api
    except k8s_config.ConfigException as e:
        raise PlatformError(f"kube context {context!r} is unusable: {e}") from e
