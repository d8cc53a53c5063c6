"""Property-based tests of the config loader: any input gives settings or a clear InputError, never a crash."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from platformctl.config import GlobalOptions, load_settings
from platformctl.errors import InputError

VALID: dict[str, Any] = {
    "namespace": "dev",
    "env": "dev",
    "minikube": {"profile": "minikube", "kubernetes-version": "v1.35.0", "memory": 8192, "cpus": 2},
    "kafka": {"flavor": "apache", "image": "apache/kafka:4.2.0", "cluster-id": "cGxhdGZvcm1jdGwtZGV2MQ"},
    "etcd": {"endpoint": "http://127.0.0.1:2379"},
}

scalars = st.one_of(
    st.none(), st.booleans(), st.integers(), st.floats(allow_nan=True), st.text(max_size=20),
    st.lists(st.integers(), max_size=3), st.dictionaries(st.text(max_size=5), st.integers(), max_size=3),
)


def paths(value: Any, prefix: tuple[str, ...] = ()) -> list[tuple[str, ...]]:
    found = [prefix] if prefix else []
    if isinstance(value, dict):
        for key, child in value.items():
            found += paths(child, (*prefix, key))
    return found


def replaced(value: Any, path: tuple[str, ...], new: Any) -> Any:
    if not path:
        return new
    copy = dict(value)
    copy[path[0]] = replaced(value[path[0]], path[1:], new)
    return copy


def check(config: Path) -> None:
    try:
        load_settings(GlobalOptions(config=config))
    except InputError as e:
        text = str(e)
        assert text and str(config) in text
        assert e.exit_code == 2


FUZZ = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])


@FUZZ
@given(text=st.text(max_size=300))
def test_arbitrary_text(tmp_path: Path, text: str) -> None:
    config = tmp_path / "platformctl.yaml"
    config.write_text(text, encoding="utf-8")
    check(config)


@FUZZ
@given(data=st.data())
def test_mutated_valid_config(tmp_path: Path, data: st.DataObject) -> None:
    path = data.draw(st.sampled_from(paths(VALID)))
    mutated = replaced(VALID, path, data.draw(scalars))
    extra = data.draw(st.booleans())
    if extra:
        mutated = {**mutated, data.draw(st.text(min_size=1, max_size=8)): data.draw(scalars)}
    config = tmp_path / "platformctl.yaml"
    config.write_text(yaml.safe_dump(mutated), encoding="utf-8")
    check(config)


def test_valid_config_loads(tmp_path: Path) -> None:
    config = tmp_path / "platformctl.yaml"
    config.write_text(yaml.safe_dump(VALID))
    loaded = load_settings(GlobalOptions(config=config))
    assert loaded.etcd.endpoint == "http://127.0.0.1:2379"
    assert loaded.minikube.kubernetes_version == "v1.35.0"
