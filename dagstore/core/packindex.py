"""A pack's blob locations as columns: the one compact form of a pack index in memory and in
the local cache.

Finding whether the store already holds some blobs (upload's dedupe, finalize's check) should
not decode every stored index into a Python object per blob: a store's indexes list every
blob ever uploaded. A pack's index is kept as sorted 16-byte hashes and integer columns; a
lookup is one binary search of the wanted hashes per pack. The writer of a pack builds its
columns directly (``build``, from the rows of the header it wrote); the cache keeps those
bytes, and those of every index it decodes (``packs.index_columns``), under ``meta/index-cols``.

Layout (``meta/index-cols/<pack id>``): ``b"DAGIDXC2"``, ``u64le n``, ``u64le`` xxh3-64 of the
rest, then ``n`` hashes (16 bytes each, sorted), offsets, lengths and raw lengths (``u64le``
each), codecs (``u8``). A file that fails any check is not used: the caller rebuilds it from
the index, so a flipped bit never turns into a wrong location.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import partial
from itertools import repeat
from typing import Any, NamedTuple

import numpy as np
import xxhash

MAGIC = b"DAGIDXC2"
_HEAD = len(MAGIC) + 16  # magic, n, digest
_ROW = 16 + 3 * 8 + 1  # bytes per blob


class BlobLocation(NamedTuple):
    """Where a blob lives: ``length`` stored bytes at ``offset`` of pack ``pack``."""

    pack: str
    offset: int
    length: int
    raw_length: int
    codec: int


_new_location = partial(tuple.__new__, BlobLocation)  # a BlobLocation from a 5-tuple, without a Python call per blob


def build(pack: str, rows: Sequence[tuple[str, int, int, int, int]]) -> Columns:
    """The columns of a pack being written, from its header's rows ``(hash, offset, length,
    raw length, codec)`` (unique hashes): the bytes ``packs.index_columns`` makes of its index."""
    if not rows:
        return Columns(pack, of_arrays(b"", np.zeros((0, 3), dtype=np.int64), np.zeros(0, dtype=np.uint8)))
    hashes, offsets, lengths, raws, codecs = zip(*rows)  # columns in C, not a Python step per blob
    return Columns(pack, of_arrays(bytes.fromhex("".join(hashes)), np.array([offsets, lengths, raws], dtype=np.int64).T,
                                   np.array(codecs, dtype=np.uint8)))


def of_arrays(raw: bytes, ints: np.ndarray, codecs: np.ndarray) -> bytes:
    """The columns file of unique 16-byte hashes ``raw``, their ``(n, 3)`` offsets, lengths and
    raw lengths, and codecs, sorted by hash (numpy's ``S16`` order, which ``find`` searches;
    for hex digests the order of their text)."""
    keys = np.frombuffer(raw, dtype="S16")
    order = np.argsort(keys, kind="stable")
    ints = ints.astype("<u8")[order]
    body = b"".join([keys[order].tobytes(), ints[:, 0].tobytes(), ints[:, 1].tobytes(), ints[:, 2].tobytes(), codecs[order].tobytes()])
    return b"".join([MAGIC, len(keys).to_bytes(8, "little"), xxhash.xxh3_64_intdigest(body).to_bytes(8, "little"), body])


class Columns:
    """One pack's index columns (views of ``data``, the bytes kept in the cache)."""

    def __init__(self, pack: str, data: bytes):
        n = int(np.frombuffer(data, dtype="<u8", count=1, offset=len(MAGIC))[0])
        self.pack = pack
        self.data = data
        self.hashes = np.frombuffer(data, dtype="S16", count=n, offset=_HEAD)
        self.ints = [np.frombuffer(data, dtype="<u8", count=n, offset=_HEAD + 16 * n + 8 * n * k) for k in range(3)]
        self.codecs = np.frombuffer(data, dtype=np.uint8, count=n, offset=_HEAD + 40 * n)

    def __reduce__(self) -> tuple[Any, ...]:
        return Columns, (self.pack, self.data)  # a worker's fragment carries the bytes once, not each view

    def __len__(self) -> int:
        return len(self.hashes)

    def find(self, wanted: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(indices into ``wanted`` of the hashes this pack holds, their rows here);
        ``wanted``: sorted 16-byte hashes (``S16``)."""
        if not len(self.hashes) or not len(wanted):
            return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64)
        if len(wanted) > len(self.hashes):  # the fewer binary searches: this pack's hashes among the wanted
            pos = np.minimum(np.searchsorted(wanted, self.hashes), len(wanted) - 1)
            rows = np.flatnonzero(wanted[pos] == self.hashes)
            return pos[rows], rows
        pos = np.minimum(np.searchsorted(self.hashes, wanted), len(self.hashes) - 1)
        hit = np.flatnonzero(self.hashes[pos] == wanted)
        return hit, pos[hit]

    def lookup(self, wanted: Sequence[str], needles: np.ndarray) -> dict[str, BlobLocation]:
        """``{hash: location}`` of the blobs of ``wanted`` (sorted unique hex hashes; ``needles``
        their ``wanted_array``) this pack holds."""
        hit, rows = self.find(needles)
        return self._located([wanted[i] for i in hit.tolist()], rows)

    def locations(self) -> dict[str, BlobLocation]:
        """Every blob's location, in the pack's order (by offset, an empty blob before the blob
        at its offset): the order its header lists them in."""
        order = np.lexsort((self.ints[1], self.ints[0]))
        hx = self.hashes[order].tobytes().hex()
        return self._located([hx[i : i + 32] for i in range(0, len(hx), 32)], order)

    def _located(self, keys: Sequence[str], rows: np.ndarray) -> dict[str, BlobLocation]:
        """``{keys[k]: location of row rows[k]}``: a gather per column, no numpy call per blob."""
        offsets, lengths, raws = (c[rows].tolist() for c in self.ints)
        rows_of = zip(repeat(self.pack), offsets, lengths, raws, self.codecs[rows].tolist())
        return dict(zip(keys, map(_new_location, rows_of)))


def decode(pack: str, data: bytes | None) -> Columns | None:
    """The cached columns of ``pack``, or None when missing or damaged (then decode the index)."""
    if data is None or not data.startswith(MAGIC) or len(data) < _HEAD:
        return None
    n = int(np.frombuffer(data, dtype="<u8", count=1, offset=len(MAGIC))[0])
    if len(data) != _HEAD + _ROW * n:
        return None
    if xxhash.xxh3_64_intdigest(memoryview(data)[_HEAD:]) != int.from_bytes(data[_HEAD - 8:_HEAD], "little"):
        return None
    cols = Columns(pack, data)
    if n > 1 and not bool(np.all(cols.hashes[:-1] < cols.hashes[1:])):
        return None
    if not bool(np.all(cols.codecs <= 1)):
        return None
    return cols


def wanted_array(hashes: Sequence[str]) -> np.ndarray:
    """Sorted unique hex hashes as ``S16`` (for ``Columns.find``)."""
    return np.frombuffer(bytes.fromhex("".join(hashes)), dtype="S16")
