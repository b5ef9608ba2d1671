"""Library output: everything goes to the ``dagstore`` logger; ``verbose=True`` also prints the
message on stdout, as ClearML's ``verbose`` does."""

from __future__ import annotations

import logging
import sys

log = logging.getLogger("dagstore")
_verbose = logging.getLogger("dagstore.verbose")
_verbose.propagate = False  # printed, not also handed to the application's handlers
_verbose.setLevel(logging.INFO)
_stdout = logging.StreamHandler(sys.stdout)
_stdout.setFormatter(logging.Formatter("%(message)s"))
_verbose.addHandler(_stdout)


def report(message: str, verbose: bool = False) -> None:
    """Log ``message`` at INFO on the ``dagstore`` logger; with ``verbose`` print it on stdout instead."""
    if verbose:
        _stdout.setStream(sys.stdout)  # the current stdout: notebooks and tests replace it
        _verbose.info(message)
    else:
        log.info(message)
