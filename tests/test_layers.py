"""Imports point down the layers, and no module imports itself back through others.

Every import of every module of the apps is read with ``ast``, including those inside
functions (a deferred import is still a dependency). Run with ``-s`` to see the app graph.
"""

from __future__ import annotations

import ast
from collections import defaultdict
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent

LAYERS = [
    ("core",),
    ("clickpesa", "notifications"),
    ("revenue",),
    ("payments",),
    ("accounts", "backoffice", "monitoring"),
    ("api",),
    ("devtools",),
    ("blinno",),
]
"""Bottom first. An app may import its own modules and those of apps in lower layers only."""

RANK = {app: rank for rank, apps in enumerate(LAYERS) for app in apps}


def _modules() -> dict[str, Path]:
    found = {}
    for app in RANK:
        for path in sorted((REPO / app).rglob("*.py")):
            if "migrations" in path.parts:
                continue
            parts = path.relative_to(REPO).with_suffix("").parts
            name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
            found[name] = path
    return found


def _imports(name: str, path: Path, modules: dict[str, Path]) -> set[str]:
    """The project modules ``name`` imports, resolved to the longest module name that exists."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    targets: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
        if isinstance(node, ast.Import):
            candidates = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")
                anchor = anchor[: len(anchor) - (node.level - 1)]
                base = ".".join([*anchor, base] if base else anchor)
            candidates = [f"{base}.{alias.name}" for alias in node.names] + [base]
        else:
            continue
        for candidate in candidates:
            while candidate and candidate not in modules:
                candidate = candidate.rpartition(".")[0]
            if candidate and candidate != name:
                targets.add(candidate)
                break
    return targets


def _graph() -> dict[str, set[str]]:
    modules = _modules()
    return {name: _imports(name, path, modules) for name, path in modules.items()}


def app_arrows(graph: dict[str, set[str]]) -> dict[str, set[str]]:
    arrows: dict[str, set[str]] = defaultdict(set)
    for module, targets in graph.items():
        for target in targets:
            source_app, target_app = module.split(".")[0], target.split(".")[0]
            if source_app != target_app:
                arrows[source_app].add(target_app)
    return arrows


def test_imports_point_down_the_layers():
    arrows = app_arrows(_graph())
    print("\nimport graph (app -> apps it imports):")
    for app in sorted(arrows, key=lambda a: (-RANK[a], a)):
        print(f"  {app} -> {', '.join(sorted(arrows[app], key=lambda a: (-RANK[a], a)))}")
    upward = sorted(
        f"{app} -> {target}" for app, targets in arrows.items() for target in targets if RANK[target] >= RANK[app]
    )
    assert upward == [], "imports that point up or sideways: " + "; ".join(upward)


def test_no_module_imports_itself_back():
    """No cycle among modules, deferred imports included: each module is built from what is below it."""
    graph = _graph()
    cycles = []
    state: dict[str, int] = {}  # 1: on the current path, 2: done

    def visit(module: str, path: list[str]) -> None:
        state[module] = 1
        for target in sorted(graph.get(module, ())):
            if state.get(target) == 1:
                cycles.append(" -> ".join([*path[path.index(target) :], target]))
            elif target not in state:
                visit(target, [*path, target])
        state[module] = 2

    for module in sorted(graph):
        if module not in state:
            visit(module, [module])
    assert cycles == []


def test_every_app_is_placed_in_a_layer():
    apps = {path.parent.name for path in REPO.glob("*/apps.py")} | {"blinno"}
    assert apps <= set(RANK), f"apps without a layer: {sorted(apps - set(RANK))}"
