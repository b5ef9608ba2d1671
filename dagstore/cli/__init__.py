"""The ``dagstore`` command line: thin verb modules over the library.

Each verb group is one module that registers its commands on ``cli`` when imported; a new
group is one new module plus one import line below (the order of the lines is the order
of ``dagstore --help``).
"""

from .app import cli, main

from . import write  # noqa: E402,F401  create add remove upload close publish sync squash
from . import read  # noqa: E402,F401  get list compare diff search verify
from . import manage  # noqa: E402,F401  set-description delete rename move log
from . import maintenance  # noqa: E402,F401  gc config
from . import annotations  # noqa: E402,F401  import annotations
from . import export  # noqa: E402,F401  export (+ jobs) download snapshot
from . import delivery  # noqa: E402,F401  export-method select exporter deliveries
from . import connectors  # noqa: E402,F401  connector datasource describe
from . import ui  # noqa: E402,F401  ui ui-previews

__all__ = ["cli", "main"]
