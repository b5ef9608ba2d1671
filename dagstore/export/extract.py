"""Safe extraction of an export zip: every member must stay inside the target folder (no
absolute paths, ``..``, drive letters, symbolic links or special files); the archive is
checked whole before anything is written, and extracted into a temporary sibling folder
that is renamed into place."""

from __future__ import annotations

import os
import shutil
import stat
import uuid
import zipfile

from ..errors import FormatError, InvalidPathError
from .sinks import check_local_target, _rmtree


def check_members(zf: zipfile.ZipFile) -> list[zipfile.ZipInfo]:
    """The archive's members, or InvalidPathError naming the first that would escape."""
    members = []
    for info in zf.infolist():
        name = info.filename
        parts = name.replace("\\", "/").split("/")
        mode = info.external_attr >> 16
        if name.startswith(("/", "\\")) or (len(name) > 1 and name[1] == ":") or ".." in parts:
            raise InvalidPathError(f"zip member {name!r} would be written outside the target folder")
        if stat.S_IFMT(mode) not in (0, stat.S_IFREG, stat.S_IFDIR):
            raise InvalidPathError(f"zip member {name!r} is a symbolic link or special file")
        members.append(info)
    return members


def safe_extract(zip_path: str, folder: str, overwrite: bool = False) -> str:
    """Extract ``zip_path`` into ``folder`` (missing or empty, or replaced with ``overwrite``)."""
    target = os.path.abspath(folder)
    check_local_target(target, overwrite, want_dir=True)
    parent = os.path.dirname(target)
    os.makedirs(parent, exist_ok=True)
    tmp = os.path.join(parent, f".{os.path.basename(target)}.extract-{uuid.uuid4().hex[:12]}")
    try:
        with zipfile.ZipFile(zip_path) as zf:
            members = check_members(zf)
            os.mkdir(tmp)
            root = os.path.realpath(tmp)
            for info in members:
                dest = os.path.realpath(os.path.join(tmp, *info.filename.replace("\\", "/").split("/")))
                if not dest.startswith(root + os.sep):
                    raise InvalidPathError(f"zip member {info.filename!r} would be written outside the target folder")
                if info.is_dir():
                    os.makedirs(dest, exist_ok=True)
                    continue
                os.makedirs(os.path.dirname(dest), exist_ok=True)
                with zf.open(info) as r, open(dest, "xb") as w:
                    shutil.copyfileobj(r, w, 1 << 20)
        if os.path.lexists(target):
            old = f"{tmp}.old"
            os.rename(target, old)
            os.rename(tmp, target)
            _rmtree(old)
        else:
            os.rename(tmp, target)
    except zipfile.BadZipFile as e:
        _rmtree(tmp)
        raise FormatError(f"{zip_path} is not a valid zip file: {e}") from None
    except BaseException:
        _rmtree(tmp)
        raise
    return target
