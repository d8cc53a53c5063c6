"""`platformctl port-forward`: loopback-only forwards until Ctrl-C (logic: platform/forwarding.py, the relay in
forward.py, the streams in adapters/portforward.py)."""

from __future__ import annotations

from typing import Annotated

import typer

from platformctl import ui
from platformctl.commands import base, completion


@base.command(base.app, "port-forward", short_help="Forward platform services to 127.0.0.1 until Ctrl-C.")
def port_forward(
    ctx: typer.Context,
    names: Annotated[
        list[str],
        typer.Argument(
            metavar="TARGET[:PORT]",
            autocompletion=completion.forward_targets,
            help="kafka-ui, schema-registry, kafka, etcd, fluentd; several at once are fine. "
            ":PORT picks the local port (0: any free one; default: the service port). "
            "kafka opens one forward per broker, on 9092, 9093, ...",
            show_default=False,
        ),
    ],
    port: Annotated[
        int | None,
        typer.Option(
            "--port",
            metavar="PORT",
            help="Local port for a single target (0 picks a free one; default: the service port). "
            "kafka always uses 9092 (and 9093, ... for more brokers), the ports the brokers advertise.",
            show_default=False,
        ),
    ] = None,
) -> None:
    """Forward platform services to 127.0.0.1 (only) until Ctrl-C; prints one URL per target.

    Every connection opens its own forward to a ready pod, so the forward outlives pod restarts.
    """
    from platformctl import config, forward
    from platformctl.platform import forwarding

    settings = config.settings(base.options(ctx))
    plans = forwarding.targets(settings, names, port)
    forwards = forwarding.build_all(settings, plans)

    def announce() -> None:
        for plan, fwd in zip(plans, forwards, strict=True):
            ui.info(f"{plan.name}: {fwd.url()} -> {plan.describe(settings.namespace)}")
            ui.data(fwd.url())
        ui.info("forwarding; press Ctrl-C to stop")

    forward.serve(forwards, on_ready=announce)
