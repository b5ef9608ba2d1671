"""Store maintenance: garbage collection (mark, then sweep) and verification."""

from __future__ import annotations

import contextlib
import json
import math
import os
import tempfile
import time
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from ...errors import DagstoreError, FormatError
from .. import columns, layout
from ..backend import Backend
from ..decode import parse_object
from ..hashing import hash_bytes, hash_file
from ..packs import BlobLocation, decode_blob, decode_header, pack_header
from ..records import Draft, VersionRecord
from ..state import State
from .content import Content


@dataclass
class GcReport:
    """What gc removed (or would remove, with dry_run), and what it marked for a later run."""

    packs: list[str] = field(default_factory=list)
    objects: list[str] = field(default_factory=list)
    manifests: list[str] = field(default_factory=list)
    claims: list[str] = field(default_factory=list)
    temps: list[str] = field(default_factory=list)  # partial files of interrupted writes
    held: list[str] = field(default_factory=list)  # this host's cache: content held for drafts gone from the store
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
    drafts: set[str] = field(default_factory=set)  # ids of the store's drafts: content held for others may go


def _mark_time(key: str, data: bytes, now: float) -> float:
    """When gc marked an object; an unreadable mark counts as made now (removal only waits)."""
    try:
        at = parse_object(data, f"gc mark {key}").get("at", now)
    except FormatError:
        return now
    return float(at) if isinstance(at, (int, float)) and not isinstance(at, bool) else now


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

    def mark_unreferenced(self, keys: Iterable[str]) -> list[str]:
        """Mark for gc now (its phase one) those of ``keys`` (packs, objects, manifests) that no
        version or draft references: uploads stop reusing them, and a gc run at least its
        min-age later removes them. Returns the keys marked."""
        _live, referenced = self._referenced()
        marked = sorted(set(keys) - referenced)
        stamp = json.dumps({"at": time.time()}).encode()
        for key in marked:
            self.backend.write(layout.gc_mark_key(key), stamp)
        return marked

    def discard_draft(self, draft: Draft) -> None:
        """Delete a draft deleted by its user, and the content this host's cache holds for it at once."""
        super().discard_draft(draft)
        with contextlib.suppress(DagstoreError):  # its content_url no longer opens: the cache's age rule removes it
            self.cache.reclaim_held(self.content_backend(draft.record).url, draft.record.id.__eq__, math.inf)

    def gc(self, dry_run: bool = False, min_age_seconds: float = 3600.0) -> GcReport:
        """Remove content that no version or draft references, in two phases so that content
        a concurrent upload reuses is never lost: unreferenced packs, objects and manifests
        older than ``min_age_seconds`` are first *marked* (``gc/<key>``, which uploads do not
        reuse); a later run removes those still unreferenced and marked at least
        ``min_age_seconds`` earlier. With ``min_age_seconds=0`` both phases run at once.
        A pack's index is deleted before the pack; an index whose pack is gone is removed; so
        is content this host's cache holds for a draft of the store no longer there (closed on
        another host, or deleted), older than ``min_age_seconds``."""
        plan = self.gc_mark(min_age_seconds, dry_run)
        if not dry_run:
            self.gc_sweep(plan)
        return plan.report

    def _referenced(self) -> tuple[set[str], set[str]]:
        """(ids of every version and draft, keys of every pack, object and manifest they use).
        Refuses (FormatError, nothing removed) while a record or draft cannot be read: the
        content it references would look unreferenced and be lost."""
        be = self.backend
        recs: list[VersionRecord] = []
        drafts: list[VersionRecord] = []
        bad: list[str] = []
        keys = [k for k in be.list(layout.VERSIONS) if layout.is_record_key(k)]
        for key, data in be.read_many(keys).items():
            try:
                recs.append(self._record_from(key, data))
            except DagstoreError as exc:
                bad.append(str(exc))
        final = {layout.record_id(k) for k in keys}
        for key, data in be.read_many([k for k in be.list(layout.DRAFTS) if layout.leaf(k) not in final]).items():
            try:
                drafts.append(self._draft_from(key, data).record)
            except DagstoreError as exc:
                bad.append(str(exc))
        if bad:
            more = f" (and {len(bad) - 1} more)" if len(bad) > 1 else ""
            raise FormatError(f"gc stopped, nothing was removed: {bad[0]}{more}; repair or delete it first, or the content it uses would be lost")
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
        marks = {layout.marked_key(k): _mark_time(k, v, now) for k, v in be.read_many(be.list(layout.GC)).items()}
        packs = set(be.list(layout.PACKS))
        candidates = [k for k in (*sorted(packs), *be.list(layout.OBJECTS), *be.list(layout.MANIFESTS)) if k not in referenced and old(k)]
        self._sort_candidates(plan, candidates, marks, min_age_seconds <= 0)
        present = packs | set(be.list(layout.OBJECTS)) | set(be.list(layout.MANIFESTS))
        plan.unmark = [layout.gc_mark_key(k) for k in marks if k in referenced or k not in present]
        plan.orphan_indexes = [k for k in be.list(layout.INDEX) if layout.pack_key(layout.leaf(k)) not in packs and old(k)]
        self._stale_claims(report, live_ids, old)
        self._stale_temps(report, old)
        plan.drafts = {layout.leaf(k) for k in be.list(layout.DRAFTS)}
        report.held = self.cache.reclaim_held(be.url, self._gone(plan), plan.cutoff, dry_run=True)
        return plan

    def _sort_candidates(self, plan: GcPlan, candidates: list[str], marks: dict[str, float], at_once: bool) -> None:
        """Unreferenced keys marked before the cutoff (all of them ``at_once``) are due for the
        sweep; unmarked ones are to be marked now."""
        report = plan.report
        lists = {layout.PACKS: report.packs, layout.OBJECTS: report.objects, layout.MANIFESTS: report.manifests}
        for key in candidates:
            at = marks.get(key)
            if at_once or (at is not None and at <= plan.cutoff):
                report.bytes += self.backend.size(key)
                kind = layout.kind(key)
                lists[kind].append(layout.leaf(key) if kind == layout.PACKS else key)
            elif at is None:
                report.marked.append(key)

    def _stale_claims(self, report: GcReport, live_ids: set[str], old: Callable[[str], bool]) -> None:
        """Name claims, older than the cutoff, whose owner is no version or draft."""
        for key, data in self.backend.read_many(self.backend.list(layout.NAMES)).items():
            owner = self._claim_owner(key, data, warn=False)  # an unreadable claim is left for verify to report
            if owner is not None and owner not in live_ids and old(key):
                report.claims.append(key)

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
        report.held = self.cache.reclaim_held(be.url, self._gone(plan), plan.cutoff)

    @staticmethod
    def _gone(plan: GcPlan) -> Callable[[str], bool]:
        """Whether a draft id is none of the store's drafts gc listed."""
        return lambda draft: draft not in plan.drafts

    def verify(self, read_data: bool = False) -> list[str]:
        """Every problem found in the store, one line each (it never stops at the first):
        unreadable records, claims, labels and drafts; versions whose state cannot be built
        (missing or corrupt manifest, missing or cyclic parents, paths that cannot be checked
        out); missing packs and objects; index entries outside their pack; sizes that differ
        from what the manifest says. With ``read_data`` every pack and object is also read and
        every blob decoded and hashed."""
        problems: list[str] = []
        recs: list[VersionRecord] = []
        be = self.backend
        for key in be.list(layout.VERSIONS):
            if not layout.is_record_key(key):
                continue
            try:
                recs.append(self._record_from(key, be.read(key)))
            except FileNotFoundError:
                continue  # deleted meanwhile
            except DagstoreError as exc:
                problems.append(str(exc))
        indexes: dict[tuple[str, str], bytes] = {}
        left = Counter(p for rec in recs for p in rec.packs)  # versions still to check that list each pack
        for rec in recs:
            problems += self._verify_version(rec, indexes)
            urls = {self.backend.url, *(b.url for b in self._content_backends.values())}  # every store read from
            for pid in rec.packs:
                left[pid] -= 1
                if not left[pid]:  # its last user is checked: memory bounded by the packs shared across versions
                    for url in urls:
                        indexes.pop((url, pid), None)
        problems += self._verify_registry()
        if read_data:
            users: dict[str, list[str]] = {}
            for rec in recs:
                for key in (*map(layout.pack_key, rec.packs), *map(layout.object_key, rec.objects)):
                    users.setdefault(key, []).append(rec.id)
            for key, problem in self._verify_data():
                who = users.get(key)
                problems.append(f"{problem} (used by version {', '.join(sorted(who))})" if who else problem)
        return sorted(set(problems))

    def _verify_version(self, rec: VersionRecord, indexes: dict[tuple[str, str], bytes]) -> list[str]:
        try:
            table = self.delta_table(rec)
            columns.check_objects(table["annotation"], self.manifest_name(rec), "an annotation")  # read lazily elsewhere
            delta = columns.to_delta(table)
            self.state(rec.id)  # parents exist, no cycle, every path can be checked out
            be = self.content_backend(rec)  # its output_url may no longer open (a folder become a file...)
        except DagstoreError as exc:
            return [f"version {rec.id}: {exc}"]
        problems = []
        try:
            index = self._stored_index(be, rec.packs, indexes)
        except DagstoreError as exc:
            return [f"version {rec.id}: {exc}"]
        pack_sizes: dict[str, int] = {}
        for pid in rec.packs:
            try:
                pack_sizes[pid] = be.size(layout.pack_key(pid))
            except FileNotFoundError:
                problems.append(f"version {rec.id}: pack {pid} is missing")
        object_sizes: dict[str, int] = {}
        for h in rec.objects:
            try:
                object_sizes[h] = be.size(layout.object_key(h))
            except FileNotFoundError:
                problems.append(f"version {rec.id}: object {h} is missing")
        unlisted: dict[str, str] = {}
        for path, e in delta.entries.items():
            if e.url is not None:
                continue
            loc = index.get(e.hash)
            if loc is not None:
                if loc.raw_length != e.size:
                    problems.append(f"version {rec.id}: {path}: the manifest says {e.size} bytes, its pack holds {loc.raw_length}")
                end = pack_sizes.get(loc.pack)
                if end is not None and loc.offset + loc.length > end - 12:
                    problems.append(f"version {rec.id}: {path}: its index entry points past the end of pack {loc.pack}")
            elif e.hash in object_sizes:
                if object_sizes[e.hash] != e.size:
                    problems.append(f"version {rec.id}: {path}: the manifest says {e.size} bytes, object {e.hash} holds {object_sizes[e.hash]}")
            elif e.hash not in rec.objects:
                unlisted[path] = e.hash
        return problems + self._not_inherited(rec, unlisted)

    @staticmethod
    def _stored_index(be: Backend, pack_ids: tuple[str, ...], seen: dict[tuple[str, str], bytes]) -> dict[str, BlobLocation]:
        """The blob locations of these packs as the index objects in the store say (each read
        once per ``verify``, into ``seen``): never the columns this process's upload remembered
        nor the local cache, which may hold a sound copy of an index damaged since."""
        for key, data in be.read_many([layout.index_key(p) for p in pack_ids if (be.url, p) not in seen]).items():
            seen[(be.url, layout.leaf(key))] = data
        out: dict[str, BlobLocation] = {}
        for pid in pack_ids:
            stored = seen.get((be.url, pid))
            if stored is not None:  # a missing index: its blobs are reported as in none of the version's packs
                out.update(decode_header(pid, stored))
        return out

    def _not_inherited(self, rec: VersionRecord, unlisted: dict[str, str]) -> list[str]:
        """Problems with entries whose content is in none of the version's packs or objects:
        fine for an annotation-only change (the parents hold that content at that path)."""
        if not unlisted:
            return []
        inherited = State.merge(self.state(p) for p in rec.parents).pick(unlisted)
        return [f"version {rec.id}: {path}: content {h} is not in its packs or objects"
                for path, h in sorted(unlisted.items()) if path not in inherited or inherited[path].hash != h]

    def _verify_registry(self) -> list[str]:
        """Claims, label revisions and drafts that cannot be read."""
        problems = []
        be = self.backend
        for key, data in be.read_many(be.list(layout.NAMES)).items():
            if self._claim_owner(key, data, warn=False) is None:
                problems.append(f"{key}: corrupt version claim")
        for key, data in be.read_many(be.list(layout.STATE)).items():
            if self._labels_from(key, data, warn=False) is None:
                problems.append(f"{key}: corrupt label revision")
        for key, data in be.read_many(be.list(layout.DRAFTS)).items():
            try:
                self._draft_from(key, data)
            except DagstoreError as exc:
                problems.append(str(exc))
        return problems

    def _verify_data(self) -> list[tuple[str, str]]:
        """(key, problem) for every pack or object whose bytes are bad."""
        problems: list[tuple[str, str]] = []
        be = self.backend
        for key in be.list(layout.PACKS):
            pid = layout.leaf(key)
            try:
                data = be.read(key)
                if hash_bytes(data) != pid:
                    problems.append((key, f"pack {pid}: content does not match its id"))
                    continue
                header = pack_header(pid, data)
                for h, loc in decode_header(pid, header).items():
                    decode_blob(h, memoryview(data)[loc.offset : loc.offset + loc.length], loc)
                try:
                    if be.read(layout.index_key(pid)) != header:
                        problems.append((key, f"pack {pid}: its index differs from the pack's own header"))
                except FileNotFoundError:
                    pass  # an unfinished upload, or gc's first step: the version checks name it if it matters
            except FileNotFoundError:
                continue
            except DagstoreError as exc:
                problems.append((key, f"pack {pid}: {exc}"))
        for key in be.list(layout.OBJECTS):
            with tempfile.TemporaryDirectory() as tmp:
                local = os.path.join(tmp, "blob")
                try:
                    be.get_file(key, local)
                except FileNotFoundError:
                    continue
                if hash_file(local)[0] != layout.leaf(key):
                    problems.append((key, f"object {key}: content does not match its hash"))
        return problems
