"""No import inside a function (docs/architecture.md, "Layers and the import rule"), except a
lazy import of an optional dependency listed in ``LAZY`` with its reason: a module that needs an
extra is imported when it is used, so ``import dagstore`` and the CLI work without the extra.

Run alone with ``./dev test tests/project/test_function_imports.py``. An import inside a function
only to break a cycle is a layering bug: fix the layering, never add it here.
"""

from __future__ import annotations

import ast
from pathlib import Path

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
}


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
