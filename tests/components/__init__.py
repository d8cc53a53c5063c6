"""The real components the test suite runs, where their versions are pinned and where they are installed.

The suite meets the systems users run: Apache Kafka (jars from Maven Central, run with Java 17), etcd 3.6
and a Kubernetes 1.36 control plane with kwok standing in for the kubelet (all built from the Go module
proxy), and a Schema Registry speaking Confluent's REST API (Apicurio Registry, built with Quarkus from its
Maven Central artifacts: Confluent's own registry is not on Maven Central).
`python -m tests.components.install` fetches or builds them once into a cache outside the repository
(`$PLATFORMCTL_TEST_CACHE`, default `~/.cache/platformctl-test`) and reuses them when present; the pytest
plugins find them here and never build anything themselves.

Each version lives in exactly one place:
- Kafka: the tag of the `apache/kafka` image the platform deploys (platformctl/settings.py), so the broker
  the tests run is the broker users run.
- Schema Registry: `apicurio.version` in tests/components/schema-registry/pom.xml (why that version: its
  comment).
- etcd, kube-apiserver/controller-manager/scheduler, kwok: the `require` line of the Go module under
  `tests/components/<name>/` (its go.sum pins every dependency).

An installed component lives in a directory named after its version and a digest of its recipe (the
pom/go.mod/go.sum and build flags), so changing the recipe builds anew instead of reusing a stale build.
"""

from __future__ import annotations

import hashlib
import os
import re
from dataclasses import dataclass
from pathlib import Path

HERE = Path(__file__).resolve().parent

# The tests build for the platform's one target OS/arch; these flags make the Go binaries report a real
# version (kube-apiserver's /version drives platformctl's choice of Pod Security admission vs PSP).
_KUBE_VERSION_PACKAGES = ("k8s.io/component-base/version", "k8s.io/client-go/pkg/version")


def cache_root() -> Path:
    configured = os.environ.get("PLATFORMCTL_TEST_CACHE")
    return Path(configured).expanduser() if configured else Path.home() / ".cache" / "platformctl-test"


@dataclass(frozen=True)
class Component:
    """One installable component: what it is, its pinned version, and the files that define its build."""

    name: str
    version: str
    recipe: tuple[Path, ...]
    extra: str = ""  # anything else the build depends on (flags), folded into the digest
    binaries: tuple[str, ...] = ()  # what an install must leave under bin/ (a build that named one wrongly is not done)

    @property
    def digest(self) -> str:
        h = hashlib.sha256(self.extra.encode())
        for path in self.recipe:
            h.update(path.name.encode() + b"\0" + path.read_bytes() + b"\0")
        return h.hexdigest()[:10]

    @property
    def home(self) -> Path:
        """Where the installed component lives (it exists only once the install completed)."""
        return cache_root() / f"{self.name}-{self.version}-{self.digest}"

    @property
    def installed(self) -> bool:
        return (self.home / ".complete").is_file() and all((self.home / "bin" / b).is_file() for b in self.binaries)


def _go_require(module_dir: Path, module: str) -> str:
    text = (module_dir / "go.mod").read_text()
    match = re.search(rf"^\s*{re.escape(module)} (v\S+)", text, re.MULTILINE)
    if match is None:
        raise RuntimeError(f"{module_dir / 'go.mod'} does not require {module}")
    return match.group(1)


def kafka() -> Component:
    """Apache Kafka's broker jars at the version of the platform's pinned `apache/kafka` image."""
    from platformctl.settings import KafkaSettings

    image = KafkaSettings().image
    version = image.rsplit(":", 1)[1]
    return Component("kafka", version, (HERE / "kafka" / "pom.xml",))


def etcd() -> Component:
    """etcd 3.6: what a 1.36 API server needs (watch progress requests), and what the platform deploys."""
    d = HERE / "etcd"
    return Component(
        "etcd", _go_require(d, "go.etcd.io/etcd/server/v3"), (d / "go.mod", d / "go.sum"), binaries=("etcd",)
    )


def kube_ldflags(version: str) -> str:
    minor = version.lstrip("v").split(".")[1]
    flags = ["-s", "-w"]
    for pkg in _KUBE_VERSION_PACKAGES:
        flags += [
            f"-X {pkg}.gitVersion={version}",
            f"-X {pkg}.gitMajor=1",
            f"-X {pkg}.gitMinor={minor}",
            f"-X {pkg}.gitTreeState=clean",
        ]
    return " ".join(flags)


def kube() -> Component:
    """kube-apiserver, kube-controller-manager and kube-scheduler at one pinned 1.36 patch release."""
    d = HERE / "kube"
    version = _go_require(d, "k8s.io/kubernetes")
    return Component(
        "kube",
        version,
        (d / "go.mod", d / "go.sum"),
        extra=kube_ldflags(version),
        binaries=("kube-apiserver", "kube-controller-manager", "kube-scheduler"),
    )


def kwok() -> Component:
    """kwok: registers fake nodes and moves pods through their lifecycle in place of a kubelet."""
    d = HERE / "kwok"
    return Component("kwok", _go_require(d, "sigs.k8s.io/kwok"), (d / "go.mod", d / "go.sum"), binaries=("kwok",))


def schema_registry() -> Component:
    """Apicurio Registry (in-memory storage) with its Confluent-compatible API, runnable with Java 17."""
    d = HERE / "schema-registry"
    match = re.search(r"<apicurio.version>([^<]+)</apicurio.version>", (d / "pom.xml").read_text())
    if match is None:
        raise RuntimeError(f"{d / 'pom.xml'} does not name apicurio.version")
    recipe = (d / "pom.xml", d / "src" / "main" / "resources" / "application.properties")
    return Component("schema-registry", match.group(1), recipe)


ALL = {"kafka": kafka, "etcd": etcd, "kube": kube, "kwok": kwok, "schema-registry": schema_registry}


def require(name: str) -> Path:
    """The installed component's directory, or a test failure that says how to install it."""
    import pytest

    component = ALL[name]()
    if not component.installed:
        pytest.fail(
            f"{name} {component.version} is not installed under {component.home}: "
            f"run `python -m tests.components.install {name}` (bash .ci/run does)",
            pytrace=False,
        )
    return component.home
