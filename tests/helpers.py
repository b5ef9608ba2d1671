"""Small helpers shared by tests: write sample trees and read folders back."""

from __future__ import annotations

import hashlib
import os
import selectors
import subprocess
import sys
from collections.abc import Mapping
from pathlib import Path

from dagstore.core.packindex import BlobLocation, Columns, build


def write_tree(root: Path, files: dict[str, bytes | str]) -> Path:
    """Create ``files`` ({relative path: content}) under ``root``; returns ``root``."""
    for rel, content in files.items():
        p = root / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_bytes(content.encode() if isinstance(content, str) else content)
    return root


def read_tree(root: str | os.PathLike[str]) -> dict[str, bytes]:
    """{relative posix path: bytes} of every file under ``root``."""
    out = {}
    for dirpath, _dirs, files in os.walk(root):
        for f in files:
            full = os.path.join(dirpath, f)
            out[os.path.relpath(full, root).replace(os.sep, "/")] = Path(full).read_bytes()
    return out


def noise(seed: str, size: int) -> bytes:
    """``size`` incompressible bytes, the same on every machine (BLAKE2b in counter mode)."""
    out = bytearray()
    i = 0
    while len(out) < size:
        out += hashlib.blake2b(f"{seed}/{i}".encode(), digest_size=64).digest()
        i += 1
    return bytes(out[:size])


def index_columns_of(pack: str, locs: Mapping[str, BlobLocation]) -> Columns:
    """The index columns of a pack holding ``locs`` ({hash: location}), as its writer builds them."""
    return build(pack, [(h, *loc[1:]) for h, loc in locs.items()])


# a child's hook that stops it: one byte to the fd in DS_TEST_PAUSED_FD, then a line from stdin.
# Ctrl-C raises in the child as in a terminal, whatever the test process had when it started it: a
# SIGINT ignored or blocked there then (both survive exec, and Python sets its handler only over the
# default) leaves the child deaf to the test's SIGINT: exit 0, stderr empty, as a CI run once saw
PAUSE = """
import signal
signal.signal(signal.SIGINT, signal.default_int_handler)
signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGINT})
def pause():
    import os, sys
    os.write(int(os.environ["DS_TEST_PAUSED_FD"]), b"x")
    sys.stdin.readline()
"""


def paused_python(code: str, args: list[str], pythonpath: str) -> subprocess.Popen[str]:
    """Run ``PAUSE + code`` in a Python child (``pythonpath`` before the inherited one) and
    return it once it called ``pause()``; a line on its stdin lets it go on."""
    r, w = os.pipe()
    env = {**os.environ, "DS_TEST_PAUSED_FD": str(w),
           "PYTHONPATH": os.pathsep.join(p for p in (pythonpath, os.environ.get("PYTHONPATH")) if p)}
    proc = subprocess.Popen([sys.executable, "-c", PAUSE + code, *args], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env=env, pass_fds=(w,))
    os.close(w)
    try:
        with selectors.DefaultSelector() as sel:  # epoll: select() refuses descriptors past 1023 (a long test run has them)
            sel.register(r, selectors.EVENT_READ)
            said = os.read(r, 1) if sel.select(120) else b""
    finally:
        os.close(r)
    if said != b"x":
        proc.kill()
        raise AssertionError(f"the child never paused: {proc.communicate()}")
    return proc
