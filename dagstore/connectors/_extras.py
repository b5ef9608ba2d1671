"""Optional dependencies: a clear error naming the extra to install."""

from __future__ import annotations

import importlib
from types import ModuleType

from .errors import ConnectorError


def need(module: str, extra: str) -> ModuleType:
    try:
        return importlib.import_module(module)
    except ImportError:
        raise ConnectorError(f"{module} is not installed: pip install 'dagstore[{extra}]'") from None
