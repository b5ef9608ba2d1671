"""The stat cache: (device, inode, size, mtime_ns, ctime_ns) -> hash of local files, so that an
unchanged file is never hashed twice. SQLite, one row per folder holding its files as columns."""

from __future__ import annotations

import marshal
import os
import sqlite3
import threading
import time
from collections.abc import Iterable, Sequence
from itertools import compress, repeat
from operator import itemgetter
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from .arrays import bits
from .localfile import LocalFile

_RACY_SECONDS = 2.0  # files modified this recently are hashed but not remembered (racy-git rule)

_KEY = np.dtype([("dev", "<u8"), ("ino", "<u8"), ("size", "<u8"), ("mtime_ns", "<i8"), ("ctime_ns", "<i8")])  # a file's stat key
_PATH, _HEAD, _NAME = itemgetter(0), itemgetter(0), itemgetter(2)  # a file's path; a path's rpartition("/")
_ROW_FORMAT = 3  # a folder's row: marshal of (3, NUL-joined names, keys, 16-byte hashes); 2 had no ctime


def _split(data: bytes) -> pa.Array:
    """NUL-separated byte strings as one Arrow binary array (no Python object per string)."""
    seps = np.flatnonzero(np.frombuffer(data, dtype=np.uint8) == 0)
    offsets = np.concatenate(([0], seps + 1 - np.arange(1, len(seps) + 1), [len(data) - len(seps)])).astype(np.int64)
    return pa.Array.from_buffers(pa.large_binary(), len(seps) + 1, [None, pa.py_buffer(offsets), pa.py_buffer(data.replace(b"\0", b""))])


def _row(value: object) -> tuple[bytes, bytes, bytes] | None:
    """A stored folder row as (names, keys, hashes), or None when damaged or of an earlier
    format: their keys have no change time, so a file rewritten in place with its mtime put
    back would look unchanged (a miss costs a re-hash; the row is replaced when stored)."""
    if not (type(value) is tuple and len(value) == 4 and value[0] == _ROW_FORMAT and all(type(x) is bytes for x in value[1:])):
        return None
    names, keys, hashes = value[1:]
    n = len(keys) // _KEY.itemsize
    if not n or len(keys) != n * _KEY.itemsize or len(hashes) != n * 16 or names.count(b"\0") != n - 1:
        return None
    return names, keys, hashes


_BUSY_S = 60  # how long a stat cache waits for another process's lock


def _wal(db: sqlite3.Connection) -> None:
    """Put ``db`` in WAL mode. Two processes opening a new stat cache at once (Dask workers on one
    machine) both convert it; SQLite then answers "database is locked" at once to one of them
    instead of waiting (its deadlock rule), so that one retries until the other is done."""
    deadline = time.monotonic() + _BUSY_S
    while True:
        try:
            db.execute("PRAGMA journal_mode=WAL")
            return
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) or time.monotonic() > deadline:
                raise
            time.sleep(0.01)


