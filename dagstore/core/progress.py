"""Progress reporting through fsspec's Callback protocol (tqdm bars on a terminal)."""

from __future__ import annotations

import os
import sys

from fsspec.callbacks import Callback, NoOpCallback, TqdmCallback


def progress_bar(total: int | None, desc: str, enabled: bool | None = True, unit: str = "B") -> Callback:
    """A tqdm bar on stderr when ``enabled`` and stderr is a terminal (and DAGSTORE_QUIET is
    unset); otherwise a no-op callback. Use ``relative_update(n)`` and ``close()``. ``total``
    None: not known (the bar shows the amount done and the rate, no percentage)."""
    if not enabled or os.environ.get("DAGSTORE_QUIET") or not sys.stderr.isatty():
        return NoOpCallback()
    kw = {"desc": desc, "unit": unit, "leave": False, "file": sys.stderr, "dynamic_ncols": True}
    if unit == "B":
        kw.update(unit_scale=True, unit_divisor=1024)
    cb = TqdmCallback(tqdm_kwargs=kw)
    if total is not None:
        cb.set_size(total)
    return cb
