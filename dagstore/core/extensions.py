"""Late binding of subsystems that sit above core and api (connectors, targets, ...).

A subsystem provides its entry points by name when it is imported (``dagstore/__init__``
imports every subsystem, and any ``import dagstore...`` runs it first); lower layers look
them up by name. So ``Store.connectors`` and the ``Dataset`` methods of a subsystem exist
without core or api importing a higher layer.
"""

from __future__ import annotations

from typing import Any

from ..errors import DagstoreError

_PROVIDED: dict[str, Any] = {}


def provide(name: str, obj: Any) -> None:
    """Register ``obj`` (a factory, a module, a function) under ``name``."""
    _PROVIDED[name] = obj


def lookup(name: str) -> Any:
    """The object provided under ``name``; DagstoreError when its package was not imported."""
    try:
        return _PROVIDED[name]
    except KeyError:
        package = name.split(".", 1)[0]
        raise DagstoreError(f"{name} is provided by dagstore.{package}: import dagstore (or dagstore.{package})") from None