class StatCache:
    """Remembers (device, inode, size, mtime_ns, ctime_ns) -> hash of local files, so that an
    unchanged file is never hashed twice (the change time, which no one can set back, catches a
    file rewritten in place with its size and mtime restored, e.g. by ``touch -d``). SQLite,
    one row per folder holding its files as columns: names, stat keys and hashes (a W1-sized
    tree is ~600 rows, read in milliseconds); a scan's files are looked up in one vectorised
    pass. Safe for several processes (a lost update only costs a re-hash) and for several
    threads of one, which lose none."""

    def __init__(self, db_path: str | os.PathLike[str]):
        Path(db_path).parent.mkdir(parents=True, exist_ok=True)
        self._db = sqlite3.connect(os.fspath(db_path), timeout=_BUSY_S, check_same_thread=False)
        _wal(self._db)
        self._db.execute("PRAGMA synchronous=NORMAL")  # WAL: no fsync per commit; a crash loses updates, never corrupts
        self._db.execute("CREATE TABLE IF NOT EXISTS folder_columns (dir TEXT PRIMARY KEY, entries BLOB)")
        self._lock = threading.Lock()  # the connection
        self._storing = threading.Lock()  # a folder's row read, merged and written by one thread at a time

    def _load(self, dirs: Iterable[str]) -> dict[str, tuple[bytes, bytes, bytes]]:
        out: dict[str, tuple[bytes, bytes, bytes]] = {}
        todo = list(dirs)
        with self._lock:
            for i in range(0, len(todo), 500):
                chunk = todo[i : i + 500]
                q = f"SELECT dir, entries FROM folder_columns WHERE dir IN ({','.join('?' * len(chunk))})"
                for d, blob in self._db.execute(q, chunk):
                    try:
                        row = _row(marshal.loads(blob))
                    except (EOFError, ValueError, TypeError):
                        row = None  # a damaged row is just a cache miss
                    if row is not None:
                        out[d] = row
        return out

    def known(self, files: Sequence[LocalFile]) -> list[str]:
        """The hash of each file whose stat key is unchanged, "" for the others (in order)."""
        if not files:
            return []
        dirs = list(map(_HEAD, map(str.rpartition, map(_PATH, files), repeat("/"))))
        rows = self._load(set(dirs))
        rowed = np.flatnonzero(np.fromiter(map(rows.__contains__, dirs), dtype=bool, count=len(dirs)))  # files of a folder in it
        if not len(rowed):
            return [""] * len(files)
        # only files of a folder with a row are matched: for a new tree's chunk, just those of the
        # folder whose first files the chunk before stored, not all of its files
        some = files if len(rowed) == len(files) else list(map(files.__getitem__, rowed.tolist()))
        where = []
        for d, (names, _k, _h) in rows.items():
            pre = os.fsencode(d) + b"/"
            where.append(pre + names.replace(b"\0", b"\0" + pre))
        at = pc.index_in(_split(os.fsencode("\0".join(map(_PATH, some)))), value_set=_split(b"\0".join(where)))
        ix = np.frombuffer(at.buffers()[1], dtype=np.int32)[at.offset : at.offset + len(at)].astype(np.int64)  # null: any value
        hit = np.flatnonzero(bits(at.is_valid()))
        keys = np.frombuffer(b"".join(k for _n, k, _h in rows.values()), dtype=_KEY)
        hit = hit[keys[ix[hit]] == _keys(some)[hit]]
        hashes = np.frombuffer(b"".join(h for _n, _k, h in rows.values()), dtype=np.uint8).reshape(-1, 16)
        hx = hashes[ix[hit]].tobytes().hex()
        found = [hx[i : i + 32] for i in range(0, len(hx), 32)]
        if len(found) == len(files):
            return found
        out = [""] * len(files)
        for i, h in zip(rowed[hit].tolist(), found):
            out[i] = h
        return out

    def lookup(self, files: Sequence[LocalFile]) -> dict[str, str]:
        """Hashes of the files whose stat key is unchanged, by absolute path."""
        return {f.path: h for f, h in zip(files, self.known(files)) if h}

    def store(self, items: Iterable[tuple[LocalFile, str]]) -> None:
        """Remember the hashes of these files, except files modified in the last two seconds
        (the racy-git rule: another write in the same mtime tick would keep their key) and files
        whose change time is not known (their key could never match a scanned file's), nor a
        hash that is not 32 hex digits. A file given twice keeps its last hash. Keys and hashes
        are made as columns, a slice of them per folder: no Python call per file but its path's split."""
        pairs = list(items)
        if not pairs:
            return
        files, hexes = zip(*pairs)
        keys = _keys(files)
        limit = time.time_ns() - int(_RACY_SECONDS * 1e9)
        ok = ((keys["mtime_ns"] < limit) & (keys["ctime_ns"] > 0) & (np.fromiter(map(len, hexes), np.int64, len(hexes)) == 32)).tolist()
        last = dict(zip(compress(map(_PATH, files), ok), compress(range(len(files)), ok)))  # path: its last pair
        if not last:
            return
        if len(last) < len(files):
            at = list(last.values())
            keys, hexes = keys[at], tuple(map(hexes.__getitem__, at))
        raw = bytes.fromhex("".join(hexes))
        if len(raw) != 16 * len(hexes):  # white space, which fromhex skips: the digests would shift
            raise ValueError(f"not a hash: {next(h for h in hexes if len(bytes.fromhex(h)) != 16)!r}")
        digests: np.ndarray = np.frombuffer(raw, dtype=np.uint8).reshape(-1, 16)
        heads = list(map(str.rpartition, last, repeat("/")))  # (folder, "/", name), in the order of ``last``
        first: dict[str, int] = {}
        group = np.array(list(map(first.setdefault, map(_HEAD, heads), range(len(heads)))))  # a folder's first index
        if (np.diff(group) < 0).any():  # a folder's files not all together (a scan puts a sub-folder's between them)
            order = np.argsort(group, kind="stable")  # each folder's files together, in the order given
            group, keys, digests = group[order], keys[order], digests[order]
            heads = list(map(heads.__getitem__, order.tolist()))
        cuts = (np.flatnonzero(np.diff(group)) + 1).tolist()
        names = list(map(_NAME, heads))
        by_dir = {heads[i][0]: (i, j) for i, j in zip([0, *cuts], [*cuts, len(names)])}
        with self._storing:  # hashing threads share folders (``hash_list`` deals files out in turn): none loses another's
            current = self._load(by_dir)
            # each row's bytes made in the call, held by nothing else: marshal writes them as the release before did
            rows = [(d, marshal.dumps(_merged(current.get(d), os.fsencode("\0".join(names[i:j])), keys[i:j].tobytes(),
                                              digests[i:j].tobytes()))) for d, (i, j) in by_dir.items()]
            with self._lock, self._db:
                self._db.executemany("INSERT OR REPLACE INTO folder_columns VALUES (?, ?)", rows)

    def close(self) -> None:
        self._db.close()


