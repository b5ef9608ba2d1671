"""The package layout (docs/architecture.md): no import cycles, no upward imports.

Run alone with ``./dev test tests/project/test_layout.py``. Every ``import`` / ``from ... import`` in
``dagstore/`` counts, including those inside functions.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PKG = Path(__file__).resolve().parents[2] / "dagstore"

# Lower rank = lower layer (docs/architecture.md, "Layers and the import rule"). A module may import its own
# top-level package and strictly lower ranks, with no exception: two packages of one rank never import each other.
RANKS = {
    # floor 0: one module per hazard
    "dagstore.errors": 0, "dagstore._log": 0, "dagstore._atomic": 0,
    "dagstore.secrets": 0.1, "dagstore.spec_string": 0.1, "dagstore.config": 0.1, "dagstore.archive": 0.1,
    # floor 1: the storage engine and the version state, then references and dagstore://
    "dagstore.core": 1, "dagstore.refs": 1.1, "dagstore.fs": 1.2,
    # floors 2-4: the subsystems, which take a core Version
    "dagstore.tables": 1.9, "dagstore.annotations": 2,  # tables below annotations: importers read tables
    "dagstore.export": 3, "dagstore.connectors": 3,
    "dagstore.delivery": 4,
    # floor 5: the facades (Dataset, the public Store), then the package's public names
    "dagstore.api": 5,
    "dagstore": 5.5,  # __init__.py: the public API (re-exports only)
    # floor 6: the faces, clients of the public API
    "dagstore.ui": 6,
    "dagstore.cli": 6.5, "dagstore.demo": 6.5,  # the CLI also launches the UI (`dagstore ui`); the UI never imports the CLI
}


def module_name(path: Path) -> str:
    parts = path.relative_to(PKG.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imports(path: Path) -> set[str]:
    """Absolute names of the dagstore modules ``path`` imports."""
    name = module_name(path)
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    out: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            out |= {a.name for a in node.names if a.name.split(".")[0] == "dagstore"}
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[: len(base) - (node.level - 1)]
                target = ".".join([*base, node.module] if node.module else base)
            else:
                target = node.module or ""
            if target.split(".")[0] != "dagstore":
                continue
            for a in node.names:  # `from . import x` may name a submodule
                sub = f"{target}.{a.name}"
                out.add(sub if (PKG.parent / sub.replace(".", "/")).with_suffix(".py").exists()
                        or (PKG.parent / sub.replace(".", "/") / "__init__.py").exists() else target)
    out.discard(name)
    return out


def graph() -> dict[str, set[str]]:
    return {module_name(p): imports(p) for p in sorted(PKG.rglob("*.py"))}


def layer(mod: str) -> tuple[str, int]:
    for prefix in sorted(RANKS, key=len, reverse=True):
        if mod == prefix or (prefix != "dagstore" and mod.startswith(prefix + ".")):
            return prefix, RANKS[prefix]
    raise AssertionError(f"{mod} is in no layer: add it to RANKS in tests/project/test_layout.py and docs/architecture.md")


def upward_imports(g: dict[str, set[str]]) -> list[str]:
    """Imports of a layer that is not strictly below the importer's (its own package excepted)."""
    bad = []
    for mod, deps in g.items():
        top, rank = layer(mod)
        for dep in sorted(deps):
            dep_top, dep_rank = layer(dep)
            if dep_top != top and dep_rank >= rank:
                bad.append(f"{mod} imports {dep} ({dep_top} is not below {top})")
    return bad


def cycles(g: dict[str, set[str]]) -> list[list[str]]:
    """Import cycles found by a depth-first walk (each reported once, as a path)."""
    state: dict[str, int] = {}
    stack: list[str] = []
    found: list[list[str]] = []

    def visit(m: str) -> None:
        state[m] = 1
        stack.append(m)
        for d in sorted(g.get(m, ())):
            if state.get(d) == 1:
                found.append(stack[stack.index(d):] + [d])
            elif d in g and d not in state:
                visit(d)
        stack.pop()
        state[m] = 2

    for m in g:
        if m not in state:
            visit(m)
    return found


def test_every_module_has_a_layer() -> None:
    for mod in graph():
        layer(mod)


def test_no_upward_imports() -> None:
    bad = upward_imports(graph())
    assert not bad, "\n".join(bad)


def test_no_import_cycles() -> None:
    found = cycles(graph())
    assert not found, "\n".join(" -> ".join(c) for c in found)


def test_the_checks_catch_an_upward_import_and_a_cycle() -> None:
    g = {"dagstore.core.store.base": {"dagstore.api.dataset"}, "dagstore.api.dataset": {"dagstore.core.store.base"}}
    assert upward_imports(g) == ["dagstore.core.store.base imports dagstore.api.dataset (dagstore.api is not below dagstore.core)"]
    assert cycles(g) == [["dagstore.core.store.base", "dagstore.api.dataset", "dagstore.core.store.base"]]


def test_no_subsystem_may_reach_the_facade_or_a_sibling() -> None:
    g = {"dagstore.connectors.pull": {"dagstore.api.dataset", "dagstore.export.source"},
         "dagstore.api.dataset": {"dagstore.delivery.selection", "dagstore.cli.app"}}
    assert upward_imports(g) == [
        "dagstore.connectors.pull imports dagstore.api.dataset (dagstore.api is not below dagstore.connectors)",
        "dagstore.connectors.pull imports dagstore.export.source (dagstore.export is not below dagstore.connectors)",
        "dagstore.api.dataset imports dagstore.cli.app (dagstore.cli is not below dagstore.api)",
    ]
    with pytest.raises(AssertionError, match="no layer"):
        layer("dagstore.newpackage.x")
