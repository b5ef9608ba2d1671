"""The package layout (docs/architecture.md): no import cycles, no upward imports.

Run alone with ``./dev test tests/project/test_layout.py``. Every ``import`` / ``from ... import`` in
``dagstore/`` counts, including those inside functions.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PKG = Path(__file__).resolve().parents[2] / "dagstore"

# Lower rank = lower layer. A module may import its own top-level package and lower ranks.
RANKS = {
    "dagstore.errors": 0, "dagstore._atomic": 0, "dagstore._log": 0, "dagstore.secrets": 0.5, "dagstore.spec_string": 0.5,
    "dagstore.config": 1, "dagstore.archive": 1,
    "dagstore.core": 2,
    "dagstore.refs": 3,
    "dagstore.fs": 4,
    "dagstore.api": 5,
    "dagstore.annotations": 6, "dagstore.connectors": 6,
    "dagstore.export": 7, "dagstore.delivery": 7.5,  # targets may use export (architecture.md, "Where new things go")
    "dagstore": 8,  # __init__.py: the public API (re-exports only)
    "dagstore.ui": 8.5,  # the web UI: a face over the public API, like cli (which launches it: `dagstore ui`)
    "dagstore.cli": 9, "dagstore.demo": 9,  # clients of the public API
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


# The Dataset facade delegates its marked sections up into the subsystem packages (see
# docs/architecture.md, "Where new things go"); nothing else in api may.
FACADE_DELEGATES = {"dagstore.api.dataset": {"dagstore.annotations", "dagstore.export", "dagstore.connectors", "dagstore.delivery"}}


def upward_imports(g: dict[str, set[str]]) -> list[str]:
    """Imports of a layer that is not strictly below the importer's (its own package excepted)."""
    bad = []
    for mod, deps in g.items():
        top, rank = layer(mod)
        for dep in sorted(deps):
            dep_top, dep_rank = layer(dep)
            if dep_top in FACADE_DELEGATES.get(mod, ()):
                continue
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
    with pytest.raises(AssertionError, match="no layer"):
        layer("dagstore.newpackage.x")
