"""Which clusters the user's kubeconfig offers, and a client for exactly one of them.

The target guard (platform/guard.py) decides which context a run may use; this module answers from
kubeconfig: the context names (never its current-context, which platformctl does not use implicitly),
`resolve_target` refusing a context kubeconfig does not have before any request is sent (exit 2), and
an API client bound to exactly the resolved context. $KUBECONFIG is read when asked, not at import as the
client's default is, and a kubeconfig that is not one is bad input naming the file and line.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import yaml
from kubernetes import client as k8s_client
from kubernetes import config as k8s_config

from platformctl import hints
from platformctl.errors import InputError, PlatformError, WrongTargetError


def kubeconfig_path() -> str:
    """$KUBECONFIG (read now, not at import as the client's default is) or ~/.kube/config."""
    return os.environ.get("KUBECONFIG") or str(Path("~/.kube/config").expanduser())


def kubeconfig_contexts() -> tuple[list[str], str | None]:
    """(all context names, the current one) from the user's kubeconfig; ([], None) when there is none."""
    path = kubeconfig_path()
    if not any(Path(p).is_file() for p in path.split(os.pathsep) if p):
        return [], None
    # Not `list_kube_config_contexts`: it refuses a kubeconfig without a current context (what `minikube
    # delete` or `kubectl config unset current-context` leave), and platformctl never uses that one anyway.
    try:
        merged = k8s_config.kube_config.KubeConfigMerger(path).config
        data = merged.value if merged is not None else {}
        names = [str(c["name"]) for c in data.get("contexts") or []]
    except yaml.MarkedYAMLError as e:
        mark = e.problem_mark
        raise InputError(
            f"not a kubeconfig: {one_line(str(e.problem or e))}",
            path=mark.name if mark is not None else path,
            line=mark.line + 1 if mark is not None else None,
            hint="is KUBECONFIG set correctly?",
        ) from e
    except (k8s_config.ConfigException, OSError, yaml.YAMLError) as e:
        raise InputError(f"not a kubeconfig: {one_line(str(e))}", path=path, hint="is KUBECONFIG set correctly?") from e
    except (ValueError, TypeError, KeyError, AttributeError) as e:
        raise InputError(
            "not a kubeconfig: expected a mapping whose `contexts` each have a `name`",
            path=path,
            hint="is KUBECONFIG set correctly?",
        ) from e
    current = data.get("current-context")
    return names, str(current) if current else None


@dataclass(frozen=True)
class Target:
    """The one kube context a command may talk to, resolved from kubeconfig before any request."""

    context: str
    current: str | None  # kubeconfig's current-context, for messages only: never used implicitly


def resolve_target(intended: str, *, origin: str) -> Target:
    """Refuse (exit 2, nothing sent) unless kubeconfig has exactly the intended context.

    `intended` is minikube's profile name or the `--context` given. platformctl never falls back to
    kubeconfig's current-context: acting on whatever cluster a shell last pointed at is how a dev
    tool deletes production.
    """
    names, current = kubeconfig_contexts()
    if intended not in names:
        where = f"kubeconfig {kubeconfig_path()}"
        also = f"; its current context is {current!r}, which platformctl never uses implicitly" if current else ""
        raise WrongTargetError(
            f"kube context {intended!r} not found in {where} (have: {', '.join(names) or 'none'}){also}",
            field=origin,
            hint=_missing_context_hint(origin, names),
        )
    return Target(context=intended, current=current)


def _missing_context_hint(origin: str, names: list[str]) -> str:
    if origin != "--context":
        return f"start it with `{hints.command('up')}` (minikube), or use an existing cluster with --context NAME"
    if names:
        return "pass --context with one of the contexts listed"
    return "this kubeconfig has no contexts: point KUBECONFIG at the one that has the cluster, or drop --context"


def api_client(context: str) -> k8s_client.ApiClient:
    """An API client for exactly this context (never the kubeconfig's current one by accident)."""
    names, _ = kubeconfig_contexts()
    if context not in names:
        raise InputError(
            f"kube context {context!r} not found in kubeconfig (have: {', '.join(names) or 'none'})",
            field="--context",
        )
    try:
        return k8s_config.new_client_from_config(config_file=kubeconfig_path(), context=context)
    except (k8s_config.ConfigException, OSError, ValueError) as e:
        raise PlatformError(f"kube context {context!r} is unusable: {e}") from e


def one_line(text: str) -> str:
    """Server messages and log lines as one line of an error."""
    return " ".join(str(text).split())
