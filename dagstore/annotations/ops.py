"""Dataset-level annotation operations: the class list, per-file annotations, splits, and
imports into a draft. ``Dataset`` delegates here, one line per method."""

from __future__ import annotations

import os
import shutil
from functools import partial
from collections.abc import Iterable, Iterator, Mapping, Sequence
from concurrent.futures import Executor
from dataclasses import replace
from typing import Any, cast

from ..core.ops import lookup, origin
from ..core.ops.stage import stage
from ..core.version import Version
from ..core.ops.commit import send_blobs, send_files
from ..core.hashing import hash_bytes
from ..core.gcpause import gc_paused
from ..core.manifest import Entry, annotation_object, dataset_prefix, join_dataset_path, match_path, normalize_path, same_content
from ..core.reader import VersionReader
from ..core.scan import LocalFile, hash_files
from ..core.store import Store
from ..errors import InvalidPathError
from .classes import ClassList, merge_class_lists
from .errors import AnnotationError
from .importers import ImportItem, read_source
from .report import ImportReport
from .schema import encode, validate

KNOWN_SPLITS = ("train", "training", "valid", "val", "validation", "dev", "test", "testing")


# -- dataset-level metadata ------------------------------------------------------------------


def classes(v: Version) -> ClassList:
    return ClassList.from_dict(v.record.annotations)


def _set_meta(v: Version, cl: ClassList) -> None:
    v.record = replace(v.record, annotations={**v.record.annotations, **cl.to_dict()})


def _child_meta(st: Store, parents: Sequence[str], explicit: Sequence[str] | None) -> dict[str, Any]:
    """The annotation metadata a new draft inherits: its parents' class lists merged
    (append-only; ``explicit`` chooses the list when they disagree)."""
    recs = [st.record(p) for p in parents]
    cl = merge_class_lists([ClassList.from_dict(r.annotations) for r in recs], explicit)
    return cl.to_dict() if cl.names or cl.colors else {}


def _adopt(v: Version, meta: dict[str, Any]) -> None:
    """Give a new draft the annotation metadata computed by ``_child_meta``."""
    if meta:
        v.record = replace(v.record, annotations=meta)
        v.save()


def new_draft(st: Store, name: str, project: str | None, tags: Sequence[str] | None = None, parents: Sequence[str] = (),
              version: str | None = None, content_url: str | None = None, description: str | None = None,
              classes: Sequence[str] | None = None, origin: str | None = None) -> Version:
    """A new draft (``lookup.new_draft``) that inherits its parents' class list (``classes``
    chooses it when they disagree; a conflict raises before anything is written)."""
    meta = _child_meta(st, [p for p in parents if st.exists(p)], classes)
    v = lookup.new_draft(st, name, project, tags, parents, version, content_url, description, origin)
    _adopt(v, meta)
    return v


def splits(v: Version) -> list[str]:
    """The split names the version's annotations use, in a stable order."""
    return order_splits(v.current().facets()["splits"])


def add_classes(v: Version, names: Sequence[str] | str, colors: dict[str, str] | None = None) -> list[str]:
    """Append classes (and set colors); returns the names that were new."""
    v.require_draft()
    names = [names] if isinstance(names, str) else list(names)
    cur = classes(v)
    new = cur.extend(names, colors=colors)
    _set_meta(v, new)
    v.save()
    return [n for n in new.names if n not in cur]


def order_splits(names: Any) -> list[str]:
    """Split names in a stable order: the usual ones first (train, val, test), then the rest."""
    seen = set(names)
    return [s for s in KNOWN_SPLITS if s in seen] + sorted(seen - set(KNOWN_SPLITS))


# -- per-file annotations --------------------------------------------------------------------


def _entry(v: Version, path: str) -> Entry:
    """The current entry at ``path`` without building the full state of a draft."""
    if v.draft is None:
        e = v.current().get(path)
    elif path in v.draft.delta.entries:
        e = v.draft.delta.entries[path]
    elif path in v.draft.delta.removed:
        e = None
    else:
        e = v.parents_state().get(path)
    if e is None:
        raise InvalidPathError(f"{path}: no such file in dataset {v.id}")
    return e


