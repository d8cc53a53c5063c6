"""Shared test fixtures: the CLI runner, and (as pytest plugins) the real local components.

Real servers (Apache Kafka, etcd) are started once per session (Kafka: also per test, for tests that
kill it) on free 127.0.0.1 ports by the plugins listed below and stopped by PID. Fakes (Kubernetes API,
minikube, docker) are used only where nothing real can run here; each fake's docstring says what it does not model.
"""

from __future__ import annotations

import signal
from collections.abc import Callable, Mapping, Sequence

import pytest
from typer.testing import CliRunner, Result

from platformctl.cli import app

# A shell without job control starts background commands with SIGINT ignored, and Python then never raises
# KeyboardInterrupt: the tests that press Ctrl-C (port-forward, topics) would wait for it forever. The suite
# needs Python's own handler, whoever started it.
if signal.getsignal(signal.SIGINT) is signal.SIG_IGN:
    signal.signal(signal.SIGINT, signal.default_int_handler)

# One plugin per line: each feature adds its own fixtures here.
pytest_plugins: list[str] = [
    "tests.plugins.legacy_schemas",
    "tests.plugins.fake_minikube",
    "tests.plugins.fake_docker",
    "tests.plugins.fake_kube",
    "tests.plugins.fake_portforward",
    "tests.plugins.kafka",
    "tests.plugins.etcd",
    "tests.plugins.kube_real",
    "tests.plugins.schema_registry",
]

RunCli = Callable[..., Result]


@pytest.fixture(autouse=True)
def _no_kubeconfig(monkeypatch: pytest.MonkeyPatch, tmp_path_factory: pytest.TempPathFactory) -> None:
    """No test sees the developer's clusters: $KUBECONFIG names a file that does not exist.

    Commands that look for the platform (topics, overrides without an endpoint) then find none; tests
    that want a cluster set KUBECONFIG to a fake's kubeconfig (fixtures `kubeconfig`, `fake_minikube`).
    """
    monkeypatch.setenv("KUBECONFIG", str(tmp_path_factory.mktemp("kube") / "no-kubeconfig"))


@pytest.fixture(autouse=True)
def _own_cache(monkeypatch: pytest.MonkeyPatch, tmp_path_factory: pytest.TempPathFactory) -> None:
    """Each test has an empty $XDG_CACHE_HOME: parsed topic files cached by one test (or by the developer's
    own runs) never answer another's (tests/topics/test_hocon_cache.py tests the cache itself)."""
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path_factory.mktemp("xdg-cache")))


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


E2E_KUBECONFIG = "PLATFORMCTL_E2E_KUBECONFIG"


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--with-e2e",
        action="store_true",
        default=False,
        help=f"run the end-to-end tests (marked e2e) against the cluster in ${E2E_KUBECONFIG}",
    )


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """e2e tests run only with --with-e2e (or PLATFORMCTL_E2E_KUBECONFIG set) and a kubeconfig to use."""
    import os

    kubeconfig = os.environ.get(E2E_KUBECONFIG)
    enabled = config.getoption("--with-e2e") or bool(kubeconfig)
    for item in items:
        if "e2e" not in item.keywords:
            continue
        if not enabled:
            item.add_marker(pytest.mark.skip(reason=f"end-to-end: pass --with-e2e and set {E2E_KUBECONFIG}"))
        elif not kubeconfig:
            item.add_marker(pytest.mark.skip(reason=f"end-to-end: {E2E_KUBECONFIG} is not set"))
