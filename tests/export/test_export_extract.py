"""Safe extraction of export zips (download_dataset, job downloads): nothing escapes the folder."""

from __future__ import annotations

import stat
import zipfile
from pathlib import Path

import pytest

from dagstore.errors import FormatError, InvalidPathError
from dagstore.export.extract import safe_extract


def _zip(path: Path, members: dict[str, bytes], symlink: str | None = None) -> Path:
    with zipfile.ZipFile(path, "w") as z:
        for name, data in members.items():
            z.writestr(name, data)
        if symlink:
            info = zipfile.ZipInfo(symlink)
            info.external_attr = (stat.S_IFLNK | 0o777) << 16
            z.writestr(info, "/etc/passwd")
    return path


def test_extracts_into_a_new_folder(tmp_path: Path) -> None:
    z = _zip(tmp_path / "a.zip", {"x/y.txt": b"1", "z.txt": b"2"})
    out = safe_extract(str(z), str(tmp_path / "data"))
    assert (Path(out) / "x/y.txt").read_bytes() == b"1"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.zip", "data"]


@pytest.mark.parametrize("name", ["../evil.txt", "a/../../evil.txt", "/abs/evil.txt", "C:/evil.txt", "..\\evil.txt"])
def test_a_zip_whose_extraction_would_escape_its_folder_is_refused(tmp_path: Path, name: str) -> None:
    z = _zip(tmp_path / "bad.zip", {"ok.txt": b"1", name: b"x"})
    with pytest.raises(InvalidPathError, match="absolute path|escapes the target folder"):
        safe_extract(str(z), str(tmp_path / "data"))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bad.zip"]
    assert not (tmp_path.parent / "evil.txt").exists()


def test_a_symlink_member_is_refused(tmp_path: Path) -> None:
    z = _zip(tmp_path / "bad.zip", {"ok.txt": b"1"}, symlink="link")
    with pytest.raises(InvalidPathError, match="is a symlink"):
        safe_extract(str(z), str(tmp_path / "data"))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bad.zip"]


def test_an_existing_folder_is_refused_unless_overwrite(tmp_path: Path) -> None:
    z = _zip(tmp_path / "a.zip", {"new.txt": b"1"})
    (tmp_path / "data").mkdir()
    (tmp_path / "data/old.txt").write_text("keep")
    with pytest.raises(InvalidPathError, match="already exists"):
        safe_extract(str(z), str(tmp_path / "data"))
    assert (tmp_path / "data/old.txt").read_text() == "keep"
    safe_extract(str(z), str(tmp_path / "data"), overwrite=True)
    assert sorted(p.name for p in (tmp_path / "data").iterdir()) == ["new.txt"]


def test_not_a_zip_is_a_format_error(tmp_path: Path) -> None:
    (tmp_path / "a.zip").write_bytes(b"not a zip")
    with pytest.raises(FormatError, match="not a readable zip"):
        safe_extract(str(tmp_path / "a.zip"), str(tmp_path / "data"))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.zip"]
