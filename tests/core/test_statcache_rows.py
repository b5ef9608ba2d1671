"""The stat cache's rows, made as columns a folder at a time, are byte for byte those the previous
release wrote (one file at a time): the same names, keys and hashes in the same order, marshalled
alike, whatever the order, the repeats and the merges of the files stored."""

from __future__ import annotations

import marshal
import os
import sqlite3
import struct
import time
from pathlib import Path

from dagstore.core.localfile import LocalFile
from dagstore.core.statcache import StatCache

OLD = 1_600_000_000 * 10**9
_PACK = struct.Struct("<3Qqq").pack


def _previous_release_store(db: sqlite3.Connection, items: list[tuple[LocalFile, str]]) -> None:
    """``StatCache.store`` as the previous release wrote it (0d97f6b), against ``db``."""
    limit = time.time_ns() - 2 * 10**9
    by_dir: dict[str, dict[bytes, tuple[bytes, str]]] = {}
    for f, h in items:
        if f.mtime_ns < limit and f.ctime_ns > 0:
            d, _, name = f.path.rpartition("/")
            by_dir.setdefault(d, {})[os.fsencode(name)] = (_PACK(f.dev, f.ino, f.size, f.mtime_ns, f.ctime_ns), h)
    current = {d: marshal.loads(b)[1:] for d, b in db.execute("SELECT dir, entries FROM folder_columns")}

    def merged(row: tuple[bytes, bytes, bytes] | None, new: dict[bytes, tuple[bytes, str]]) -> tuple[int, bytes, bytes, bytes]:
        names = row[0].split(b"\0") if row else []
        keys, hashes = (bytearray(row[1]), bytearray(row[2])) if row else (bytearray(), bytearray())
        at = {n: i for i, n in enumerate(names)}
        for name, (key, h) in new.items():
            i = at.get(name)
            if i is None:
                names.append(name)
                keys += key
                hashes += bytes.fromhex(h)
            else:
                keys[i * 40 : (i + 1) * 40] = key
                hashes[i * 16 : (i + 1) * 16] = bytes.fromhex(h)
        return 3, b"\0".join(names), bytes(keys), bytes(hashes)

    rows = [(d, marshal.dumps(merged(current.get(d), new))) for d, new in by_dir.items()]
    with db:
        db.executemany("INSERT OR REPLACE INTO folder_columns VALUES (?, ?)", rows)


def _file(path: str, n: int, mtime_ns: int = OLD, ctime_ns: int = OLD + 1) -> LocalFile:
    return LocalFile(path, path.lstrip("/"), 100 + n, mtime_ns, 66, 1000 + n, ctime_ns)


def _rows(db_path: Path) -> list[tuple[str, bytes]]:
    with sqlite3.connect(db_path) as db:
        return sorted(db.execute("SELECT dir, entries FROM folder_columns"))


def test_rows_are_the_bytes_the_previous_release_wrote(tmp_path: Path) -> None:
    cache = StatCache(tmp_path / "new.sqlite")
    StatCache(tmp_path / "old.sqlite").close()  # the same table, written below by the previous release's code
    old = sqlite3.connect(tmp_path / "old.sqlite")
    odd = os.fsdecode(b"/r/a/caf\xe9.txt")  # a name that is not UTF-8
    calls = [
        # scan order: a folder's files around its sub-folder's; one racy file, one of unknown change time; a repeat
        [(_file("/r/a/b.txt", 1), "01" * 16), (_file("/r/a/b/x", 2), "02" * 16), (_file("/r/a/b0", 3), "03" * 16),
         (_file("/r/a/now", 4, mtime_ns=time.time_ns()), "04" * 16), (_file("/r/a/unknown", 5, ctime_ns=0), "05" * 16),
         (_file(odd, 6), "06" * 16), (_file("/r/c/1", 7), "07" * 16), (_file("/r/a/b.txt", 8), "08" * 16)],
        [(_file("/r/a/b0", 9), "09" * 16), (_file("/r/a/new", 10), "0a" * 16), (_file("/r/a/b.txt", 11), "0b" * 16)],  # merged
        [(_file("/r/c/2", 12), "0c" * 16), (_file("/r/c/3", 13), "0d" * 16)],  # appended to its folder's row
        [(_file("/r/a/b/x", 14), "0e" * 16)],  # a whole row replaced by one file's
        [(_file("/r/d/racy", 15, mtime_ns=time.time_ns()), "0f" * 16)],  # nothing to remember
    ]
    for items in calls:
        cache.store(iter(items))  # any iterable
        _previous_release_store(old, items)
        assert _rows(tmp_path / "new.sqlite") == _rows(tmp_path / "old.sqlite")
    asked = [_file("/r/x/1", 1), _file("/r/a/b.txt", 11), _file("/r/a/b.txt", 8), _file("/r/x/2", 2), _file(odd, 6),
             _file("/r/a/now", 4), _file("/r/c/3", 13)]  # among files of folders it has no row of
    assert cache.known(asked) == ["", "0b" * 16, "", "", "06" * 16, "", "0d" * 16]


def test_a_hash_that_is_not_32_hex_digits_is_not_remembered_and_spoils_nothing(tmp_path: Path) -> None:
    """Only such a file is a miss: its folder's row keeps every other file (the previous
    release wrote a row whose hashes no longer matched its names: every file of it a miss)."""
    cache = StatCache(tmp_path / "sc.sqlite")
    good, short = _file("/r/a/good", 1), _file("/r/a/short", 2)
    cache.store([(good, "11" * 16), (short, "22" * 8)])
    assert cache.known([good, short]) == ["11" * 16, ""]