def _put(v: Version, path: str, entry: Entry) -> bool:
    """Change the annotation of an entry of the draft (its content and pending upload stay);
    True if it changed. Back to the parent's entry means no delta entry at all."""
    draft = v.require_draft()
    before = _entry(v, path)
    parent = v.parents_state().get(path)
    if parent is not None and same_content(parent, entry) and path not in draft.pending:
        draft.delta.entries.pop(path, None)
    else:
        draft.delta.entries[path] = entry
    return not same_content(before, entry)


def _text_len(v: Version, path: str, entry: Entry) -> int:
    """Length in code points of a file's UTF-8 text (for span checks)."""
    pending = v.draft.pending.get(path) if v.draft is not None else None
    if pending is not None:
        with open(pending[0], "rb") as f:
            data = f.read()
    elif entry.url is not None:
        raise AnnotationError(path, "regions", "spans need the text: set the annotation's text field for an external file")
    else:
        owner = entry.origin if v.draft is not None else v.id
        if owner is None:
            raise AnnotationError(path, "regions", "the file's content is not readable yet (upload and finalize first, or set text)")
        data = VersionReader(v.store, owner).read(path)
    return len(data.decode("utf-8", errors="replace"))


def set_annotation(v: Version, dataset_path: str, annotation: dict[str, Any] | None) -> None:
    """Set (``None``: remove) the annotation of one file of a draft, validated first."""
    set_annotations(v, {dataset_path: annotation})


def set_annotations(v: Version, annotations: Mapping[str, dict[str, Any] | None]) -> int:
    """Set many annotations at once: all are validated before any changes, and the draft is
    written once. Returns how many entries changed."""
    v.require_draft()
    known = set(classes(v).names)
    staged = []
    for dataset_path, annotation in annotations.items():
        path = normalize_path(dataset_path)
        entry = _entry(v, path)
        text = None
        if annotation is not None:
            text = encode(validate(annotation, path, known, partial(_text_len, v, path, entry)))
        staged.append((path, entry._replace(annotation=text, origin=None)))
    n = sum(_put(v, path, e) for path, e in staged)
    v.save()
    return n


def stored_annotation(v: Version, path: str, e: Entry) -> dict[str, Any]:
    """The annotation of ``e`` (it has one); a stored text that is not an annotation object is a
    FormatError naming the manifest it came from."""
    return annotation_object(cast(str, e.annotation), path, lambda: v.store.manifest_name(e.origin))


def get_annotation(v: Version, dataset_path: str) -> dict[str, Any] | None:
    path = normalize_path(dataset_path)
    e = _entry(v, path)
    return stored_annotation(v, path, e) if e.annotation is not None else None


def iter_annotations(
    v: Version,
    split: str | Sequence[str] | None = None,
    labels: str | Sequence[str] | None = None,
    wildcard: str | Sequence[str] | None = None,
    include_unannotated: bool = False,
) -> Iterator[tuple[str, dict[str, Any]]]:
    """``(path, annotation)`` in path order, filtered by split, labels (item or region) and
    wildcard; files without an annotation yield ``{}`` when ``include_unannotated``."""
    pats = [wildcard] if isinstance(wildcard, str) else list(wildcard or [])
    state = v.current().filter(split=split, label=labels)  # on the split and class columns
    for path, e in state.items():
        text = e.annotation
        if text is None and not include_unannotated:
            continue
        if pats and not any(match_path(path, p) for p in pats):
            continue
        yield path, stored_annotation(v, path, e) if text is not None else {}


