"""Store maintenance: garbage collection (mark, then sweep) and verification."""

from __future__ import annotations

import json
import os
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from ...errors import FormatError, IntegrityError
from .. import layout
from ..backend import Backend
from ..hashing import hash_bytes, hash_file
from ..packs import decode_blob, read_pack_header
from ..records import VersionRecord
from .content import Content


@dataclass
class GcReport:
    """What gc removed (or would remove, with dry_run), and what it marked for a later run."""

    packs: list[str] = field(default_factory=list)
    objects: list[str] = field(default_factory=list)
    manifests: list[str] = field(default_factory=list)
    claims: list[str] = field(default_factory=list)
    temps: list[str] = field(default_factory=list)  # partial files of interrupted writes
    marked: list[str] = field(default_factory=list)  # unreferenced now; removed by a later run
    bytes: int = 0
    dry_run: bool = False


@dataclass
class GcPlan:
    """The mark step's result: what to sweep now (``report``), what to mark, what to unmark."""

    report: GcReport
    now: float
    cutoff: float
    unmark: list[str] = field(default_factory=list)  # marks of content referenced again, or gone
    orphan_indexes: list[str] = field(default_factory=list)  # indexes whose pack is gone


def _mtime_or_none(be: Backend, key: str) -> float | None:
    try:
        return be.mtime(key)
    except FileNotFoundError:
        return None