def _merged(row: tuple[bytes, bytes, bytes] | None, names: bytes, keys: bytes, hashes: bytes) -> tuple[int, bytes, bytes, bytes]:
    """A folder's row with new files (their NUL-joined names, keys and hashes; no name twice)
    put in: a file of the same name is replaced where it is, the others are appended in order."""
    if row is None:
        return _ROW_FORMAT, names, keys, hashes
    old, new = row[0].split(b"\0"), names.split(b"\0")
    at = list(map(dict(zip(old, range(len(old)))).get, new))
    if at.count(None) == len(at):  # all new to the folder (the rest of a folder a batch cut)
        return _ROW_FORMAT, row[0] + b"\0" + names, row[1] + keys, row[2] + hashes
    names_out, keys_out, hashes_out = old, bytearray(row[1]), bytearray(row[2])
    size = _KEY.itemsize
    for i, (name, j) in enumerate(zip(new, at)):
        key, digest = keys[i * size : (i + 1) * size], hashes[i * 16 : (i + 1) * 16]
        if j is None:
            names_out.append(name)
            keys_out += key
            hashes_out += digest
        else:
            keys_out[j * size : (j + 1) * size] = key
            hashes_out[j * 16 : (j + 1) * 16] = digest
    return _ROW_FORMAT, b"\0".join(names_out), bytes(keys_out), bytes(hashes_out)


def _keys(files: Sequence[LocalFile]) -> np.ndarray:
    """The files' stat keys as one array (``_KEY``)."""
    _path, _rel, size, mtime_ns, dev, ino, ctime_ns = zip(*files)
    out = np.empty(len(files), dtype=_KEY)
    for name, values in (("dev", dev), ("ino", ino), ("size", size), ("mtime_ns", mtime_ns), ("ctime_ns", ctime_ns)):
        out[name] = values
    return out