def set_split(v: Version, split: str, dataset_path: str | None = None, wildcard: str | Sequence[str] | None = None) -> int:
    """Assign ``split`` to the files under ``dataset_path`` matching ``wildcard``; returns how many changed."""
    v.require_draft()
    validate({"split": split}, "split", None)
    prefix = dataset_prefix(dataset_path)
    pats = [wildcard] if isinstance(wildcard, str) else list(wildcard or [])
    n = 0
    for path, e in sorted(v.current().items()):
        if prefix and not (path == prefix or path.startswith(prefix + "/")):
            continue
        if pats and not any(match_path(path, p) for p in pats):
            continue
        ann = stored_annotation(v, path, e) if e.annotation is not None else {}
        if ann.get("split") == split:
            continue
        ann["split"] = split
        n += _put(v, path, e._replace(annotation=encode(ann), origin=None))
    v.save()
    return n


# -- imports -----------------------------------------------------------------------------------


def _local_files(items: Iterable[ImportItem], known: Mapping[str, tuple[str, int, os.stat_result]]) -> dict[str, LocalFile]:
    """The local media files of the imported items by ``ImportItem.local``, for hashing (with
    the stat the importer read them by, for those in ``known``: already hashed)."""
    out: dict[str, LocalFile] = {}
    folders: dict[str, str] = {}  # folder -> its absolute path (made once per folder, not per file)
    for it in items:
        local = it.local
        if local is not None and local not in out:
            st = known[local][2] if local in known else os.stat(local)
            folder, _, name = local.rpartition("/")
            if name in ("", ".", "..") or not folder:
                path = os.path.abspath(local)
            else:
                absolute = folders.get(folder)
                if absolute is None:
                    absolute = folders[folder] = os.path.abspath(folder)
                path = absolute + name if absolute.endswith("/") else f"{absolute}/{name}"
            out[local] = LocalFile(path, path[path.rfind("/") + 1 :], st.st_size, st.st_mtime_ns, st.st_dev, st.st_ino, st.st_ctime_ns)
    return out


def _hash_media(v: Version, files: dict[str, LocalFile], known: Mapping[str, tuple[str, int, os.stat_result]],
                show_progress: bool) -> dict[str, tuple[str, int]]:
    """``{abs path: (hash, size)}`` of the media: the importer's hashes (remembered in the stat
    cache when the file did not change while read), the rest hashed here."""
    done = {f.path: known[local][:2] for local, f in files.items() if local in known}
    statcache = v.store.cache.statcache
    if statcache is not None:
        statcache.store([(f, done[f.path][0]) for f in files.values() if f.path in done and done[f.path][1] == f.size])
    return {**hash_files([f for f in files.values() if f.path not in done], statcache, show_progress=show_progress), **done}


SENT = ("", 0, 0)  # the local "file" of inline data: sent to the store at import, nothing pending


def _staged_entry(v: Version, it: ImportItem, hashes: dict[str, tuple[str, int]], temporary: bool,
                  cleanup: tuple[str, ...], files: Mapping[str, LocalFile],
                  inline: list[tuple[str, bytes]]) -> tuple[Entry, tuple[str, int, int] | None]:
    """(entry, (content file, mtime, ctime), ``SENT`` for inline data, or None for an external link) of
    one imported item. Inline data is hashed and appended to ``inline`` (sent in packs, never
    written as a file); files of a temporary source (downloads, zips: the folders ``cleanup``
    starts with) are copied into the cache."""
    text = None if it.plain else it.text if it.text is not None else encode(it.annotation)
    if it.url is not None:
        return Entry("", 0, it.url, None, text), None
    if it.data is not None:
        h = hash_bytes(it.data)
        inline.append((h, it.data))
        return Entry(h, len(it.data), None, None, text), SENT
    f = files[it.local or ""]
    local = f.path
    h, size = hashes[local]
    if temporary or (cleanup and local.startswith(cleanup)):
        if not v.store.cache.has_blob(h):
            tmp = v.store.cache.blob_tmp(h)
            shutil.copyfile(local, tmp)
            v.store.cache.adopt_blob(h, tmp)
        local = v.store.cache.blob_path(h)
        st = os.stat(local)
        return Entry(h, size, None, None, text), (local, st.st_mtime_ns, st.st_ctime_ns)
    return Entry(h, size, None, None, text), (local, f.mtime_ns, f.ctime_ns)


