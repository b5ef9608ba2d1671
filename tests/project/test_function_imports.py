"""No import inside a function (docs/architecture.md, "Layers and the import rule"), except a
lazy import of an optional dependency listed in ``LAZY`` with its reason: a module that needs an
extra is imported when it is used, so ``import dagstore`` and the CLI work without the extra.
A module imported by its name (``importlib.import_module``) only in the places ``DYNAMIC`` lists:
the facades' subsystems loaded on first use (``dagstore/api/lazy.py``) and registries.

Run alone with ``./dev test tests/project/test_function_imports.py``. An import inside a function
only to break a cycle is a layering bug: fix the layering, never add it here.
"""

from __future__ import annotations

import ast
from pathlib import Path

from dagstore.api import lazy

PKG = Path(__file__).resolve().parents[2] / "dagstore"

# What may be imported inside a function (the module or any submodule of it), and why.
LAZY = {
    "PIL": "Pillow: the [annotations], [export] and [ui] extras (image sizes, masks, thumbnails)",
    "yaml": "PyYAML: the [annotations] and [export] extras (YOLO data.yaml)",
    "soundfile": "the [annotations] and [export] extras (audio durations)",
    "spacy": "the [spacy] extra (DocBin exports)",
    "sqlalchemy": "the [sql] extra (SQL connectors and exporters)",
    "psycopg": "the [sql] extra (PostgreSQL type names)",
    "requests": "the [delivery] and [http] extras (webhooks)",
    "confluent_kafka": "the [delivery] and [kafka] extras",
    "distributed": "the [dask] extra (--scheduler)",
    "pandas": "no extra: ClearML's get_metadata returns a DataFrame only when pandas is installed",
    "fsspec.implementations.sftp": "imports paramiko, the [sftp] extra",
    "dagstore.connectors.hostkeys": "imports paramiko, the [sftp] extra",
    "dagstore.ui": "imports starlette and jinja2, the [ui] extra: only `dagstore ui` needs it",
    "azure": "azure-core comes with adlfs, the [azure] extra: only an Azure store's conditional draft save needs it",
}


# Where a module may be imported by its name at run time (``importlib.import_module``), and why: an
# import by name is an import inside a function that the checks above cannot see, so it is kept to
# these places (the facades' one lazy mechanism, and registries loading their own members by name).
DYNAMIC = {
    "dagstore.api.lazy": "the facades load a subsystem on first use (its MODULES, checked below)",
    "dagstore.annotations.importers": "the importer registry loads a format's module when it is named",
    "dagstore.connectors.registry": "the connector registry loads its types' modules",
    "dagstore.connectors._extras": "an optional dependency, with the extra to install in its error",
}
LAZY_MODULE = PKG / "api" / "lazy.py"


def _absolute(node: ast.ImportFrom | ast.Import, module: str, is_package: bool) -> list[str]:
    """The absolute module names an import statement names."""
    if isinstance(node, ast.Import):
        return [a.name for a in node.names]
    if not node.level:
        return [node.module or ""]
    base = module.split(".") if is_package else module.split(".")[:-1]
    base = base[: len(base) - (node.level - 1)]
    target = ".".join([*base, node.module] if node.module else base)
    return [target] if node.module else [f"{target}.{a.name}" for a in node.names]


def _allowed(name: str) -> bool:
    return any(name == lazy or name.startswith(lazy + ".") for lazy in LAZY)


def function_imports(source: str, module: str, is_package: bool = False) -> list[str]:
    """``<module>:<line> imports <name>`` for each import inside a function that ``LAZY`` does not allow."""
    bad = []
    for fn in ast.walk(ast.parse(source)):
        if not isinstance(fn, (ast.FunctionDef, ast.AsyncFunctionDef)):
            continue
        for node in ast.walk(fn):
            if isinstance(node, (ast.Import, ast.ImportFrom)):
                bad += [f"{module}:{node.lineno} imports {n}" for n in _absolute(node, module, is_package)
                        if not _allowed(n)]
    return sorted(set(bad))


def _module(path: Path) -> tuple[str, bool]:
    parts = path.relative_to(PKG.parent).with_suffix("").parts
    package = parts[-1] == "__init__"
    return ".".join(parts[:-1] if package else parts), package


