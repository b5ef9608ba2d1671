"""The subsystems the facades load on first use: ``lazy.<name>`` is the module ``MODULES[name]``,
imported the first time it is read (a PEP 562 module ``__getattr__``), then a plain attribute.

``from dagstore import Dataset`` imports the storage core and the facades only; opening a
version, listing it and checking it out never need the annotation importers, tables, exports,
connectors or deliveries (and what they import). A facade method that needs one reads it
through this module (``lazy.selection.select(...)``), so the subsystem is imported by the first
call that uses it. This is the facades' one lazy mechanism (docs/architecture.md, "Loading a
subsystem on first use"): the ``TYPE_CHECKING`` imports below give the type checker the real
modules and keep every edge visible to the layering check (tests/project/test_layout.py), and
tests/project/test_function_imports.py checks that they name the same modules as ``MODULES``.
"""

from __future__ import annotations

import importlib
from types import ModuleType
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # "x as x": this module's attributes (re-exported, not unused)
    from .. import connectors as connectors, delivery as delivery, export as export
    from ..annotations import ops as annotation_ops  # noqa: F401 - an attribute of this module
    from ..connectors import archive as archive, pull as pull
    from ..delivery import selection as selection
    from ..export import jobs as jobs, snapshots as snapshots, source as source
    from ..tables import describe as describe

# attribute -> the module it stands for (the same as the imports above)
MODULES = {
    "annotation_ops": "dagstore.annotations.ops",
    "archive": "dagstore.connectors.archive",
    "connectors": "dagstore.connectors",
    "delivery": "dagstore.delivery",
    "describe": "dagstore.tables.describe",
    "export": "dagstore.export",
    "jobs": "dagstore.export.jobs",
    "pull": "dagstore.connectors.pull",
    "selection": "dagstore.delivery.selection",
    "snapshots": "dagstore.export.snapshots",
    "source": "dagstore.export.source",
}


def __getattr__(name: str) -> ModuleType:
    """Import the module ``name`` stands for; it is then kept as this module's attribute."""
    if name not in MODULES:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    module = importlib.import_module(MODULES[name])
    globals()[name] = module
    return module