def _stage_all(v: Version, staged: list[tuple[str, Entry, tuple[str, int, int] | None]]) -> int:
    """``stage`` of every imported entry (in memory); paths new to the draft and its parents
    (all of them, in a new version) are put in directly. Returns how many added or changed content."""
    draft = v.require_draft()
    delta, pending, parents = draft.delta, draft.pending, v.parents_state()
    had = parents.pick(p for p, _e, _local in staged) if len(parents) else {}
    known = had.keys() | delta.entries.keys() | delta.removed
    n = 0
    for path, entry, local in staged:
        if path in known:
            n += stage(v, path, entry, local, had)
            continue
        delta.entries[path] = entry
        if local is not None:
            pending[path] = local
        else:
            pending.pop(path, None)
        known.add(path)
        n += 1
    return n


@gc_paused()  # the import builds an object graph of the whole source without cycles: no GC passes over it
def import_annotations(
    v: Version,
    source: str | os.PathLike[str],
    format: str,
    media: str | os.PathLike[str] | None = None,
    dataset_path: str | None = None,
    split: str | None = None,
    policy: str = "ground_truth",
    on_error: str = "raise",
    show_progress: bool = True,
    executor: Executor | None = None,
    **options: Any,
) -> ImportReport:
    """Read a labelled dataset and stage its media and annotations into the draft in one
    step. Everything is parsed, validated and hashed before the draft changes (with
    ``executor``, hashed and uploaded by its workers)."""
    draft = v.require_draft()
    cur = classes(v)
    ctx, stack = read_source(source, format, media, split, policy, on_error, cur.names, **options)
    with stack:
        merged = cur.extend(ctx.classes.names, colors=dict(ctx.classes.colors), coco_ids=dict(ctx.classes.coco_ids))
        items = [(join_dataset_path(dataset_path, it.path), it) for it in ctx.items.values()]
        local_files = _local_files((it for _, it in items), ctx.hashed)
        if executor is None:
            hashes = _hash_media(v, local_files, ctx.hashed, show_progress)
        else:  # the workers hash and send every file
            hashes = send_files(v, executor, list(local_files.values()))
        temporary = _is_temporary(source) or (media is not None and _is_temporary(media))
        inline: list[tuple[str, bytes]] = []
        cleanup = tuple(str(t) + os.sep for t in ctx.cleanup)
        staged = [(path, *_staged_entry(v, it, hashes, temporary, cleanup, local_files, inline)) for path, it in items]
    # nothing above touched the draft: from here on it only changes in memory, then is saved once
    before = (dict(draft.delta.entries), set(draft.delta.removed), dict(draft.pending), v.record)
    try:
        _set_meta(v, merged)
        if inline:
            send_blobs(v, inline)  # packed straight from memory: rows of a table are many small items
        added = _stage_all(v, staged)
        for path, it in items:  # the workers sent the media files, send_blobs the inline data
            if it.data is not None or (executor is not None and it.local is not None and it.url is None):
                draft.pending.pop(path, None)
        origin.mark(v, "import", save=False)  # the version's origin (connectors owns origins)
        v.save()
    except BaseException:
        draft.delta.entries, draft.delta.removed, draft.pending = before[0], before[1], before[2]
        v.record = before[3]
        raise
    report = ImportReport(ctx.format, skipped=list(ctx.skipped), classes_added=[n for n in merged.names if n not in cur], files_added=added,
                          guessed=dict(ctx.guessed), ignored=list(ctx.ignored))
    for _, it in items:
        if it.plain:
            continue
        s = it.split or ""
        report.counts[s] = report.counts.get(s, 0) + 1
    return report


def _is_temporary(source: str | os.PathLike[str]) -> bool:
    s = os.fspath(source)
    return ("://" in s and not s.startswith("file://")) or s.lower().endswith(".zip")
