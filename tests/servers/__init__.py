"""Test servers and child processes: one package of process helpers (``process``: free port,
start, wait until ready, stop by PID) used by every server recipe (``storage``, ``sql``,
``files``, ``delivery``) and by the concurrency tests' children (``children``).

Fixtures live in ``fixtures`` and are registered once, by ``pytest_plugins`` in tests/conftest.py;
test modules request them by name and import helpers from here::

    from servers import closed_port, consume, Children, wait_until
"""
from __future__ import annotations

from .children import Child, Children
from .delivery import ReceiverClient, consume
from .process import ServerProcess, ServerStartError, closed_port, free_port, wait_until
from .storage import Server

__all__ = ["Child", "Children", "ReceiverClient", "Server", "ServerProcess", "ServerStartError", "closed_port",
           "consume", "free_port", "wait_until"]
