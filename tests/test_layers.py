"""The import graph of ``arena``, ``sandbox`` and ``arena_bot``, read with ``ast`` (module-level and function-level
imports alike): no module imports itself through others, and dependencies point inward.

- ``arena.engine`` (the pure core) imports nothing of arena's outside itself;
- ``arena.runtime`` imports neither ``arena.service`` nor ``arena.api``;
- ``arena.service`` does not import ``arena.api`` (the HTTP layer sits on top of it, not under it);
- ``sandbox`` knows nothing about trading (no ``arena``), and the bot SDK ``arena_bot`` imports neither.

Imports under ``if TYPE_CHECKING:`` never run, so they do not make a cycle; they still count for the layers.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = {"arena": ROOT / "arena", "sandbox": ROOT / "sandbox", "arena_bot": ROOT / "runner-images/python/arena_bot"}

# (importer's package, what it may not import, why)
FORBIDDEN = [
    ("arena.engine", "arena", "the engine is the pure core: it imports nothing of arena's outside arena.engine"),
    ("arena.runtime", "arena.service", "the runtime sits below the service layer"),
    ("arena.runtime", "arena.api", "the runtime sits below the HTTP layer"),
    ("arena.service", "arena.api", "the service layer sits below the HTTP layer (arena.api uses it, not the reverse)"),
    ("sandbox", "arena", "the sandbox knows nothing about trading"),
    ("arena_bot", "arena", "the bot SDK is standard library only"),
    ("arena_bot", "sandbox", "the bot SDK is standard library only"),
]


@dataclass(frozen=True)
class Import:
    source: str  # the importing module
    target: str  # the imported module
    line: int
    typing_only: bool  # under `if TYPE_CHECKING:`

    def __str__(self) -> str:
        return f"{self.source} -> {self.target} ({module_path(self.source)}:{self.line})"


def within(module: str, package: str) -> bool:
    return module == package or module.startswith(package + ".")


def module_files() -> dict[str, Path]:
    """Every module of the three packages, by dotted name (a package by its __init__)."""
    found = {}
    for name, folder in PACKAGES.items():
        for path in sorted(folder.rglob("*.py")):
            parts = path.relative_to(folder).with_suffix("").parts
            if parts[-1] == "__init__":
                parts = parts[:-1]
            found[".".join((name, *parts))] = path
    return found


MODULES = module_files()


def module_path(module: str) -> str:
    return str(MODULES[module].relative_to(ROOT))


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _walk(node: ast.AST, typing_only: bool = False) -> Iterator[tuple[ast.Import | ast.ImportFrom, bool]]:
    """Every import statement under ``node``, at any depth (functions and methods included)."""
    for child in ast.iter_child_nodes(node):
        if isinstance(child, ast.Import | ast.ImportFrom):
            yield child, typing_only
        elif isinstance(child, ast.If) and _is_type_checking(child.test):
            for stmt in child.body:
                yield from _walk(ast.Module([stmt], []), True)
            for stmt in child.orelse:
                yield from _walk(ast.Module([stmt], []), typing_only)
        else:
            yield from _walk(child, typing_only)


def _resolve(name: str) -> str | None:
    """The module of ours that ``name`` (possibly ``module.attribute``) names, longest match first."""
    parts = name.split(".")
    for end in range(len(parts), 0, -1):
        candidate = ".".join(parts[:end])
        if candidate in MODULES:
            return candidate
    return None


def imports_of(module: str) -> list[Import]:
    path = MODULES[module]
    tree = ast.parse(path.read_text(), str(path))
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    out = []
    for node, typing_only in _walk(tree):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        else:
            base = node.module or ""
            if node.level:
                anchor = package.split(".")
                anchor = anchor[: len(anchor) - (node.level - 1)]
                base = ".".join([*anchor, base] if base else anchor)
            # `from a.b import c` depends on a.b.c when c is a module (the package's __init__ is then only the
            # namespace it is found in), else on a.b.
            submodules = [f"{base}.{alias.name}" for alias in node.names if f"{base}.{alias.name}" in MODULES]
            names = submodules if len(submodules) == len(node.names) else [base, *submodules]
        for target in {t for t in map(_resolve, names) if t is not None and t != module}:
            out.append(Import(module, target, node.lineno, typing_only))
    return out


def import_graph() -> list[Import]:
    return [edge for module in MODULES for edge in imports_of(module)]


def find_cycles(edges: list[Import]) -> list[list[Import]]:
    """One cycle per strongly connected component of the runtime imports (Tarjan), as the edges that close it."""
    graph: dict[str, dict[str, Import]] = {m: {} for m in MODULES}
    for edge in edges:
        if not edge.typing_only:
            graph[edge.source].setdefault(edge.target, edge)
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    components: list[set[str]] = []

    def connect(v: str) -> None:  # recursion depth is bounded by the number of modules (a few hundred)
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in graph[v]:
            if w not in index:
                connect(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = set()
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.add(w)
                if w == v:
                    break
            if len(component) > 1:
                components.append(component)

    for v in sorted(graph):
        if v not in index:
            connect(v)
    return [_a_cycle(graph, component) for component in components]


def _a_cycle(graph: dict[str, dict[str, Import]], component: set[str]) -> list[Import]:
    """A shortest cycle through the component's first module (breadth-first back to it)."""
    start = min(component)
    paths: dict[str, list[Import]] = {start: []}
    frontier = [start]
    while frontier:
        following = []
        for v in frontier:
            for w, edge in sorted(graph[v].items()):
                if w == start:
                    return [*paths[v], edge]
                if w in component and w not in paths:
                    paths[w] = [*paths[v], edge]
                    following.append(w)
        frontier = following
    raise AssertionError(f"no cycle through {start}")  # a strongly connected component always has one


EDGES = import_graph()


def test_the_graph_is_read() -> None:
    """A guard on the reader itself: a few edges that are known to exist."""
    pairs = {(e.source, e.target) for e in EDGES}
    assert ("arena.api.app", "arena.service.background") in pairs
    assert ("arena.service.background", "arena.service.tasks") in pairs  # a function-level import
    assert ("arena.runtime.tournament", "arena.engine.engine") in pairs
    assert any(e.source.startswith("arena.feeds") and e.typing_only for e in EDGES)


def test_no_import_cycles() -> None:
    cycles = find_cycles(EDGES)
    described = ["\n".join(f"  {edge}" for edge in cycle) for cycle in cycles]
    assert not cycles, f"{len(cycles)} import cycle(s):\n" + "\n\n".join(described)


@pytest.mark.parametrize(("importer", "forbidden", "why"), FORBIDDEN, ids=[f"{a}-x-{b}" for a, b, _ in FORBIDDEN])
def test_dependencies_point_inward(importer: str, forbidden: str, why: str) -> None:
    offending = [
        edge
        for edge in EDGES
        if within(edge.source, importer) and within(edge.target, forbidden) and not within(edge.target, importer)
    ]
    assert not offending, f"{why}; yet:\n" + "\n".join(f"  {edge}" for edge in offending)
