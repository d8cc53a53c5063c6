"""How a command reaches Kafka and etcd: the endpoint given (flag, env var, platformctl.yaml).

`topics` and `overrides` never guess an address: an endpoint the user gave is used as it is, and
without one the command says how to give one. No Typer here: commands parse options into `Override`s
with `endpoint_overrides`, build `Settings`, and ask this module for a store.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from platformctl.config import ENV_ETCD_ENDPOINT, Override
from platformctl.errors import InputError

if TYPE_CHECKING:
    from platformctl.etcd import EtcdStore
    from platformctl.settings import Settings


def endpoint_overrides(
    *, bootstrap_server: str | None = None, etcd_endpoint: str | None = None
) -> tuple[Override, ...]:
    """`--bootstrap-server` / `--etcd-endpoint` as settings overrides (flag > env var > file)."""
    given = []
    if bootstrap_server:
        given.append(Override("kafka.bootstrap-server", bootstrap_server, "--bootstrap-server"))
    if etcd_endpoint:
        given.append(Override("etcd.endpoint", etcd_endpoint, f"--etcd-endpoint / {ENV_ETCD_ENDPOINT}"))
    return tuple(given)


def etcd_store(settings: Settings) -> EtcdStore:
    """A store for the configured etcd; exit 2 saying how to configure one if none is."""
    from platformctl.etcd import EtcdStore

    if settings.etcd.endpoint is None:
        raise InputError(
            "no etcd endpoint configured",
            path="command line",
            field="--etcd-endpoint",
            hint=f"pass --etcd-endpoint http://127.0.0.1:2379, set {ENV_ETCD_ENDPOINT}, or set etcd.endpoint "
            "in platformctl.yaml (reach the platform's etcd: `kubectl port-forward -n dev svc/etcd 2379`)",
        )
    return EtcdStore(settings.etcd.endpoint)
