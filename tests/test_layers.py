"""The package layers: no import cycle between project modules, no import from a lower layer up.

Layers, bottom to top: core < envs < agents < {quantization, ecc} < experiments; quantization
and ecc are peers that do not import each other. Every ``import`` counts: module level,
function-local, under ``TYPE_CHECKING`` and relative (``from . import x``), since a lazy import
still makes the lower module depend on the higher one, and hides the cycle rather than removing it.
"""

from __future__ import annotations

import ast
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
PACKAGES: tuple[str, ...] = ("core", "envs", "agents", "quantization", "ecc", "experiments")
LAYER: dict[str, int] = {
    "core": 0,
    "envs": 1,
    "agents": 2,
    "quantization": 3,
    "ecc": 3,
    "experiments": 4,
}

# Imports that close a cycle in files other work owns, each with its reason: the cycle check
# ignores these edges. Remove an entry as soon as its edge is gone or no longer closes a cycle
# (the test fails on a stale entry, so the list cannot outlive its cycles).
ALLOWED_CYCLE_EDGES: dict[tuple[str, str], str] = {}


@dataclass(frozen=True)
class Edge:
    """``src`` imports ``dst`` at ``src``'s line ``line``."""

    src: str
    dst: str
    line: int


def module_files(root: Path, packages: Iterable[str]) -> dict[str, Path]:
    """Dotted module name -> file, for every ``.py`` file below each package directory."""
    out: dict[str, Path] = {}
    for pkg in packages:
        for path in sorted((root / pkg).rglob("*.py")):
            parts = list(path.relative_to(root).with_suffix("").parts)
            if parts[-1] == "__init__":
                parts.pop()
            out[".".join(parts)] = path
    return out


def _longest_module(name: str, modules: Mapping[str, Path]) -> str | None:
    parts = name.split(".")
    while parts:
        candidate = ".".join(parts)
        if candidate in modules:
            return candidate
        parts.pop()
    return None


def imports_of(name: str, path: Path, modules: Mapping[str, Path]) -> list[Edge]:
    """Every project module ``name`` imports, wherever the import statement stands."""
    tree = ast.parse(path.read_text(), filename=str(path))
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    edges = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            targets = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - (node.level - 1)]
                stem = ".".join(base + ([node.module] if node.module else []))
            else:
                stem = node.module or ""
            # ``from pkg import sub`` depends on the submodule when there is one, else on pkg
            targets = [
                f"{stem}.{a.name}" if f"{stem}.{a.name}" in modules else stem for a in node.names
            ]
        else:
            continue
        for target in targets:
            dst = _longest_module(target, modules)
            if dst is not None and dst != name:
                edges.append(Edge(name, dst, node.lineno))
    return edges


def import_graph(modules: Mapping[str, Path]) -> dict[str, list[Edge]]:
    """Module -> its import edges into other project modules."""
    return {name: imports_of(name, path, modules) for name, path in modules.items()}


