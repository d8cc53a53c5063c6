"""Fetch or build the test suite's real components into the cache, reusing what is already there.

    python -m tests.components.install              # everything (kafka, etcd, kube, kwok, schema-registry)
    python -m tests.components.install kafka etcd   # just these
    python -m tests.components.install --print      # where each one is (installed or not), nothing built

Kafka comes from Maven Central (`mvn dependency:copy-dependencies` on tests/components/kafka/pom.xml), and
so does the Schema Registry (`mvn package` on tests/components/schema-registry/pom.xml: a Quarkus build of
Apicurio Registry's published classes into `apicurio-registry-runner.jar` + `lib/`);
etcd, the Kubernetes control plane and kwok are `go build`s of the tool modules under
tests/components/<name>/ through the Go module proxy (Go's own module and build caches make a rebuild
after a recipe change cheap). Each build goes to a temporary directory that is renamed into place only
when complete, so an interrupted install is never mistaken for a finished one.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

from tests.components import ALL, HERE, Component, kube_ldflags

GO_TOOLS = {
    "etcd": ["go.etcd.io/etcd/server/v3"],
    "kube": [
        "k8s.io/kubernetes/cmd/kube-apiserver",
        "k8s.io/kubernetes/cmd/kube-controller-manager",
        "k8s.io/kubernetes/cmd/kube-scheduler",
    ],
    "kwok": ["sigs.k8s.io/kwok/cmd/kwok"],
}
# `go build` names a binary after the package's last path element, skipping a major-version suffix:
# etcd's main package `go.etcd.io/etcd/server/v3` builds as `server`.
RENAME = {"server": "etcd"}


def _run(cmd: list[str], cwd: Path, env: dict[str, str] | None = None) -> None:
    print("+", " ".join(cmd), file=sys.stderr, flush=True)
    subprocess.run(cmd, cwd=cwd, check=True, env={**os.environ, **(env or {})})


def _build_kafka(component: Component, out: Path) -> None:
    _run(
        [
            "mvn", "-q", "-B", "-f", str(HERE / "kafka" / "pom.xml"),
            "dependency:copy-dependencies",
            f"-Dkafka.version={component.version}",
            "-DincludeScope=runtime",
            f"-DoutputDirectory={out / 'libs'}",
        ],
        cwd=HERE / "kafka",
    )  # fmt: skip


def _build_schema_registry(component: Component, out: Path) -> None:
    d = HERE / "schema-registry"
    _run(["mvn", "-q", "-B", "-f", str(d / "pom.xml"), "package", f"-Doutput={out}"], cwd=d)
    # Keep what runs (the runner jar and its lib/); the build's scratch directories are not needed.
    for child in out.iterdir():
        if child.name not in ("apicurio-registry-runner.jar", "lib"):
            shutil.rmtree(child) if child.is_dir() else child.unlink()


def _build_go(component: Component, out: Path) -> None:
    flags = kube_ldflags(component.version) if component.name == "kube" else "-s -w"
    (out / "bin").mkdir()
    _run(
        ["go", "build", "-trimpath", "-ldflags", flags, "-o", str(out / "bin") + "/", *GO_TOOLS[component.name]],
        cwd=HERE / component.name,
        env={"GOFLAGS": (os.environ.get("GOFLAGS", "") + " -mod=readonly").strip()},
    )
    for old, new in RENAME.items():
        if (out / "bin" / old).exists():
            (out / "bin" / old).rename(out / "bin" / new)


def install(component: Component) -> Path:
    if component.installed:
        print(f"{component.name} {component.version}: present at {component.home}", file=sys.stderr)
        return component.home
    started = time.monotonic()
    component.home.parent.mkdir(parents=True, exist_ok=True)
    staging = component.home.with_name(component.home.name + f".partial-{os.getpid()}")
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir()
    try:
        if component.name == "kafka":
            _build_kafka(component, staging)
        elif component.name == "schema-registry":
            _build_schema_registry(component, staging)
        else:
            _build_go(component, staging)
        (staging / ".complete").write_text(f"{component.name} {component.version}\n")
        shutil.rmtree(component.home, ignore_errors=True)
        staging.rename(component.home)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    took = time.monotonic() - started
    print(f"{component.name} {component.version}: installed at {component.home} in {took:.0f} s", file=sys.stderr)
    return component.home


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.components.install", description=__doc__.split("\n")[0])
    parser.add_argument("names", nargs="*", metavar="NAME", help=f"components (default: all of {', '.join(ALL)})")
    parser.add_argument("--print", action="store_true", help="say where each component is; build nothing")
    args = parser.parse_args(argv)
    unknown = [name for name in args.names if name not in ALL]
    if unknown:
        parser.error(f"unknown component {unknown[0]!r} (choose from {', '.join(ALL)})")
    for name in args.names or list(ALL):
        component = ALL[name]()
        if args.print:
            state = "installed" if component.installed else "missing"
            print(f"{name}\t{component.version}\t{state}\t{component.home}")
        else:
            install(component)
    return 0


if __name__ == "__main__":
    sys.exit(main())