class Maintenance(Content):
    """gc and verify over the store root."""

    def gc_marks(self) -> set[str]:
        """Keys of content that gc has marked for removal (``gc/<key>`` objects): uploads must
        not reuse it."""
        return {layout.marked_key(k) for k in self.backend.list(layout.GC)}

    def gc(self, dry_run: bool = False, min_age_seconds: float = 3600.0) -> GcReport:
        """Remove content that no version or draft references, in two phases so that content
        a concurrent upload reuses is never lost: unreferenced packs, objects and manifests
        older than ``min_age_seconds`` are first *marked* (``gc/<key>``, which uploads do not
        reuse); a later run removes those still unreferenced and marked at least
        ``min_age_seconds`` earlier. With ``min_age_seconds=0`` both phases run at once.
        A pack's index is deleted before the pack; an index whose pack is gone is removed."""
        plan = self.gc_mark(min_age_seconds, dry_run)
        if not dry_run:
            self.gc_sweep(plan)
        return plan.report

    def _referenced(self) -> tuple[set[str], set[str]]:
        """(ids of every version and draft, keys of every pack, object and manifest they use)."""
        recs: list[VersionRecord] = self.records()
        drafts = [d.record for d in self.drafts()]
        live_ids = {r.id for r in recs} | {d.id for d in drafts}
        referenced = {layout.pack_key(p) for r in (*recs, *drafts) for p in r.packs}
        referenced |= {layout.object_key(o) for r in (*recs, *drafts) for o in r.objects}
        referenced |= {r.manifest for r in recs}
        return live_ids, referenced

    def gc_mark(self, min_age_seconds: float, dry_run: bool = False) -> GcPlan:
        """The mark step (reads only): unreferenced content older than the cutoff is due for
        sweeping if it was marked before the cutoff (or at once with ``min_age_seconds=0``),
        else it is to be marked now; also stale claims, orphan indexes and old temp files."""
        live_ids, referenced = self._referenced()
        now = time.time()
        plan = GcPlan(GcReport(dry_run=dry_run), now, now - min_age_seconds)
        be, report = self.backend, plan.report
        old = self._older_than(plan.cutoff)
        marks = {layout.marked_key(k): json.loads(v).get("at", now) for k, v in be.read_many(be.list(layout.GC)).items()}
        packs = set(be.list(layout.PACKS))
        candidates = [k for k in (*sorted(packs), *be.list(layout.OBJECTS), *be.list(layout.MANIFESTS)) if k not in referenced and old(k)]
        lists = {layout.PACKS: report.packs, layout.OBJECTS: report.objects, layout.MANIFESTS: report.manifests}
        for key in candidates:
            at = marks.get(key)
            if min_age_seconds <= 0 or (at is not None and at <= plan.cutoff):
                report.bytes += be.size(key)
                kind = layout.kind(key)
                lists[kind].append(layout.leaf(key) if kind == layout.PACKS else key)
            elif at is None:
                report.marked.append(key)
        plan.unmark = [layout.gc_mark_key(k) for k in marks if k not in candidates]
        plan.orphan_indexes = [k for k in be.list(layout.INDEX) if layout.pack_key(layout.leaf(k)) not in packs and old(k)]
        for key, data in be.read_many(be.list(layout.NAMES)).items():
            if json.loads(data)["id"] not in live_ids and old(key):
                report.claims.append(key)
        self._stale_temps(report, old)
        return plan

    def _older_than(self, cutoff: float) -> Callable[[str], bool]:
        be = self.backend
        return lambda key: be.mtime(key) < cutoff

    def _stale_temps(self, report: GcReport, old: Callable[[str], bool]) -> None:
        """Partial files of interrupted writes, older than the cutoff, under every prefix."""
        for prefix in layout.PREFIXES:
            for key in self.backend.list_temp(prefix):
                try:
                    if old(key):
                        report.temps.append(key)
                        report.bytes += self.backend.size(key)
                except FileNotFoundError:  # its writer just finished or cleaned it up
                    pass

    def gc_sweep(self, plan: GcPlan) -> None:
        """The sweep step: write the new marks, then delete what the mark step found due."""
        be, report = self.backend, plan.report
        stamp = json.dumps({"at": plan.now}).encode()
        for key in report.marked:
            be.write(layout.gc_mark_key(key), stamp)
        old = self._older_than(plan.cutoff)
        for pid in report.packs:
            be.delete([layout.index_key(pid)])  # the index first: an index never names a missing pack
            be.delete([layout.pack_key(pid), layout.gc_mark_key(layout.pack_key(pid))])
        be.delete(plan.orphan_indexes)
        for key in (*report.objects, *report.manifests):
            if _mtime_or_none(be, key) is not None and old(key):  # re-checked: an upload may have just rewritten it
                be.delete([key])
            be.delete([layout.gc_mark_key(key)])
        be.delete(plan.unmark)
        be.delete(report.claims)
        be.delete(report.temps)

    def verify(self, read_data: bool = False) -> list[str]:
        """Problems found in the store: unreadable records, missing manifests, packs or objects,
        blobs missing from their packs; with ``read_data`` every blob is read and hashed."""
        try:
            recs = self.records()
        except FormatError as exc:
            return [str(exc)]
        problems: list[str] = []
        for rec in recs:
            problems += self._verify_version(rec)
        if read_data:
            problems += self._verify_data()
        return sorted(set(problems))

    def _verify_version(self, rec: VersionRecord) -> list[str]:
        try:
            delta = self.delta(rec)
        except (FileNotFoundError, FormatError, IntegrityError) as exc:
            return [f"version {rec.id}: manifest: {exc}"]
        problems = [f"version {rec.id}: parent {p} is missing" for p in rec.parents if not self.exists(p)]
        be = self.content_backend(rec)
        try:
            index = self.pack_index(be, rec.packs)
        except FormatError as exc:
            return [*problems, f"version {rec.id}: {exc}"]
        objects = set(rec.objects)
        for path, e in delta.entries.items():
            if e.url is None and e.hash not in index and e.hash not in objects:
                problems.append(f"version {rec.id}: {path}: content {e.hash} is not in its packs or objects")
        problems += [f"version {rec.id}: pack {pid} is missing" for pid in rec.packs if not be.exists(layout.pack_key(pid))]
        problems += [f"version {rec.id}: object {h} is missing" for h in objects if not be.exists(layout.object_key(h))]
        return problems

    def _verify_data(self) -> list[str]:
        problems = []
        be = self.backend
        for key in be.list(layout.PACKS):
            pid = layout.leaf(key)
            try:
                data = be.read(key)
                if hash_bytes(data) != pid:
                    problems.append(f"pack {pid}: content does not match its id")
                    continue
                for h, loc in read_pack_header(be, pid).items():
                    decode_blob(h, memoryview(data)[loc.offset : loc.offset + loc.length], loc)
            except (FormatError, IntegrityError) as exc:
                problems.append(f"pack {pid}: {exc}")
        for key in be.list(layout.OBJECTS):
            with tempfile.TemporaryDirectory() as tmp:
                local = os.path.join(tmp, "blob")
                be.get_file(key, local)
                if hash_file(local)[0] != layout.leaf(key):
                    problems.append(f"object {key}: content does not match its hash")
        return problems
