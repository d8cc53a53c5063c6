"""The package layout is the architecture, and this test keeps it so: it builds platformctl's import graph
(grimp, every import: module level, inside functions, under TYPE_CHECKING) and fails on

- an import cycle among platformctl's modules;
- an external system's client imported outside its adapter (platformctl/adapters/);
- Typer imported outside the CLI (platformctl/commands/);
- an import across the layers that the layering below does not allow.

The layers, from the top: the CLI (platformctl/commands/, cli.py, __main__.py) may import anything;
topics/ and platform/ (the logic) import adapters/ and the base; adapters/ import only the base; the base
(the modules directly in platformctl/: errors, ui, hints, config, settings, inputfile, sourcemap, forward)
imports nothing above it. The few edges across that order are named in `ALLOWED`, each with its reason.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import grimp
import pytest

PACKAGE = "platformctl"

# Each external system's client, and the adapter modules that alone may import it.
CLIENTS: dict[str, set[str]] = {
    "kubernetes": {"platformctl.adapters.kube", "platformctl.adapters.kubeconfig", "platformctl.adapters.portforward"},
    "confluent_kafka": {"platformctl.adapters.kafka", "platformctl.adapters.schemaregistry"},
    "etcd3gw": {"platformctl.adapters.etcd"},
    "docker": {"platformctl.adapters.dockerhost"},
}

CLI = "commands"

# Edges across the layers, each a decision rather than an accident.
ALLOWED: dict[tuple[str, str], str] = {
    ("platformctl.settings", "platformctl.topics.spec"): (
        "platformctl.yaml's kafka.cluster-id is checked by the rule a topic file's cluster-id is"
    ),
    ("platformctl.platform.up", "platformctl.topics.overrides"): (
        "`up` seeds the topic-defaults its broker count needs in the environment's overrides"
    ),
    ("platformctl.topics.run", "platformctl.platform.reach"): (
        "a topics run reaches the platform's Kafka and etcd when no endpoint is given"
    ),
    ("platformctl.topics.schemas.run", "platformctl.platform.reach"): (
        "and the platform's Schema Registry"
    ),
}

# Lower number: lower layer. A module may import its own layer and those below.
RANK = {"base": 0, "adapters": 1, "topics": 2, "platform": 2, CLI: 3}


def layer(module: str) -> str:
    parts = module.split(".")
    if module in ("platformctl.cli", "platformctl.__main__"):
        return CLI
    if len(parts) > 1 and parts[1] in RANK:
        return parts[1]
    return "base"


@pytest.fixture(scope="module")
def graph() -> grimp.ImportGraph:
    # No cache: a stale one would hide an import added since.
    return grimp.build_graph(PACKAGE, include_external_packages=True, cache_dir=None)


def ours(graph: grimp.ImportGraph) -> list[str]:
    return sorted(m for m in graph.modules if m == PACKAGE or m.startswith(PACKAGE + "."))


def where(graph: grimp.ImportGraph, importer: str, imported: str) -> str:
    details = graph.get_import_details(importer=importer, imported=imported)
    lines = ", ".join(str(d["line_number"]) for d in details)
    return f"{importer} -> {imported} (line {lines})"


def cycles(graph: grimp.ImportGraph, modules: list[str]) -> Iterator[list[str]]:
    """Strongly connected components of more than one module (Tarjan), each a set of mutual imports."""
    inside = set(modules)
    edges = {m: sorted(graph.find_modules_directly_imported_by(m) & inside) for m in modules}
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for nxt in edges[node]:
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in on_stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            component = []
            while True:
                top = stack.pop()
                on_stack.discard(top)
                component.append(top)
                if top == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for module in modules:
        if module not in index:
            visit(module)
    yield from found


def test_no_import_cycles(graph: grimp.ImportGraph) -> None:
    modules = ours(graph)
    problems = []
    for component in cycles(graph, modules):
        members = set(component)
        edges = [
            where(graph, a, b) for a in component for b in sorted(graph.find_modules_directly_imported_by(a) & members)
        ]
        problems.append("cycle: " + "; ".join(edges))
    assert not problems, "\n".join(problems)


@pytest.mark.parametrize("client", sorted(CLIENTS))
def test_each_client_is_imported_only_by_its_adapter(graph: grimp.ImportGraph, client: str) -> None:
    importers = {m for m in graph.find_modules_that_directly_import(client) if m.startswith(PACKAGE)}
    assert importers, f"no module imports {client}: is CLIENTS out of date?"
    strays = sorted(importers - CLIENTS[client])
    assert not strays, "\n".join(where(graph, m, client) for m in strays)


def test_typer_is_imported_only_by_the_cli(graph: grimp.ImportGraph) -> None:
    importers = {m for m in graph.find_modules_that_directly_import("typer") if m.startswith(PACKAGE)}
    assert importers, "no module imports typer"
    strays = sorted(m for m in importers if layer(m) != CLI)
    assert not strays, "\n".join(where(graph, m, "typer") for m in strays)


def test_imports_go_down_the_layers(graph: grimp.ImportGraph) -> None:
    problems = []
    used = set()
    for importer in ours(graph):
        for imported in sorted(graph.find_modules_directly_imported_by(importer)):
            if not imported.startswith(PACKAGE + "."):
                continue
            a, b = layer(importer), layer(imported)
            upward = RANK[b] > RANK[a] or (RANK[a] == RANK[b] and a != b)  # topics <-> platform: named edges only
            if not upward:
                continue
            if (importer, imported) in ALLOWED:
                used.add((importer, imported))
                continue
            problems.append(f"{a} imports {b}: {where(graph, importer, imported)}")
    assert not problems, "\n".join(problems)
    # An exception nobody needs any more is a rule nobody states: drop it.
    assert not set(ALLOWED) - used, f"unused ALLOWED entries: {sorted(set(ALLOWED) - used)}"


def test_the_check_sees_a_cycle_and_a_stray_client() -> None:
    """The checks above can fail: a graph with a cycle and a client outside its adapter is caught."""
    graph = grimp.ImportGraph()
    for module in ("platformctl", "platformctl.a", "platformctl.b", "platformctl.topics.c", "kubernetes"):
        graph.add_module(module)
    graph.add_import(importer="platformctl.a", imported="platformctl.b", line_number=1, line_contents="")
    graph.add_import(importer="platformctl.b", imported="platformctl.a", line_number=2, line_contents="")
    graph.add_import(importer="platformctl.topics.c", imported="kubernetes", line_number=3, line_contents="")
    assert list(cycles(graph, ours(graph))) == [["platformctl.a", "platformctl.b"]]
    assert graph.find_modules_that_directly_import("kubernetes") - CLIENTS["kubernetes"] == {"platformctl.topics.c"}


def test_the_readme_maps_every_module() -> None:
    """The README's Architecture section is the package map: every module of topics/, platform/, adapters/
    and the base is named there (the commands are named by the command table)."""
    root = Path(__file__).resolve().parents[1]
    readme = (root / "README.md").read_text()
    section = readme[readme.index("## Architecture") :]
    named = set(re.findall(r"[a-z_]+", section))
    missing = [
        str(path.relative_to(root))
        for path in sorted((root / PACKAGE).rglob("*.py"))
        if path.stem not in named and path.stem != "__init__" and path.parent.name != CLI
    ]
    assert not missing, f"not in the README's Architecture section: {missing}"
