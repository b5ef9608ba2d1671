"""Label Studio export snapshots over dagstore snapshots and export jobs.

A Label Studio project is a dataset (``catalog.project_id``), always its latest final version.
A Label Studio export (``POST /api/projects/{id}/exports/``) is a dagstore snapshot of that
version with the filters Label Studio's options map to, plus one export job per format
(``JSON`` at once, others on ``convert``). Its record, ``ui/labelstudio/<project>/<pk>.json``
in the store, is claimed put-if-absent, so two servers on one store never share a pk.
"""

from __future__ import annotations

import contextlib
from typing import Any

from dagstore import ConflictError, DatasetNotFoundError, ExportError, ExportFormat, Store
from dagstore.core import layout
from dagstore.core.decode import expect
from dagstore.core.store.named import NamedRecords, RecordType

STATUS = {"created": "created", "in_progress": "in_progress", "failed": "failed", "completed": "completed"}


def ls_filters(body: dict[str, Any]) -> dict[str, Any]:
    """dagstore export filters from Label Studio's task / annotation / serialization options."""
    tf = body.get("task_filter_options") or {}
    af = body.get("annotation_filter_options") or {}
    so = body.get("serialization_options") or {}
    out: dict[str, Any] = {}
    if tf.get("annotated") == "only" or tf.get("only_with_annotations"):
        out["tasks"] = "annotated"
    if tf.get("reviewed") == "only":
        out["tasks"] = "reviewed"
    kinds = [k for k, on in (("annotations", af.get("usual", True)), ("ground_truth", af.get("ground_truth")),
                             ("skipped", af.get("skipped"))) if on]
    out["annotations"] = kinds or ["annotations"]
    for key in ("predictions", "drafts"):
        opt = so.get(key) or {}
        if opt.get("only_id"):
            out[key] = "ids"
    if (so.get("annotations__completed_by") or {}).get("only_id"):
        out["remove_user_details"] = True
    return out


def parse_type(export_type: str | None) -> str:
    """Label Studio's export type name, checked against dagstore's formats."""
    name = (export_type or "JSON").upper()
    try:
        return ExportFormat.parse(name).value
    except (ExportError, ValueError):
        raise ExportError(f"unknown export type {export_type!r}; see /api/projects/<id>/export/formats") from None


def _check(name: str) -> str:
    if not name.isdigit():
        raise DatasetNotFoundError(f"no Label Studio export {name!r}")
    return name


def _decode(prefix: str) -> Any:
    def decode(name: str, doc: dict[str, Any]) -> dict[str, Any]:
        what = f"Label Studio export record {layout.named_key(prefix, name)}"
        expect(doc["id"] == int(name) and isinstance(doc["jobs"], dict), what, "its id or jobs are not valid")
        expect(all(isinstance(doc[k], str) for k in ("title", "created_at", "version_id", "snapshot")), what,
               "title, created_at, version_id and snapshot must be text")
        expect(all(isinstance(k, str) and isinstance(v, str) for k, v in doc["jobs"].items()), what,
               "jobs must map export types to job ids")
        return doc
    return decode


def _records(store: Store, pid: int) -> NamedRecords[dict[str, Any]]:
    """The project's export records: ``ui/labelstudio/<project>/<pk>.json`` (core's one
    registry of named records: put-if-absent create, a malformed record skipped in listings)."""
    prefix = layout.ls_exports_prefix(pid)
    return NamedRecords(store.backend, RecordType(
        "Label Studio export", prefix, _decode(prefix), _check,
        lambda name, url: DatasetNotFoundError(f"no export {name} in project {pid}")))


def records(store: Store, pid: int) -> list[dict[str, Any]]:
    return sorted(_records(store, pid).iter(), key=lambda d: int(d["id"]))


def record(store: Store, pid: int, pk: int) -> dict[str, Any] | None:
    return _records(store, pid).find(str(pk))


def save(store: Store, pid: int, rec: dict[str, Any]) -> None:
    _records(store, pid).put(str(rec["id"]), rec)


def claim(store: Store, pid: int, rec: dict[str, Any]) -> dict[str, Any]:
    """Store a new export record under the next free pk (put-if-absent, retried)."""
    named = _records(store, pid)
    pk = max([int(r["id"]) for r in records(store, pid)], default=0) + 1
    while True:
        try:
            named.create(str(pk), dict(rec, id=pk))
            return dict(rec, id=pk)
        except ConflictError:
            pk += 1


def delete(store: Store, pid: int, pk: int) -> bool:
    """Remove an export as Label Studio does (the export and every converted file): its record,
    then its snapshot and its jobs with their zips. False when there is no such export."""
    named = _records(store, pid)
    rec = named.find(str(pk))
    if rec is None:
        return False
    named.delete(str(pk))
    for job_id in rec["jobs"].values():
        with contextlib.suppress(DatasetNotFoundError):  # already gone
            store.delete_export(job_id)
    if rec["snapshot"]:
        with contextlib.suppress(DatasetNotFoundError):
            store.delete_snapshot(rec["snapshot"])
    return True


def view(store: Store, rec: dict[str, Any]) -> dict[str, Any]:
    """Label Studio's Export shape, statuses read from the jobs."""
    converted = []
    status, finished = "created", None
    for i, (fmt, job_id) in enumerate(sorted(rec["jobs"].items(), key=lambda kv: kv[0] != "JSON"), start=1):
        job = store.get_export(job_id)
        st = STATUS.get(job.status, "created")
        if fmt == "JSON":
            status, finished = st, job.finished
        converted.append({"id": i, "export_type": fmt, "status": st, "traceback": job.error})
    return {"id": rec["id"], "title": rec["title"], "created_at": rec["created_at"], "finished_at": finished,
            "status": status, "md5": None, "counters": {"task_number": rec.get("task_number", 0)},
            "converted_formats": converted, "task_filter_options": rec.get("task_filter_options"),
            "annotation_filter_options": rec.get("annotation_filter_options"),
            "serialization_options": rec.get("serialization_options"), "dataset_id": rec["version_id"],
            "snapshot": rec["snapshot"]}
