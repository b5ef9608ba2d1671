"""Can a set of dataset paths be checked out as a folder tree? Refuses what every filesystem
would: a path that is both a file and a folder (``a`` and ``a/b``), a component over 255
bytes, a whole path over 4,096 bytes. Checked when paths are staged and at finalize (so such a
version is never published) and when a state is read (for versions written by other clients).
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterable, Set as AbstractSet
from itertools import repeat
from operator import itemgetter

MAX_COMPONENT = 255  # bytes, NAME_MAX on Linux, macOS and Windows (in UTF-16 units there)
MAX_PATH = 4096  # bytes, PATH_MAX on Linux
_SAFE_CHARS = MAX_COMPONENT // 4  # a path this short cannot exceed either limit (UTF-8: ≤ 4 bytes a character)
_HEAD, _SEP = itemgetter(0), itemgetter(1)  # of str.rpartition("/"): the folder, and "/" if there is one


def folders(paths: Iterable[str]) -> set[str]:
    """Every folder the paths need (``a/b/c`` needs ``a`` and ``a/b``)."""
    todo = set(map(_HEAD, filter(_SEP, map(str.rpartition, paths, repeat("/")))))  # each path's folder, in C
    out: set[str] = set()
    while todo:
        d = todo.pop()
        if d in out:
            continue
        out.add(d)
        i = d.rfind("/")
        if i > 0:
            todo.add(d[:i])
    return out


def encoding_problem(paths: Collection[str]) -> str | None:
    """Which of ``paths`` is not valid UTF-8 (a file name's bytes that are not UTF-8 become
    Python's surrogate escapes: no manifest can hold them), or None."""
    try:
        "".join(paths).encode()
    except UnicodeEncodeError:
        bad = next(p for p in paths if p.encode(errors="replace").decode() != p)
        return f"{bad!r}: the file name is not valid UTF-8; rename it"
    return None


def length_problem(paths: Collection[str]) -> str | None:
    """Why one of ``paths`` is too long for a filesystem, or None."""
    if not paths or max(map(len, paths)) <= _SAFE_CHARS:
        return None
    for p in paths:
        if len(p) <= _SAFE_CHARS:
            continue
        raw = p.encode()
        if len(raw) > MAX_PATH:
            return f"dataset path {p[:60]!r}... is {len(raw)} bytes long; the limit is {MAX_PATH}"
        for part in raw.split(b"/"):
            if len(part) > MAX_COMPONENT:
                return f"dataset path {p[:60]!r}... has a name of {len(part)} bytes; the limit is {MAX_COMPONENT}"
    return None


def conflict(paths: Collection[str]) -> str | None:
    """A path that is both a file and a folder among ``paths`` (a set, or a dict's keys), or None."""
    both = [d for d in folders(paths) if d in paths]
    return both_problem(min(both)) if both else None


def both_problem(d: str) -> str:
    return f"{d!r} is both a file and a folder ({d}/...); a checkout cannot hold both"


def problem(paths: Collection[str]) -> str | None:
    """Why ``paths`` cannot be checked out, or None."""
    return length_problem(paths) or conflict(paths)


def new_paths_problem(new: Collection[str], is_file: Callable[[str], bool],
                      folders_among: Callable[[AbstractSet[str]], Collection[str]]) -> str | None:
    """Why staging ``new`` next to the current files would make the version impossible to
    check out, or None. ``is_file`` answers for one path of the current content and
    ``folders_among`` gives those of a set of paths that are folders of it, so the cost is in
    the number of new paths and their folders, not in the size of the version."""
    found = encoding_problem(new) or length_problem(new)
    if found:
        return found
    new_set = new if isinstance(new, (set, frozenset)) else set(new)
    files = [d for d in folders(new_set) if d in new_set or is_file(d)]  # the first in path order is named:
    if files:  # min() of the few found, not a sort of every new path
        d = min(files)
        return f"{d!r} is a file, so it cannot also be a folder; remove it first to put files under {d}/"
    dirs = folders_among(new_set)
    if dirs:
        p = min(dirs)
        return f"{p!r} is a folder, so it cannot also be a file; remove the files under {p}/ first"
    return None
