"""The one zip guard (``dagstore.archive``), through each of its three callers: ``add_zip``,
annotation imports and export-download extraction. Every hostile archive is refused whole
with one line naming the problem, and nothing is extracted or added."""

from __future__ import annotations

import stat
import tempfile
import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from dagstore import Dataset, Store, UnsafeArchiveError, archive
from dagstore.annotations import ImportSourceError
from dagstore.annotations.importers import read_source
from dagstore.errors import FormatError
from dagstore.export.extract import safe_extract

Entry = tuple[Any, bytes]


def _special(name: str, mode: int, data: bytes = b"x") -> Entry:
    info = zipfile.ZipInfo(name)
    info.create_system = 3
    info.external_attr = (mode | 0o777) << 16
    return info, data


def _encrypted(path: Path) -> None:
    raw = bytearray(path.read_bytes())
    for sig, off in ((b"PK\x03\x04", 6), (b"PK\x01\x02", 8)):  # set the encryption flag bit
        at = raw.find(sig)
        raw[at + off] |= 0x1
    path.write_bytes(bytes(raw))


# name -> (entries, reason in the message); each archive also holds a harmless file first
ATTACKS: dict[str, tuple[list[Entry], str]] = {
    "dotdot": ([("../evil.txt", b"x")], "escapes the target folder"),
    "nested dotdot": ([("a/../../evil.txt", b"x")], "escapes the target folder"),
    "backslash dotdot": ([("..\\evil.txt", b"x")], "escapes the target folder"),
    "absolute": ([("/tmp/evil.txt", b"x")], "absolute path"),
    "drive": ([("C:/evil.txt", b"x")], "absolute path"),
    "symlink": ([_special("link", stat.S_IFLNK, b"/etc/passwd")], "is a symlink"),
    "fifo": ([_special("fifo", stat.S_IFIFO)], "is a special file"),
    "duplicate": ([("a.txt", b"x"), ("a.txt", b"y")], "is a duplicate path"),
    "file and folder": ([("a", b"x"), ("a/b", b"y")], "is a duplicate path"),
    "entry ratio bomb": ([("bomb.bin", b"\0" * (50 << 20))], "decompression bomb"),
    "overall ratio bomb": ([(f"z{i}.bin", b"\0" * (900 << 10)) for i in range(4)], "expands .*x overall"),
    "encrypted": ([("secret.txt", b"not really encrypted")], "is encrypted"),
}


def make_zip(path: Path, case: str) -> Path:
    entries, _reason = ATTACKS[case]
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("ok/first.txt", b"harmless")
        for name, data in entries:
            zf.writestr(name, data)
    if case == "encrypted":
        _encrypted(path)
    return path


def _add_zip(store: Store, z: Path, tmp_path: Path) -> Callable[[], object]:
    (tmp_path / "keep.txt").write_text("keep")
    ds = Dataset.create("z", "p", store=store)
    ds.add_files(str(tmp_path / "keep.txt"))

    def run() -> object:
        try:
            return ds.add_zip(str(z))
        finally:
            assert ds.list_files() == ["keep.txt"]
    return run


def _import(z: Path) -> object:
    ctx, stack = read_source(z, "coco")
    stack.close()
    return ctx


