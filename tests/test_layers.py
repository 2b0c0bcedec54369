"""The package's imports point down its layers and form no circle (docs/architecture.md).

Read from the source with :mod:`ast`, so every import counts, the ones inside functions
too: a circle hidden in a function is still a circle. A *unit* is a subpackage
(``mist_pl.tasks``) or a top-level module (``mist_pl.cli``). Three rules:

* an import may point to its own unit, or to a unit of the same or a lower layer;
* units do not import each other in a circle (inside a layer, one sits on the other);
* modules do not import each other in a circle.

A new package or top-level module must be placed in :data:`LAYERS` (and in the
architecture page) before it can pass.
"""

from __future__ import annotations

import ast
from collections import defaultdict
from pathlib import Path

PACKAGE = "mist_pl"
ROOT = Path(__file__).resolve().parents[1] / PACKAGE

# Bottom first; the same order and names as docs/architecture.md.
LAYERS = (
    ("foundation", ("mist_pl", "paths", "logs", "requirements", "shipped")),
    ("chemistry", ("chem",)),
    ("core", ("models", "runtime", "checkpoints", "export")),
    ("tasks and data", ("tasks", "data")),
    ("rl", ("rl",)),
    ("training and evaluation", ("modules", "planning", "eval", "diagnostics")),
    ("entry points", ("callbacks", "cli", "plan", "stages", "demo")),
)
LAYER_OF = {unit: i for i, (_, units) in enumerate(LAYERS) for unit in units}


def module_name(path: Path) -> str:
    parts = path.relative_to(ROOT.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def is_module(name: str) -> bool:
    relative = Path(*name.split("."))
    return (ROOT.parent / relative.with_suffix(".py")).is_file() or (ROOT.parent / relative / "__init__.py").is_file()


def imported_modules(path: Path) -> set[str]:
    """First-party modules ``path`` imports (``from pkg import submodule`` names the submodule)."""
    here = module_name(path)
    package = here if path.name == "__init__.py" else here.rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - (node.level - 1)]
                source = ".".join(base + ([node.module] if node.module else []))
            else:
                source = node.module or ""
            for alias in node.names:
                found.add(f"{source}.{alias.name}" if is_module(f"{source}.{alias.name}") else source)
    return {name for name in found if name == PACKAGE or name.startswith(PACKAGE + ".")}


def unit(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else parts[0]


def import_graph() -> dict[str, set[str]]:
    return {module_name(path): imported_modules(path) - {module_name(path)} for path in sorted(ROOT.rglob("*.py"))}


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One circle of ``graph`` as a path that ends where it starts, or None."""
    state: dict[str, int] = {}  # 1: on the current path, 2: done

    def visit(node: str, path: list[str]) -> list[str] | None:
        state[node] = 1
        for target in sorted(graph.get(node, ())):
            if state.get(target) == 1:
                return [*path[path.index(target):], target] if target in path else [node, target]
            if target not in state:
                cycle = visit(target, [*path, target])
                if cycle:
                    return cycle
        state[node] = 2
        return None

    for start in sorted(graph):
        if start not in state:
            cycle = visit(start, [start])
            if cycle:
                return cycle
    return None


def test_every_unit_has_a_layer():
    units = {unit(module) for module in import_graph()}
    assert not units - set(LAYER_OF), f"place these in LAYERS and docs/architecture.md: {sorted(units - set(LAYER_OF))}"


def test_imports_point_down():
    upward = sorted(
        f"{source} -> {target} ({LAYERS[LAYER_OF[unit(source)]][0]} imports {LAYERS[LAYER_OF[unit(target)]][0]})"
        for source, targets in import_graph().items()
        for target in targets
        if LAYER_OF.get(unit(target), -1) > LAYER_OF.get(unit(source), len(LAYERS))
    )
    assert not upward, "imports that point up a layer:\n" + "\n".join(upward)


def test_units_import_each_other_one_way():
    graph: dict[str, set[str]] = defaultdict(set)
    for source, targets in import_graph().items():
        graph[unit(source)].update(unit(t) for t in targets if unit(t) != unit(source))
    cycle = find_cycle(graph)
    assert cycle is None, "packages import each other in a circle: " + " -> ".join(cycle)


def test_no_module_import_circle():
    cycle = find_cycle(import_graph())
    assert cycle is None, "modules import each other in a circle: " + " -> ".join(cycle)


def test_the_checks_see_a_circle_and_an_upward_import():
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b"}, "b": set()}) is None
    assert LAYER_OF["rl"] > LAYER_OF["tasks"] > LAYER_OF["runtime"] > LAYER_OF["chem"]
