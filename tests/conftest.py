"""Shared test fixtures: the CLI runner, and (as pytest plugins) the real local components.

Real servers (the Tansu Kafka broker, etcd) are started once per session on free 127.0.0.1 ports by
the plugins listed below and stopped by PID. Fakes (Kubernetes API, minikube, docker) are used only where
nothing real can run here; each fake's docstring says what it does not model.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence

import pytest
from typer.testing import CliRunner, Result

from platformctl.cli import app

pytest_plugins: list[str] = ["tests.plugins.etcd", "tests.plugins.tansu"]

RunCli = Callable[..., Result]


@pytest.fixture
def run_cli(monkeypatch: pytest.MonkeyPatch, tmp_path_factory: pytest.TempPathFactory) -> RunCli:
    """Invoke `platformctl ARGS...` in-process; stdout and stderr are captured separately.

    Runs in an empty working directory (so no stray ./platformctl.yaml is read) with every
    PLATFORMCTL_* variable of the developer's shell removed.
    """
    import os

    for name in list(os.environ):
        if name.startswith("PLATFORMCTL_"):
            monkeypatch.delenv(name)
    monkeypatch.chdir(tmp_path_factory.mktemp("cwd"))
    runner = CliRunner()

    def invoke(
        *args: str, env: Mapping[str, str] | None = None, input: str | None = None, argv: Sequence[str] = ()
    ) -> Result:
        return runner.invoke(app, [*args, *argv], env=dict(env or {}), input=input, catch_exceptions=False)

    return invoke
