"""The tooling's packages form layers: no import runs back up. Every import in rtai (those inside
functions too) is read from the source; the graph between rtai's packages and top-level modules
must have no cycle, so each one can be read and changed knowing only the ones below it."""

from __future__ import annotations

import ast
import itertools
from collections import defaultdict
from pathlib import Path

from rtai import paths

TOOLING = paths.PROJECT_ROOT / "rtai"


def unit_of(module: str) -> str | None:
    """rtai.stack.manager -> rtai.stack; rtai.paths -> rtai.paths; anything else -> None."""
    parts = module.split(".")
    if parts[0] != "rtai" or len(parts) < 2:
        return None
    return ".".join(parts[:2])


def module_of(path: Path) -> str:
    relative = path.relative_to(paths.PROJECT_ROOT).with_suffix("")
    return ".".join(p for p in relative.parts if p != "__init__")


def imports_of(path: Path) -> list[tuple[str, int]]:
    """(imported module, line) for each import statement, relative ones resolved."""
    package = module_of(path) if path.name == "__init__.py" else module_of(path).rsplit(".", 1)[0]
    found = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found += [(alias.name, node.lineno) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                base = ".".join([*package.split(".")[: len(package.split(".")) - node.level + 1], base]).rstrip(".")
            found += [(f"{base}.{alias.name}", node.lineno) for alias in node.names]
    return found


def unit_graph() -> dict[str, dict[str, str]]:
    """unit -> {unit it imports: 'file:line' of one such import}."""
    graph: dict[str, dict[str, str]] = defaultdict(dict)
    for path in sorted(TOOLING.rglob("*.py")):
        source = unit_of(module_of(path))
        for imported, line in imports_of(path):
            target = unit_of(imported)
            if source and target and target != source:
                graph[source].setdefault(target, f"{path.relative_to(paths.PROJECT_ROOT)}:{line}")
    return graph


def find_cycle(graph: dict[str, dict[str, str]]) -> list[str]:
    """One cycle as the units along it (first repeated at the end), or [] when there is none."""
    state: dict[str, str] = {}
    trail: list[str] = []

    def visit(unit: str) -> list[str]:
        state[unit] = "open"
        trail.append(unit)
        for target in sorted(graph.get(unit, {})):
            if state.get(target) == "open":
                return [*trail[trail.index(target) :], target]
            if target not in state and (cycle := visit(target)):
                return cycle
        state[unit] = "done"
        trail.pop()
        return []

    for unit in sorted(graph):
        if unit not in state and (cycle := visit(unit)):
            return cycle
    return []


def test_the_tooling_packages_import_only_downwards():
    graph = unit_graph()
    cycle = find_cycle(graph)
    edges = [f"{a} -> {b} ({graph[a][b]})" for a, b in itertools.pairwise(cycle)]
    assert not cycle, "imports run back up the layers: " + "; ".join(edges)


def test_a_cycle_is_found_and_named():
    graph = {"rtai.a": {"rtai.b": "a.py:1"}, "rtai.b": {"rtai.c": "b.py:2"}, "rtai.c": {"rtai.a": "c.py:3"}}
    assert find_cycle(graph) == ["rtai.a", "rtai.b", "rtai.c", "rtai.a"]
    assert find_cycle({"rtai.a": {"rtai.b": "a.py:1"}, "rtai.b": {}}) == []


def test_the_graph_holds_the_imports_inside_functions():
    assert "rtai.stack" in unit_graph()["rtai.generator"]  # imported inside `generate stream`'s function only
