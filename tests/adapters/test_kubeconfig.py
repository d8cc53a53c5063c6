"""Reading kubeconfig: only the context names matter (platformctl never uses the current context)."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from platformctl.adapters import kubeconfig
from platformctl.errors import InputError


def write(path: Path, current: str | None) -> Path:
    config = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": "c", "cluster": {"server": "https://127.0.0.1:1"}}],
        "users": [{"name": "u", "user": {"token": "t"}}],
        "contexts": [{"name": "lab", "context": {"cluster": "c", "user": "u"}}],
    }
    if current is not None:
        config["current-context"] = current
    path.write_text(yaml.safe_dump(config))
    return path


@pytest.mark.parametrize("current", ["", None, "deleted-cluster"])
def test_a_kubeconfig_without_a_usable_current_context_still_lists_its_contexts(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, current: str | None
) -> None:
    # `minikube delete` leaves `current-context: ""`; the client's own list_kube_config_contexts refuses that.
    monkeypatch.setenv("KUBECONFIG", str(write(tmp_path / "config", current)))
    names, found = kubeconfig.kubeconfig_contexts()
    assert names == ["lab"]
    assert found == (current or None)
    assert kubeconfig.resolve_target("lab", origin="--context").context == "lab"


def test_contexts_of_every_file_in_kubeconfig_are_merged(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    first = write(tmp_path / "a", "")
    second = tmp_path / "b"
    data = yaml.safe_load(write(second, "prod").read_text())
    data["contexts"][0]["name"] = "prod"
    second.write_text(yaml.safe_dump(data))
    monkeypatch.setenv("KUBECONFIG", f"{first}:{second}")
    assert kubeconfig.kubeconfig_contexts() == (["lab", "prod"], "prod")


@pytest.mark.parametrize(
    ("text", "line", "message"),
    [
        ("contexts: [\n", 2, "not a kubeconfig: expected the node content, but found '<stream end>'"),
        ("hello\n", None, "not a kubeconfig: expected a mapping whose `contexts` each have a `name`"),
    ],
)
def test_a_broken_kubeconfig_is_bad_input_naming_the_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, text: str, line: int | None, message: str
) -> None:
    path = tmp_path / "config"
    path.write_text(text)
    monkeypatch.setenv("KUBECONFIG", str(path))
    with pytest.raises(InputError) as caught:
        kubeconfig.kubeconfig_contexts()
    assert (caught.value.path, caught.value.line, caught.value.message) == (str(path), line, message)