def strongly_connected(graph: Mapping[str, Iterable[str]]) -> list[set[str]]:
    """Components of two or more modules that reach each other (Tarjan, iterative)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    components: list[set[str]] = []
    counter = 0
    for root in graph:
        if root in index:
            continue
        work = [(root, iter(graph.get(root, ())))]
        index[root] = low[root] = counter
        counter += 1
        stack.append(root)
        on_stack.add(root)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is None:
                work.pop()
                if work:
                    parent = work[-1][0]
                    low[parent] = min(low[parent], low[node])
                if low[node] == index[node]:
                    comp = set()
                    while True:
                        top = stack.pop()
                        on_stack.discard(top)
                        comp.add(top)
                        if top == node:
                            break
                    if len(comp) > 1:
                        components.append(comp)
            elif child not in index:
                index[child] = low[child] = counter
                counter += 1
                stack.append(child)
                on_stack.add(child)
                work.append((child, iter(graph.get(child, ()))))
            elif child in on_stack:
                low[node] = min(low[node], index[child])
    return components


def cycle_path(graph: Mapping[str, Iterable[str]], component: set[str]) -> list[str]:
    """One cycle through the component, as ``[a, b, ..., a]`` (shortest from its first module)."""
    start = min(component)
    previous: dict[str, str] = {}
    frontier = [start]
    while frontier:
        nxt = []
        for node in frontier:
            for child in graph.get(node, ()):
                if child == start:
                    path = [node]
                    while path[-1] != start:
                        path.append(previous[path[-1]])
                    return [start, *reversed(path[:-1]), start] if node != start else [start] * 2
                if child in component and child not in previous:
                    previous[child] = node
                    nxt.append(child)
        frontier = nxt
    raise AssertionError(f"{sorted(component)} is not a cycle")


def find_cycles(
    graph: Mapping[str, Iterable[str]],
    allowed: Mapping[tuple[str, str], str] = ALLOWED_CYCLE_EDGES,
) -> tuple[list[list[str]], list[tuple[str, str]]]:
    """(cycles left without the allowed edges, as paths; allowed edges that close no cycle)."""
    pruned = {src: [d for d in dsts if (src, d) not in allowed] for src, dsts in graph.items()}
    cycles = [cycle_path(pruned, c) for c in strongly_connected(pruned)]
    member = {m: i for i, c in enumerate(strongly_connected(graph)) for m in c}
    stale = [
        (src, dst)
        for src, dst in allowed
        if dst not in graph.get(src, ()) or member.get(src, -1) != member.get(dst, -2)
    ]
    return cycles, stale


def upward_edges(edges: Iterable[Edge], layer: Mapping[str, int] = LAYER) -> list[Edge]:
    """Imports from a lower layer into a higher one, and between the peers quantization/ecc."""
    out = []
    for e in edges:
        a, b = e.src.split(".")[0], e.dst.split(".")[0]
        if a != b and layer[b] >= layer[a]:
            out.append(e)
    return out


def _names(graph: Mapping[str, list[Edge]]) -> dict[str, list[str]]:
    return {src: [e.dst for e in edges] for src, edges in graph.items()}


# --------------------------------------------------------------------- the checker itself


def test_checker_finds_a_cycle_and_an_upward_edge_in_a_synthetic_graph() -> None:
    graph = {
        "envs.a": ["envs.b"],
        "envs.b": ["envs.c", "core.x"],
        "envs.c": ["envs.a"],  # envs.a -> envs.b -> envs.c -> envs.a
        "core.x": ["agents.p"],  # core reaches up into agents
        "agents.p": [],
        "ecc.q": ["quantization.r"],  # peers must not import each other
        "quantization.r": [],
    }
    cycles, stale = find_cycles(graph, allowed={("core.x", "agents.p"): "closes no cycle"})
    assert cycles == [["envs.a", "envs.b", "envs.c", "envs.a"]]
    assert stale == [("core.x", "agents.p")]
    edges = [Edge(src, dst, 1) for src, dsts in graph.items() for dst in dsts]
    assert {(e.src, e.dst) for e in upward_edges(edges)} == {
        ("core.x", "agents.p"),
        ("ecc.q", "quantization.r"),
    }
    # an allowed edge (with its reason) that closes the cycle: the cycle is not reported
    assert find_cycles(graph, {("envs.c", "envs.a"): "why"}) == ([], [])


def test_imports_of_sees_function_local_relative_and_type_checking_imports(tmp_path: Path) -> None:
    pkg = tmp_path / "envs"
    (pkg / "sub").mkdir(parents=True)
    (pkg / "__init__.py").write_text("")
    (pkg / "sub" / "__init__.py").write_text("")
    (pkg / "sub" / "leaf.py").write_text("X = 1\n")
    (pkg / "low.py").write_text(
        "from typing import TYPE_CHECKING\n"
        "from . import sub\n"
        "from .sub import leaf\n"
        "if TYPE_CHECKING:\n"
        "    from envs.high import H\n"
        "def f():\n"
        "    from agents.top import T\n"
        "    import numpy\n"
    )
    (pkg / "high.py").write_text("from envs.sub.leaf import X\nH = 1\n")
    (tmp_path / "agents").mkdir()
    (tmp_path / "agents" / "__init__.py").write_text("")
    (tmp_path / "agents" / "top.py").write_text("def g():\n    from ..envs import low\n")
    modules = module_files(tmp_path, ("envs", "agents"))
    graph = import_graph(modules)
    assert sorted(e.dst for e in graph["envs.low"]) == [
        "agents.top",
        "envs.high",
        "envs.sub",
        "envs.sub.leaf",
    ]
    assert [e.dst for e in graph["agents.top"]] == ["envs.low"]
    assert [(e.src, e.dst, e.line) for e in upward_edges(graph["envs.low"])] == [
        ("envs.low", "agents.top", 7)
    ]
    cycles, _ = find_cycles(_names(graph), allowed={})
    assert cycles == [["agents.top", "envs.low", "agents.top"]]


# ------------------------------------------------------------------------- the code base


@pytest.fixture(scope="module")
def project_graph() -> dict[str, list[Edge]]:
    modules = module_files(REPO, PACKAGES)
    assert len(modules) > 100, "the walk found too few modules: wrong repository root?"
    return import_graph(modules)


def test_no_import_cycle_between_project_modules(project_graph: dict[str, list[Edge]]) -> None:
    cycles, stale = find_cycles(_names(project_graph))
    assert not cycles, (
        "import cycles (break them; ALLOWED_CYCLE_EDGES is only for files other work owns):\n"
        + ("\n".join(" -> ".join(c) for c in cycles))
    )
    assert not stale, f"ALLOWED_CYCLE_EDGES entries that close no cycle, remove them: {stale}"


def test_no_import_from_a_lower_layer_into_a_higher_one(
    project_graph: dict[str, list[Edge]],
) -> None:
    bad = upward_edges(e for edges in project_graph.values() for e in edges)
    assert not bad, "imports against the layers (core < envs < agents < quantization, ecc < "
    "experiments):\n" + "\n".join(f"{e.src}:{e.line} imports {e.dst}" for e in bad)
