"""Asynchronous export jobs (Label Studio's create / poll / download flow), kept in the store.

A job is a record ``exports/<id>.json`` (``core.store.named``) and, once completed, an immutable zip
``exports/<id>.zip`` whose size and xxh3-128 are in the record; any process or host that
reaches the store can poll and download it. A detached worker process runs the export and
rewrites the record every ``HEARTBEAT_S`` seconds; a job whose heartbeat is older than
``STALE_S`` is reported ``failed`` (its worker died) and can be retried.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Mapping, Sequence
from typing import Any

import xxhash

from .._atomic import replace_file
from ..core import layout
from ..core.decode import expect
from ..core.ops import lookup
from ..core.store.named import NamedRecords, RecordType
from ..core.version import Version
from ..errors import DatasetNotFoundError, DraftError, FormatError, IntegrityError, LockTimeoutError
from .extract import safe_extract
from .filters import normalize_filters
from .run import export_view, resolve_options
from .localtarget import LocalTarget
from .source import version_view

log = logging.getLogger(__name__)

HEARTBEAT_S = 10.0
STALE_S = 45.0
STATUSES = ("created", "in_progress", "failed", "completed")
_children: list[subprocess.Popen[bytes]] = []


def _check_id(job_id: str) -> str:
    if not isinstance(job_id, str) or not job_id or not all(c in "0123456789abcdef" for c in job_id):
        raise DatasetNotFoundError(f"no export job {job_id!r}")
    return job_id


def _decode(name: str, rec: dict[str, Any]) -> dict[str, Any]:
    what = f"export job record {layout.named_key(layout.EXPORTS, name)}"
    expect(rec["id"] == name and rec["status"] in STATUSES, what, "its id or status is not valid")
    expect(all(isinstance(rec[k], str) for k in ("dataset_id", "format", "created")), what,
           "dataset_id, format and created must be text")
    return rec


RECORDS: RecordType[dict[str, Any]] = RecordType(
    "export job", layout.EXPORTS, _decode, _check_id, taken_hint="retry",
    missing=lambda job_id, url: DatasetNotFoundError(f"no export job {job_id} in {url}"))


def _hash_file(path: str) -> str:
    h = xxhash.xxh3_128()
    with open(path, "rb") as f:
        while chunk := f.read(1 << 20):
            h.update(chunk)
    return h.hexdigest()


class ExportJob:
    """One export job: ``id``, ``status`` (created | in_progress | failed | completed),
    ``progress`` ``(done, total)``, ``error``; ``refresh()``, ``wait()``, ``download()``, ``retry()``."""

    def __init__(self, store: Any, record: dict[str, Any]):
        self.store = store
        self._rec = record

    @property
    def id(self) -> str:
        return str(self._rec["id"])

    @property
    def dataset_id(self) -> str:
        return str(self._rec["dataset_id"])

    @property
    def format(self) -> str:
        return str(self._rec["format"])

    @property
    def created(self) -> str:
        return str(self._rec["created"])

    @property
    def status(self) -> str:
        st = self._rec["status"]
        if st in ("created", "in_progress") and self._stale():
            return "failed"
        return str(st)

    @property
    def progress(self) -> tuple[int, int]:
        done, total = self._rec.get("progress") or (0, 0)
        return int(done), int(total)

    @property
    def error(self) -> str | None:
        if self._rec["status"] in ("created", "in_progress") and self._stale():
            return f"the export worker stopped (no heartbeat for {time.time() - float(self._rec['heartbeat']):.0f} s); retry() starts it again"
        return self._rec.get("error")

    @property
    def finished(self) -> str | None:
        """When the job completed or failed (UTC, ISO 8601); None while it runs."""
        return self._rec.get("finished")

    @property
    def report(self) -> dict[str, Any] | None:
        """The ``export.json`` of a completed job."""
        return self._rec.get("report")

    def _stale(self) -> bool:
        return time.time() - float(self._rec.get("heartbeat") or 0) > STALE_S

    def __repr__(self) -> str:
        done, total = self.progress
        return f"<ExportJob {self.id} {self.format} of {self.dataset_id}: {self.status} {done}/{total}>"

    def to_dict(self) -> dict[str, Any]:
        return {"id": self.id, "dataset_id": self.dataset_id, "format": self.format, "status": self.status,
                "progress": list(self.progress), "error": self.error, "created": self.created, "finished": self.finished,
                "options": self._rec.get("options"), "filters": self._rec.get("filters"),
                "artifact": self._rec.get("artifact")}

    def refresh(self) -> ExportJob:
        """Re-read the record from the store."""
        self._rec = _load(self.store, self.id)
        return self

    def wait(self, timeout: float | None = None, poll: float = 0.5) -> ExportJob:
        """Block until the job is completed or failed (LockTimeoutError after ``timeout`` s)."""
        deadline = None if timeout is None else time.monotonic() + timeout
        while self.refresh().status not in ("completed", "failed"):
            if deadline is not None and time.monotonic() > deadline:
                raise LockTimeoutError(f"export job {self.id} still {self.status} after {timeout} s")
            time.sleep(poll)
        return self

    def download(self, dest: str | os.PathLike[str], overwrite: bool = False) -> str:
        """The artifact, verified against its hash: to ``dest`` if it ends in ``.zip``, else
        extracted (safely) into the folder ``dest``. Returns the path."""
        self.refresh()
        if self.status != "completed":
            raise DraftError(f"export job {self.id} is {self.status}, not completed" + (f": {self.error}" if self.error else ""))
        art = self._rec["artifact"]
        given = os.fspath(dest)
        is_zip = os.path.abspath(given).lower().endswith(".zip")
        local = LocalTarget(given, overwrite, not is_zip, False)
        target, tmp = local.location, local.tmp
        try:
            with local.writing():
                self.store.backend.get_file(art["key"], tmp)
            if os.path.getsize(tmp) != art["size"] or _hash_file(tmp) != art["xxh3"]:
                raise IntegrityError(f"export job {self.id}: the stored artifact does not match its hash")
            if is_zip:
                with local.writing():
                    replace_file(tmp, target)
            else:
                safe_extract(tmp, given, overwrite=overwrite)  # its errors name the folder as given too
        finally:
            local.cleanup()  # the downloaded zip of a folder target, and on error the folders made for it
        return target

    def retry(self) -> ExportJob:
        """Start a failed job again (a new attempt, a new worker)."""
        self.refresh()
        if self.status != "failed":
            raise DraftError(f"export job {self.id} is {self.status}; only a failed job can be retried")
        rec = dict(self._rec, status="created", error=None, finished=None, progress=[0, 0], attempt=int(self._rec.get("attempt", 1)) + 1,
                   heartbeat=time.time())
        _save(self.store, rec)
        self._rec = rec
        _spawn(self.store, self.id, rec["attempt"])
        return self


def _load(store: Any, job_id: str) -> dict[str, Any]:
    return NamedRecords(store.backend, RECORDS).get(job_id)


def _save(store: Any, rec: dict[str, Any]) -> None:
    NamedRecords(store.backend, RECORDS).put(rec["id"], rec)


def _update(store: Any, rec: dict[str, Any]) -> bool:
    """The worker's rewrite of its record; False once the job was deleted. ``delete_export``
    writes the tombstone before it removes the record, so a rewrite racing it is undone here."""
    be, job_id = store.backend, rec["id"]
    tomb = layout.export_tombstone_key(job_id)
    if not be.exists(tomb):
        NamedRecords(be, RECORDS).put(job_id, rec)
        if not be.exists(tomb):
            return True
    be.delete([layout.named_key(layout.EXPORTS, job_id), layout.export_artifact_key(job_id)])
    return False


def _now() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())


def delete_export(store: Any, job_id: str) -> None:
    """Remove a job's record and its zip; a worker still running it stops writing either."""
    named = NamedRecords(store.backend, RECORDS)
    try:
        running = named.get(job_id)["status"] in ("created", "in_progress")
    except FormatError:  # a corrupt record is removed all the same
        running = False
    if running:
        store.backend.write(layout.export_tombstone_key(job_id), b"{}")
    named.delete(job_id)
    store.backend.delete([layout.export_artifact_key(job_id)])