@pytest.fixture
def scratch(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The temporary folder every caller extracts into: must be empty again afterwards."""
    tmp = tmp_path / "scratch"
    tmp.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(tmp))
    return tmp


def refused(call: Callable[[], object], error: type[Exception], reason: str) -> str:
    with pytest.raises(error, match=reason) as ei:
        call()
    text = str(ei.value)
    assert "\n" not in text and "archive refused" in text
    return text


@pytest.mark.filterwarnings("ignore:Duplicate name")  # zipfile warns while writing the duplicate on purpose
@pytest.mark.parametrize("case", sorted(ATTACKS))
def test_add_zip_refuses_every_attack_and_adds_nothing(case: str, tmp_path: Path, scratch: Path) -> None:
    z = make_zip(tmp_path / "bad.zip", case)
    refused(_add_zip(Store(str(tmp_path / "store")), z, tmp_path), UnsafeArchiveError, ATTACKS[case][1])
    assert list(scratch.iterdir()) == []
    assert not (tmp_path / "evil.txt").exists() and not Path("/tmp/evil.txt").exists()


@pytest.mark.filterwarnings("ignore:Duplicate name")
@pytest.mark.parametrize("case", sorted(ATTACKS))
def test_annotation_import_refuses_every_attack_and_extracts_nothing(case: str, tmp_path: Path, scratch: Path) -> None:
    z = make_zip(tmp_path / "bad.zip", case)
    text = refused(lambda: _import(z), ImportSourceError, ATTACKS[case][1])
    assert text.startswith(f"{z}: entry ") or text.startswith(f"{z}: expands")
    assert list(scratch.iterdir()) == []
    assert not (tmp_path / "evil.txt").exists()


@pytest.mark.filterwarnings("ignore:Duplicate name")
@pytest.mark.parametrize("case", sorted(ATTACKS))
def test_download_extraction_refuses_every_attack_and_writes_nothing(case: str, tmp_path: Path) -> None:
    z = make_zip(tmp_path / "bad.zip", case)
    refused(lambda: safe_extract(str(z), str(tmp_path / "out" / "data")), UnsafeArchiveError, ATTACKS[case][1])
    assert not (tmp_path / "out").exists()  # no target, no temporary sibling, not the folder made for them
    assert not (tmp_path / "evil.txt").exists()


def _plain_zip(path: Path, files: dict[str, bytes]) -> Path:
    with zipfile.ZipFile(path, "w", zipfile.ZIP_STORED) as zf:
        for name, data in files.items():
            zf.writestr(name, data)
    return path


@pytest.mark.parametrize("limit,value,reason", [("MAX_TOTAL", 1000, "bytes uncompressed"),
                                                ("MAX_ENTRIES", 2, "entries, over the limit")])
def test_size_and_count_limits_apply_to_every_caller(limit: str, value: int, reason: str, tmp_path: Path,
                                                     scratch: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(archive, limit, value)
    z = _plain_zip(tmp_path / "big.zip", {"a.bin": b"x" * 600, "b.bin": b"y" * 600, "c.bin": b"z"})
    refused(_add_zip(Store(str(tmp_path / "store")), z, tmp_path), UnsafeArchiveError, reason)
    refused(lambda: _import(z), ImportSourceError, reason)
    refused(lambda: safe_extract(str(z), str(tmp_path / "out")), UnsafeArchiveError, reason)
    assert list(scratch.iterdir()) == [] and not (tmp_path / "out").exists()


def test_not_a_zip_is_one_line_for_every_caller(tmp_path: Path, scratch: Path) -> None:
    z = tmp_path / "x.zip"
    z.write_bytes(b"not a zip at all")
    with pytest.raises(UnsafeArchiveError, match="not a readable zip") as ei:
        safe_extract(str(z), str(tmp_path / "out"))
    assert isinstance(ei.value, FormatError) and "\n" not in str(ei.value)
    with pytest.raises(ImportSourceError, match="not a readable zip"):
        _import(z)
    with pytest.raises(UnsafeArchiveError, match="not a readable zip"):
        _add_zip(Store(str(tmp_path / "store")), z, tmp_path)()
    assert list(scratch.iterdir()) == [] and not (tmp_path / "out").exists()


def test_a_clean_archive_extracts_the_same_files_for_every_caller(tmp_path: Path) -> None:
    files = {"a/b.txt": b"1", "c.txt": b"2"}
    z = _plain_zip(tmp_path / "ok.zip", files)
    (tmp_path / "raw").mkdir()
    assert archive.extract_zip(str(z), str(tmp_path / "raw")) == list(files)
    out = safe_extract(str(z), str(tmp_path / "out"))
    assert {p.relative_to(out).as_posix(): p.read_bytes() for p in Path(out).rglob("*") if p.is_file()} == files
    ds = Dataset.create("z", "p", store=Store(str(tmp_path / "store")))
    assert ds.add_zip(str(z)) == 2 and ds.list_files() == ["a/b.txt", "c.txt"]


def test_the_old_import_path_of_the_error_still_works_with_a_warning() -> None:
    from dagstore.connectors import archive as old

    with pytest.warns(DeprecationWarning, match="dagstore.UnsafeArchiveError"):
        assert old.UnsafeArchiveError is UnsafeArchiveError