def test_no_import_inside_a_function_but_an_optional_dependency() -> None:
    bad = []
    for path in sorted(PKG.rglob("*.py")):
        bad += function_imports(path.read_text(), *_module(path))
    assert not bad, ("move these imports to the module's top (a cycle is a layering bug), or, for an optional "
                     "dependency, list it in LAZY with its reason:\n" + "\n".join(bad))


def test_every_lazy_entry_is_still_needed() -> None:
    """The table stays as small as the code: an entry nothing imports inside a function goes."""
    used = set()
    for path in sorted(PKG.rglob("*.py")):
        module, is_package = _module(path)
        for fn in ast.walk(ast.parse(path.read_text())):
            if isinstance(fn, (ast.FunctionDef, ast.AsyncFunctionDef)):
                used |= {lazy for node in ast.walk(fn) if isinstance(node, (ast.Import, ast.ImportFrom))
                         for name in _absolute(node, module, is_package) for lazy in LAZY
                         if name == lazy or name.startswith(lazy + ".")}
    assert sorted(set(LAZY) - used) == []


def test_the_check_catches_an_import_inside_a_function() -> None:
    source = ("import json\n"
              "def f():\n    import time\n    from ..core import layout\n    from PIL import Image\n"
              "class C:\n    async def g(self):\n        from . import hostkeys, sql\n")
    assert function_imports(source, "dagstore.connectors.sftp") == [
        "dagstore.connectors.sftp:3 imports time",
        "dagstore.connectors.sftp:4 imports dagstore.core",
        "dagstore.connectors.sftp:8 imports dagstore.connectors.sql",
    ]
    assert function_imports("def f():\n    from .app import create_app\n", "dagstore.ui", is_package=True) == []
    assert function_imports("def f():\n    import pillow_like\n", "dagstore.x") == ["dagstore.x:2 imports pillow_like"]


def dynamic_imports(source: str) -> list[int]:
    """Lines that import a module by name (``importlib.import_module``, ``__import__``)."""
    return sorted({node.lineno for node in ast.walk(ast.parse(source)) if isinstance(node, ast.Call) and (
        (isinstance(node.func, ast.Attribute) and node.func.attr in ("import_module", "__import__"))
        or (isinstance(node.func, ast.Name) and node.func.id in ("import_module", "__import__")))})


def test_imports_by_name_only_where_listed() -> None:
    found = {}
    for path in sorted(PKG.rglob("*.py")):
        lines = dynamic_imports(path.read_text())
        if lines:
            found[_module(path)[0]] = lines
    bad = [f"{m}:{lines}" for m, lines in found.items() if m not in DYNAMIC]
    assert not bad, "an import by name outside DYNAMIC (use a top-level import, or api.lazy for a subsystem):\n" + "\n".join(bad)
    assert sorted(set(DYNAMIC) - set(found)) == []  # every entry still needed


def test_the_dynamic_check_catches_an_import_by_name() -> None:
    source = ("import importlib\nfrom importlib import import_module\ndef f(n):\n    importlib.import_module(n)\n"
              "    import_module(n)\n    __import__(n)\nx = importlib.util\n")
    assert dynamic_imports(source) == [4, 5, 6]


def test_the_lazy_subsystems_are_the_ones_their_typing_imports_name() -> None:
    """``api.lazy.MODULES`` names what its ``TYPE_CHECKING`` imports name: those imports are what the
    layering check (test_layout.py) and the type checker see, so the table cannot load anything else."""
    typed = {}
    for node in ast.walk(ast.parse(LAZY_MODULE.read_text())):
        if isinstance(node, ast.If) and isinstance(node.test, ast.Name) and node.test.id == "TYPE_CHECKING":
            for imp in node.body:
                assert isinstance(imp, ast.ImportFrom)
                names = _absolute(imp, "dagstore.api.lazy", False)
                for i, alias in enumerate(imp.names):
                    typed[alias.asname or alias.name] = names[i] if imp.module is None else f"{names[0]}.{alias.name}"
    assert typed == lazy.MODULES