def create_export(
    v: Version,
    export_format: str | None,
    splits: Sequence[str] | str | None = None,
    filters: Mapping[str, Any] | None = None,
    include_media: bool = True,
    **options: Any,
) -> ExportJob:
    """Start an export of the final version ``v`` into the store; returns at once."""
    if not v.is_final():
        raise DraftError(f"export needs a finalized version; dataset {v.id} is still a draft (finalize/close it first)")
    exporter, opts = resolve_options(export_format, options)
    now = time.time()
    job_id = uuid.uuid4().hex
    rec = {"schema": "dagstore.export-job/1", "id": job_id, "dataset_id": v.id, "format": exporter.name,
           "format_arg": export_format if export_format is None else str(export_format), "options": dict(options),
           "filters": normalize_filters(filters, splits), "include_media": bool(include_media), "status": "created",
           "progress": [0, 0], "error": None, "attempt": 1, "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(now)),
           "heartbeat": now}
    _save(v.store, rec)
    _spawn(v.store, job_id, 1)
    return ExportJob(v.store, rec)


def get_export(store: Any, job_id: str) -> ExportJob:
    return ExportJob(store, _load(store, job_id))


def list_exports(store: Any, dataset_id: str | None = None) -> list[ExportJob]:
    """Every job in the store (of one version with ``dataset_id``), oldest first."""
    jobs = [ExportJob(store, rec) for rec in NamedRecords(store.backend, RECORDS).list()
            if dataset_id is None or rec["dataset_id"] == dataset_id]
    return sorted(jobs, key=lambda j: (j.created, j.id))


