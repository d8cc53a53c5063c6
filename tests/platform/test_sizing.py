"""What N brokers need against minikube's CPUs and memory (`doctor`), summed from the real render.

The README's numbers (requests and limits at N=1 and N=3 against `minikube --memory=8192 --cpus=2`) are the
ones asserted here; a change of the defaults that breaks the promise fails this test.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from platformctl import config
from platformctl.platform import doctor, sizing
from platformctl.settings import Settings
from tests.conftest import RunCli


def settings_with(tmp_path: Path, text: str) -> Settings:
    path = tmp_path / "platformctl.yaml"
    path.write_text(text)
    return config.load_settings(config.GlobalOptions(config=path))


@pytest.mark.parametrize(
    ("brokers", "needs"),
    [
        (1, "1 broker: requests 550m CPU / 1728Mi, limits 2.75 CPU / 3072Mi fit in minikube 2 CPUs / 8192 MB"),
        (3, "3 brokers: requests 1.05 CPU / 3264Mi, limits 4.75 CPU / 5632Mi fit in minikube 2 CPUs / 8192 MB"),
    ],
)
def test_one_and_three_brokers_fit_the_default_minikube(tmp_path: Path, brokers: int, needs: str) -> None:
    fit = sizing.fit(settings_with(tmp_path, f"kafka: {{brokers: {brokers}}}\n"))
    assert fit.ok
    assert fit.detail.startswith(needs)
    assert "of which its own pods request 750m CPU / 170Mi" in fit.detail


def test_too_many_brokers_for_the_cpus_say_what_to_raise(tmp_path: Path) -> None:
    fit = sizing.fit(settings_with(tmp_path, "kafka: {brokers: 5}\n"))
    assert not fit.ok
    assert fit.detail.startswith("5 brokers: requests 1.55 CPU / 4800Mi")
    assert fit.fix == "raise minikube.cpus 3 (at least), or lower kafka.brokers or the components' resources"
    small = sizing.fit(settings_with(tmp_path, "minikube: {memory: 3072}\nkafka: {brokers: 3}\n"))
    assert not small.ok and small.fix is not None and small.fix.startswith("raise minikube.memory 3434 ")


def test_totals_count_every_replica() -> None:
    from platformctl.platform import render

    one = sizing.totals(render.render(Settings(), render.parse_version("1.35")).documents)
    three_settings = Settings.model_validate({"kafka": {"brokers": 3}})
    three = sizing.totals(render.render(three_settings, render.parse_version("1.35")).documents)
    kafka = Settings().kafka.resources.requests
    assert three.memory_requests - one.memory_requests == 2 * int(kafka.memory.removesuffix("Mi"))
    assert three.cpu_requests - one.cpu_requests == 2 * int(kafka.cpu.removesuffix("m")) / 1000


def test_doctor_checks_one_local_port_per_broker_and_the_resources(
    run_cli: RunCli, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings = settings_with(tmp_path, "kafka: {brokers: 3}\n")
    ports = doctor.forward_ports(settings)
    assert [p for t, p in ports if t == "kafka"] == [9092, 9093, 9094]
    (tmp_path / "platformctl.yaml").write_text("kafka: {brokers: 5}\n")
    monkeypatch.setattr(doctor, "forward_ports", lambda settings: [])
    result = run_cli("--config", str(tmp_path / "platformctl.yaml"), "--context", "nowhere", "doctor", "-o", "json")
    checks = {c["check"]: c for c in json.loads(result.stdout)}
    # With --context the cluster's capacity is not minikube's: the totals are shown, nothing is compared.
    assert checks["resources"]["ok"]
    assert checks["resources"]["detail"] == (
        "5 brokers: requests 1.55 CPU / 4800Mi, limits 6.75 CPU / 8192Mi (the capacity of context 'nowhere' is "
        "not checked)"
    )