def _spawn(store: Any, job_id: str, attempt: int) -> None:
    """A detached worker process (it outlives the caller); connection settings go by stdin,
    never on the command line."""
    for p in list(_children):
        if p.poll() is not None:
            _children.remove(p)
    proc = subprocess.Popen([sys.executable, "-m", "dagstore.cli.export_worker"], stdin=subprocess.PIPE,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    assert proc.stdin is not None
    proc.stdin.write(json.dumps({"url": store.url, "storage_options": store.storage_options, "cache_dir": str(store.cache.root),
                                 "job_id": job_id, "attempt": attempt}).encode())
    proc.stdin.close()
    _children.append(proc)


def run_job(store: Any, job_id: str, attempt: int) -> None:
    """The worker's side: run the export, keep the heartbeat, store the artifact and the outcome."""
    rec = _load(store, job_id)
    if rec.get("attempt") != attempt or rec["status"] != "created":
        return
    lock = threading.Lock()
    stop = threading.Event()
    rec.update(status="in_progress", heartbeat=time.time(), pid=os.getpid())
    if not _update(store, rec):
        store.backend.delete([layout.export_tombstone_key(job_id)])
        return

    def beat() -> None:
        while not stop.wait(HEARTBEAT_S):
            with lock:
                rec["heartbeat"] = time.time()
                if not _update(store, rec):
                    stop.set()

    class Progress:
        def set_size(self, total: int) -> None:
            with lock:
                rec["progress"] = [0, total]

        def relative_update(self, n: int = 1) -> None:
            rec["progress"][0] += n

    hb = threading.Thread(target=beat, daemon=True)
    hb.start()
    tmpdir = tempfile.mkdtemp(prefix="dagstore-export-")
    try:
        v = lookup.get(store, rec["dataset_id"])
        zpath = os.path.join(tmpdir, "export.zip")
        report = export_view(version_view(v), rec["format_arg"], zpath, filters=rec["filters"],
                             include_media=rec["include_media"], progress=Progress(), **rec["options"])
        key = layout.export_artifact_key(job_id)
        store.backend.put_file(zpath, key)
        art = {"key": key, "size": os.path.getsize(zpath), "xxh3": _hash_file(zpath)}
        with lock:
            stop.set()
            rec.update(status="completed", artifact=art, report=report.to_dict(), heartbeat=time.time(), finished=_now())
            rec["progress"][0] = rec["progress"][1]
            _update(store, rec)
    except BaseException as e:  # noqa: BLE001 - every failure is recorded in the job
        with lock:
            stop.set()
            msg = str(e).splitlines()[0] if str(e) else type(e).__name__
            rec.update(status="failed", error=f"{type(e).__name__}: {msg}", heartbeat=time.time(), finished=_now())
            _update(store, rec)
        if not isinstance(e, Exception):
            raise
    finally:
        stop.set()
        shutil.rmtree(tmpdir, ignore_errors=True)
        hb.join()
        store.backend.delete([layout.export_tombstone_key(job_id)])  # no more writes: a deletion is done
