"""Concurrency and crash safety with REAL processes (DESIGN.md part 1, "Guarantees").

Every scenario runs dagstore in separate interpreters (tests/servers/children.py) against one local store
folder and (where the scenario is about sharing) one local cache folder:

* several readers materialize the same version at once;
* several writers finalize children of one parent at once (auto and explicit versions);
* a writer is SIGKILLed during upload, a reader during get_local_copy, a finalizer at each of
  its store writes; afterwards the store verifies, a retry finishes the work, gc cleans the
  leftovers and removes nothing referenced;
* cache eviction in one process never removes a folder another live process uses;
* cache locks block for their timeout, then raise LockTimeoutError.

Local backend only (plain folders): the cross-backend behaviour of put-if-absent is covered
by the backend tests; here the point is processes, not storage servers.
"""
from __future__ import annotations

import os
import random
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))
from servers import Children, wait_until  # noqa: E402

from dagstore import Dataset, Store  # noqa: E402
from dagstore.core.cache import Cache  # noqa: E402
from dagstore.errors import LockTimeoutError  # noqa: E402

MB = 1 << 20
PROJECT = "conc"


# -- helpers -----------------------------------------------------------------------------------


@dataclass
class Env:
    root: Path
    store: Path      # the store every process uses (DAGSTORE_URL)
    cache: Path      # the cache shared by the children (DAGSTORE_CACHE_DIR)
    kids: Children

    def fresh_store(self, name: str) -> Store:
        """A Store on the same root with a cache of its own (an independent observer)."""
        return Store(str(self.store), cache_dir=str(self.root / f"cache-{name}"))

    def flag(self, name: str) -> str:
        return str(self.root / "flags" / name)


@pytest.fixture
def env(tmp_path: Path):
    (tmp_path / "flags").mkdir()
    (tmp_path / "logs").mkdir()
    e = Env(tmp_path, tmp_path / "store", tmp_path / "cache", None)  # type: ignore[arg-type]
    e.kids = Children(tmp_path / "logs", {"DAGSTORE_URL": str(e.store), "DAGSTORE_CACHE_DIR": str(e.cache),
                                          "DAGSTORE_CACHE_MAX_SIZE": ""})
    try:
        yield e
    finally:
        e.kids.close()


def make_tree(root: Path, n_small: int, small_max: int = 8192, n_large: int = 0, large_size: int = 0, seed: int = 0) -> Path:
    """Random, pairwise-distinct files: ``n_small`` in 10 sub-folders, ``n_large`` in big/."""
    rng = random.Random(seed)
    for i in range(n_small):
        p = root / f"d{i % 10:02d}" / f"f{i:05d}.bin"
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_bytes(rng.randbytes(rng.randint(1, small_max)))
    for j in range(n_large):
        p = root / "big" / f"big{j}.bin"
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_bytes(rng.randbytes(large_size))
    return root


def tree(root: str | Path) -> dict[str, Path]:
    """``{relative '/'-path: file}`` of every file under root."""
    root = Path(root)
    out = {}
    for dirpath, _dirs, files in os.walk(root):
        for f in files:
            p = Path(dirpath) / f
            out[p.relative_to(root).as_posix()] = p
    return out


def assert_tree_equals(got: str | Path, expected: dict[str, Path]) -> None:
    """``got`` holds exactly the files of ``expected`` ({rel: source file}), byte for byte."""
    have = tree(got)
    assert sorted(have) == sorted(expected), f"{got}: wrong file set"
    bad = [rel for rel, src in expected.items() if have[rel].read_bytes() != src.read_bytes()]
    assert not bad, f"{got}: {len(bad)} files differ, e.g. {bad[:3]}"


def make_version(env: Env, src: Path, name: str, parents: tuple[str, ...] = (), version: str | None = None) -> str:
    """Create + upload + finalize a version in this (setup) process; its cache is separate."""
    ds = Dataset.create(name, PROJECT, parent_datasets=list(parents), dataset_version=version, store=env.fresh_store("setup"))
    ds.add_files(src)
    ds.upload(show_progress=False)
    ds.finalize()
    return ds.id


def store_keys(store: Path, *prefixes: str) -> dict[str, tuple[int, int]]:
    """``{key: (inode, mtime_ns)}`` of the store's content keys (temp files excluded)."""
    out = {}
    for prefix in prefixes:
        for rel, p in tree(store / prefix).items() if (store / prefix).is_dir() else ():
            if not p.name.startswith(".tmp-"):
                st = p.stat()
                out[f"{prefix}/{rel}"] = (st.st_ino, st.st_mtime_ns)
    return out


def temp_leftovers(root: Path) -> list[str]:
    return sorted(str(p.relative_to(root)) for p in root.rglob(".tmp-*"))


def start_all(env: Env, names: list[str], script: str) -> list:
    """Start one child per name (``NAME`` in the script is replaced), wait until each has
    touched its ready flag, then release them together through the ``go`` flag."""
    kids = [env.kids.start(n, script.replace("NAME", n)) for n in names]
    wait_until(lambda: all(os.path.exists(env.flag(f"ready-{n}")) or not k.alive() for n, k in zip(names, kids)),
               60, what="children ready")
    Path(env.flag("go")).touch()
    return kids


# -- 1. concurrent readers ---------------------------------------------------------------------


def test_concurrent_readers_materialize_one_complete_read_only_copy(env: Env) -> None:
    src = make_tree(env.root / "src", 800, small_max=16384, n_large=2, large_size=6 * MB)
    vid = make_version(env, src, "readers")
    script = f"""
    ds = Dataset.get(dataset_id={vid!r})
    touch({env.flag('ready-NAME')!r}); wait_for({env.flag('go')!r})
    emit(ds.get_local_copy(show_progress=False))
    """
    kids = start_all(env, [f"reader{i}" for i in range(4)], script)
    paths = {k.result(60) for k in kids}

    assert paths == {str(env.cache / "versions" / vid)}
    assert_tree_equals(paths.pop(), tree(src))
    assert temp_leftovers(env.cache) == [], "a build or download left temp files behind"
    versions = sorted(os.listdir(env.cache / "versions"))
    assert versions == [vid], f"unexpected entries in the cache's versions/: {versions}"
    writable = [p for p in (env.cache / "versions" / vid).rglob("*") if p.stat().st_mode & 0o222]
    assert writable == [], f"materialized entries with write bits: {writable[:3]}"
    # one blob per distinct content: concurrent builds did not duplicate or leave partial blobs
    assert len(tree(env.cache / "blobs")) == len(tree(src))


# -- 2. concurrent writers ---------------------------------------------------------------------


def test_concurrent_writers_of_one_parent_all_finalize_with_distinct_versions(env: Env) -> None:
    parent_src = make_tree(env.root / "parent", 200, seed=1)
    parent = make_version(env, parent_src, "shared")
    parent_record = (env.store / "versions" / f"{parent}.json").read_bytes()
    parent_labelled = env.fresh_store("before").record(parent)
    names = [f"w{i}" for i in range(6)]
    expected = {}
    for i, n in enumerate(names):
        make_tree(env.root / n / "files", 40, seed=100 + i)
        mod = env.root / n / "mod" / "f00000.bin"
        mod.parent.mkdir(parents=True)
        mod.write_bytes(f"modified by {n}".encode())
        expected[n] = {**tree(parent_src), **{f"{n}/{r}": p for r, p in tree(env.root / n / "files").items()}, "d00/f00000.bin": mod}
    script = f"""
    ds = Dataset.create("shared", {PROJECT!r}, parent_datasets=[{parent!r}])
    ds.add_files({str(env.root / 'NAME' / 'files')!r}, dataset_path="NAME")
    ds.add_files({str(env.root / 'NAME' / 'mod' / 'f00000.bin')!r}, dataset_path="d00")   # overrides a parent file
    ds.upload(show_progress=False)
    touch({env.flag('ready-NAME')!r}); wait_for({env.flag('go')!r})
    ds.finalize()
    emit({{"id": ds.id, "version": ds.version}})
    """
    kids = start_all(env, names, script)
    results = {n: k.result(60) for n, k in zip(names, kids)}

    versions = sorted((r["version"] for r in results.values()), key=lambda v: tuple(map(int, v.split("."))))
    assert versions == [f"1.0.{i}" for i in range(1, 7)], f"versions not distinct / not consecutive: {versions}"
    st = env.fresh_store("check")
    claims = st.claimed_versions(PROJECT, "shared")
    assert claims == {"1.0.0": parent, **{r["version"]: r["id"] for r in results.values()}}
    assert st.verify() == []
    for n, r in results.items():
        ds = Dataset.get(dataset_id=r["id"], store=st)
        assert ds.is_final() and ds.parents == [parent]
        assert_tree_equals(ds.get_local_copy(show_progress=False), expected[n])
    # the parent is untouched: same record, same content
    assert (env.store / "versions" / f"{parent}.json").read_bytes() == parent_record
    assert st.record(parent) == parent_labelled
    assert_tree_equals(Dataset.get(dataset_id=parent, store=st).get_local_copy(show_progress=False), tree(parent_src))


def test_two_writers_claiming_the_same_explicit_version_exactly_one_wins(env: Env) -> None:
    script = """
    src = Path({root!r}) / "NAME"
    src.mkdir()
    (src / "data.txt").write_text("written by NAME")
    ds = Dataset.create("explicit", {project!r}, dataset_version="2.0.0")
    ds.add_files(str(src))
    ds.upload(show_progress=False)
    touch({ready!r}); wait_for({go!r})
    try:
        ds.finalize()
        emit({{"id": ds.id, "ok": True}})
    except ConflictError as exc:
        emit({{"id": ds.id, "ok": False, "error": str(exc)}})
    """.format(root=str(env.root), project=PROJECT, ready=env.flag("ready-NAME"), go=env.flag("go"))
    kids = start_all(env, ["a", "b"], script)
    results = {k.name: k.result(60) for k in kids}

    winners = [n for n, r in results.items() if r["ok"]]
    assert len(winners) == 1, f"expected exactly one winner: {results}"
    winner, loser = winners[0], ({"a", "b"} - set(winners)).pop()
    assert "2.0.0" in results[loser]["error"]
    st = env.fresh_store("check")
    assert [(r.version, r.id) for r in st.versions_of(PROJECT, "explicit")] == [("2.0.0", results[winner]["id"])]
    assert st.claimed_versions(PROJECT, "explicit") == {"2.0.0": results[winner]["id"]}
    assert not Dataset.get(dataset_id=results[loser]["id"], store=st).is_final(), "the loser must stay a draft"
    copy = Dataset.get(dataset_id=results[winner]["id"], store=st).get_local_copy(show_progress=False)
    assert Path(copy, "data.txt").read_text() == f"written by {winner}"


def test_concurrent_tag_changes_on_one_version_are_not_lost(env: Env) -> None:
    vid = make_version(env, make_tree(env.root / "src", 5, seed=71), "tags")
    script = f"""
    touch({env.flag('ready-NAME')!r}); wait_for({env.flag('go')!r})
    for i in range(25):
        Dataset.get(dataset_id={vid!r}).add_tags("NAME-%d" % i)
    emit("ok")
    """
    for k in start_all(env, ["a", "b", "c"], script):
        assert k.result(60) == "ok"
    tags = set(Dataset.get(dataset_id=vid, store=env.fresh_store("check")).tags)
    lost = {f"{n}-{i}" for n in "abc" for i in range(25)} - tags
    assert not lost, f"{len(lost)} of 75 tags added by concurrent processes were lost, e.g. {sorted(lost)[:5]}"


# -- 3. kill -9 during upload --------------------------------------------------------------------


def test_kill_during_upload_leaves_store_consistent_and_retry_reuses_stored_content(env: Env) -> None:
    before_src = make_tree(env.root / "before", 20, seed=7)
    before = make_version(env, before_src, "big")
    src = make_tree(env.root / "src", 3000, small_max=32768, n_large=3, large_size=20 * MB, seed=8)  # ~110 MB
    k0 = store_keys(env.store, "packs", "objects")

    uploader = env.kids.start("uploader", f"""
    import itertools
    from dagstore.core.backend import local
    packs = itertools.count(1)
    # stop right after the 5th pack lands (upload well under way, far from done), to be killed there
    pause_at(local._FileSpool, "commit", lambda self, key: key.startswith("packs/") and next(packs) == 5,
             {env.flag('paused')!r}, {env.flag('never')!r})
    ds = Dataset.create("big", {PROJECT!r})
    ds.add_files({str(src)!r})
    emit({{"id": ds.id}})
    ds.upload(show_progress=False, chunk_size=0.25, max_workers=1)   # 256 KB packs: ~200 write-once objects
    emit({{"done": True}})
    """)
    wait_until(lambda: os.path.exists(env.flag("paused")) or not uploader.alive(), 60, 0.001, "the upload to stop mid-way")
    assert uploader.alive(), uploader.stderr()[-2000:]
    uploader.kill()
    results = uploader.results()
    assert results and results[0].get("id"), uploader.stderr()
    assert not any(r.get("done") for r in results), "upload finished before the kill: make it bigger"
    draft_id = results[0]["id"]

    st = env.fresh_store("check")
    assert [r.id for r in st.records()] == [before], "a killed upload made a version visible"
    assert st.verify() == []
    assert Dataset.get(dataset_id=draft_id, store=st).is_dirty()
    k1 = store_keys(env.store, "packs", "objects")
    indexed = {k.rsplit("/", 1)[1] for k in store_keys(env.store, "index")}
    new_packs = {k.rsplit("/", 1)[1] for k in k1.keys() - k0.keys() if k.startswith("packs/")}
    orphans = new_packs - indexed          # pack written, index not yet: the kill's only loss
    assert len(new_packs - orphans) >= 2

    retry = env.kids.start("retry", f"""
    ds = Dataset.get(dataset_id={draft_id!r})
    assert not ds.is_final()
    n = ds.add_files({str(src)!r})
    ds.upload(show_progress=False, chunk_size=0.25, max_workers=1)
    ds.finalize()
    emit({{"readded": n, "version": ds.version, "packs": list(ds.record.packs), "objects": list(ds.record.objects)}})
    """)
    r = retry.result(60)
    assert r["readded"] == 0, "re-adding unchanged files must report nothing added or modified"
    k2 = store_keys(env.store, "packs", "objects")
    rewritten = [k for k in k1 if k.rsplit("/", 1)[1] not in orphans and k2.get(k) != k1[k]]
    assert rewritten == [], f"the retry re-sent content already stored: {rewritten[:3]}"
    assert (new_packs - orphans) <= set(r["packs"]), "the retry did not reuse the packs stored before the kill"
    added = len(k2) - len(k0)
    final_keys = len(r["packs"]) + len(r["objects"])
    assert added <= final_keys + len(orphans), f"{added} content keys for a version that needs {final_keys}"

    # gc after everything is final: removes the kill's orphans, nothing referenced
    report = st.gc(min_age_seconds=0)
    assert set(report.packs) <= orphans and report.objects == []
    assert st.verify(read_data=True) == []
    assert {r.id for r in st.records()} == {before, draft_id}
    check = env.fresh_store("after-gc")
    assert_tree_equals(Dataset.get(dataset_id=draft_id, store=check).get_local_copy(show_progress=False), tree(src))
    assert_tree_equals(Dataset.get(dataset_id=before, store=check).get_local_copy(show_progress=False), tree(before_src))


def test_gc_removes_partial_temp_files_of_a_crashed_upload(env: Env) -> None:
    """A process that dies while writing a large object (here: deterministically, at the file
    size limit) leaves a partial temp file in the store; gc must be able to clean it."""
    src = make_tree(env.root / "src", 5, n_large=1, large_size=12 * MB, seed=9)
    crasher = env.kids.start("crasher", f"""
    import resource, signal
    ds = Dataset.create("partial", {PROJECT!r})
    ds.add_files({str(src)!r})
    resource.setrlimit(resource.RLIMIT_FSIZE, (4 << 20, 4 << 20))   # no file may grow past 4 MB
    signal.signal(signal.SIGXFSZ, signal.SIG_DFL)                     # ... or the kernel kills us
    ds.upload(show_progress=False)
    """)
    rc = crasher.wait(60)
    assert rc == -25, f"expected death by SIGXFSZ, got {rc}: {crasher.stderr()[-2000:]}"
    assert temp_leftovers(env.store), "the crash left no partial file (test setup failed)"
    st = env.fresh_store("check")
    assert st.verify() == []
    st.gc(min_age_seconds=0)
    assert temp_leftovers(env.store) == [], "gc left the crashed write's partial temp files in the store"


def _unnamed_files_of(pid: int, folder: Path) -> list[str]:
    """Files process ``pid`` holds open that are unnamed files (O_TMPFILE) of ``folder``."""
    out = []
    for fd in os.listdir(f"/proc/{pid}/fd"):
        try:
            target = os.readlink(f"/proc/{pid}/fd/{fd}")
        except OSError:
            continue
        if target.startswith(f"{folder}/#") and target.endswith(" (deleted)"):
            out.append(target)
    return out


def test_kill_during_add_files_leaves_nothing_of_its_spool_in_the_store(env: Env) -> None:
    """add_files spools kept small files into unnamed files of the store (they become packs at
    upload): a process killed there leaves no file, named or temp, and nothing for gc."""
    src = make_tree(env.root / "src", 6000, seed=12)  # ~24 MB of incompressible small files: more than one pack
    adder = env.kids.start("adder", f"""
    import itertools
    from dagstore.core import staging
    staging.RACY_NS = -(10**12)  # keep the files however new
    calls = itertools.count(1)
    # stop the staging thread right after it has spooled its 12th batch (of 17), to be killed there
    pause_at(staging.Staged, "_append", lambda *a: next(calls) == 12, {env.flag('paused')!r}, {env.flag('never')!r})
    ds = Dataset.create("spooled", {PROJECT!r})
    emit({{"id": ds.id}})
    ds.add_files({str(src)!r})
    emit({{"done": True}})
    """)
    wait_until(lambda: os.path.exists(env.flag("paused")) or not adder.alive(), 60, 0.001, "add_files to stop mid-way")
    assert adder.alive(), adder.stderr()[-2000:]
    assert len(_unnamed_files_of(adder.proc.pid, env.store / "packs")) >= 2, "the spool is not in the store"
    assert store_keys(env.store, "packs", "index") == {} and temp_leftovers(env.store) == []
    adder.kill()
    assert not any(r.get("done") for r in adder.results())
    st = env.fresh_store("check")
    assert st.verify() == [] and list(st.records()) == []
    report = st.gc(min_age_seconds=0)
    assert report.packs == [] and report.objects == []
    assert store_keys(env.store, "packs", "index") == {} and temp_leftovers(env.store) == []


def test_kill_while_spooled_packs_are_committed_leaves_the_store_consistent_and_a_retry_completes(env: Env) -> None:
    """upload commits the store's spooled segments as packs (fsync, link, rename, then the
    index): a kill between two of them leaves only whole packs, and a retry reuses them."""
    src = make_tree(env.root / "src", 5000, small_max=16384, seed=13)  # ~40 MB: two full packs and a tail
    uploader = env.kids.start("uploader", f"""
    import itertools
    from dagstore.core import staging
    from dagstore.core.backend import local
    staging.RACY_NS = -(10**12)
    commits = itertools.count(1)
    pause_at(local._UnnamedSpool, "commit", lambda self, key: next(commits) == 2, {env.flag('paused')!r}, {env.flag('never')!r})
    ds = Dataset.create("spooled", {PROJECT!r})
    ds.add_files({str(src)!r})
    emit({{"id": ds.id}})
    ds.upload(show_progress=False)
    emit({{"done": True}})
    """)
    wait_until(lambda: os.path.exists(env.flag("paused")) or not uploader.alive(), 60, 0.001, "the upload to stop mid-way")
    assert uploader.alive(), uploader.stderr()[-2000:]
    uploader.kill()
    results = uploader.results()
    assert results and results[0].get("id") and not any(r.get("done") for r in results), uploader.stderr()[-2000:]
    draft_id = results[0]["id"]
    k1 = store_keys(env.store, "packs")
    assert len(k1) >= 2  # the two packs committed before the kill
    st = env.fresh_store("check")
    assert st.verify() == [] and list(st.records()) == []
    retry = env.kids.start("retry", f"""
    ds = Dataset.get(dataset_id={draft_id!r})
    ds.add_files({str(src)!r})
    ds.upload(show_progress=False)
    ds.finalize()
    emit({{"packs": list(ds.record.packs)}})
    """)
    r = retry.result(60)
    indexed = {k.rsplit("/", 1)[1] for k in store_keys(env.store, "index")}
    reused = {k.rsplit("/", 1)[1] for k in k1} & indexed
    assert reused and reused <= set(r["packs"]), "the retry did not reuse the packs committed before the kill"
    report = st.gc(min_age_seconds=0)
    assert set(report.packs).isdisjoint(r["packs"]) and report.objects == []
    assert st.verify(read_data=True) == [] and temp_leftovers(env.store) == []
    assert_tree_equals(Dataset.get(dataset_id=draft_id, store=env.fresh_store("after")).get_local_copy(show_progress=False), tree(src))


# -- 4. kill -9 during get_local_copy ------------------------------------------------------------


def _pause_reader_mid_copy(env: Env, vid: str, after_blobs: int):
    """A child building ``vid``'s folder that stops right after its ``after_blobs``-th fetched
    blob is written (the rest still to come) and waits there to be killed: a kill mid-copy
    that no machine is too fast for."""
    reader = env.kids.start("reader", f"""
    import itertools
    import dagstore.core.cache.versions
    calls = itertools.count(1)
    pause_at(dagstore.core.cache.versions._TreeSink, "put_blob", lambda *a: next(calls) == {after_blobs},
             {env.flag('paused')!r}, {env.flag('never')!r})
    Dataset.get(dataset_id={vid!r}).get_local_copy(show_progress=False, max_workers=1)
    emit("done")
    """)
    return reader


def test_kill_during_get_local_copy_never_exposes_a_partial_folder_and_next_reader_completes(env: Env) -> None:
    src = make_tree(env.root / "src", 3000, small_max=8192, n_large=3, large_size=20 * MB, seed=11)
    vid = make_version(env, src, "reader-kill")
    final = env.cache / "versions" / vid
    expected = tree(src)
    reader = _pause_reader_mid_copy(env, vid, 500)
    seen_partial = []

    def paused() -> bool:
        if final.exists() and len(tree(final)) != len(expected):
            seen_partial.append(len(tree(final)))
        return os.path.exists(env.flag("paused")) or not reader.alive()

    wait_until(paused, 60, 0.001, "the reader to stop mid-copy")
    assert reader.alive(), reader.stderr()[-2000:]
    assert not final.exists(), f"versions/{vid} is visible while its build is paused half way"
    reader.kill()
    assert reader.results() == []
    assert not seen_partial, f"versions/{vid} was visible while incomplete ({seen_partial[0]} files)"
    assert not final.exists(), "a killed build left a partial version folder"

    after = env.kids.start("after", f"""
    emit(Dataset.get(dataset_id={vid!r}).get_local_copy(show_progress=False))
    """)
    path = after.result(60)
    assert path == str(final)
    assert_tree_equals(path, expected)


def test_partial_build_of_a_killed_get_local_copy_is_cleaned_up(env: Env) -> None:
    src = make_tree(env.root / "src", 1500, small_max=16384, seed=12)
    vid = make_version(env, src, "leftover")
    reader = _pause_reader_mid_copy(env, vid, 200)
    wait_until(lambda: os.path.exists(env.flag("paused")) or not reader.alive(), 60, 0.001, "the reader to stop mid-copy")
    assert reader.alive(), reader.stderr()[-2000:]
    reader.kill()
    assert reader.results() == []
    assert temp_leftovers(env.cache), "test setup: the kill left nothing to clean"
    env.kids.start("after", f"""
    Dataset.get(dataset_id={vid!r}).get_local_copy(show_progress=False)
    emit(Store().cache.evict(0))
    """).result(60)
    assert temp_leftovers(env.cache / "versions") == [], "the killed build's partial folder was never removed"


# -- 5. crash at each store write of finalize --------------------------------------------------


def _finalize_crash_setup(env: Env, crash_prefix: str) -> tuple[str, str, dict[str, Path]]:
    """A parent version 1.0.0 of "fin", then a child draft whose finalize dies right after its
    first write of a key under ``crash_prefix``. Returns (parent id, draft id, expected tree)."""
    parent_src = make_tree(env.root / "parent", 30, seed=21)
    parent = make_version(env, parent_src, "fin")
    src = make_tree(env.root / "child", 30, seed=22)
    crasher = env.kids.start("crasher", f"""
    ds = Dataset.create("fin", {PROJECT!r}, parent_datasets=[{parent!r}])
    ds.add_files({str(src)!r}, dataset_path="child")
    ds.upload(show_progress=False)
    emit({{"id": ds.id, "version": ds.version}})
    crash_on_write({crash_prefix!r})
    ds.finalize()
    emit({{"finalized": True}})
    """)
    rc = crasher.wait(60)
    res = crasher.results()
    assert rc == 9 and len(res) == 1, f"the finalize did not crash where intended (rc {rc})\n{crasher.stderr()[-2000:]}"
    expected = {**tree(parent_src), **{f"child/{r}": p for r, p in tree(src).items()}}
    return parent, res[0]["id"], expected


@pytest.mark.parametrize("crash_after", ["manifests/", "names/", "versions/"],
                         ids=["after-manifest", "after-version-claim", "after-version-record"])
def test_crash_during_finalize_is_finished_by_a_later_process_without_duplicate_versions(env: Env, crash_after: str) -> None:
    parent, draft_id, expected = _finalize_crash_setup(env, crash_after)
    st = env.fresh_store("check")
    assert st.verify() == []
    claimed_before = {v for v, i in st.claimed_versions(PROJECT, "fin").items() if i == draft_id}
    visible = {r.id for r in st.records()}
    assert visible == ({parent, draft_id} if crash_after == "versions/" else {parent}), "a half-finalized version is visible"

    # another writer finalizes a new version of the same name meanwhile
    other = env.kids.start("other", f"""
    ds = Dataset.create("fin", {PROJECT!r}, parent_datasets=[{parent!r}])
    ds.add_files({str(env.root / 'child' / 'd00')!r}, dataset_path="other")
    ds.upload(show_progress=False)
    ds.finalize()
    emit({{"id": ds.id, "version": ds.version}})
    """).result(60)
    # and a later process finishes the crashed draft
    retry = env.kids.start("retry", f"""
    ds = Dataset.get(dataset_id={draft_id!r})
    if not ds.is_final():
        ds.finalize()
    emit({{"version": ds.version, "final": ds.is_final()}})
    """).result(60)

    assert retry["final"]
    if claimed_before:  # the crashed finalize had claimed its number: it keeps it
        assert {retry["version"]} == claimed_before
    by_version = {r.version: r.id for r in st.versions_of(PROJECT, "fin")}
    assert len(by_version) == 3 and set(by_version.values()) == {parent, draft_id, other["id"]}, by_version
    assert st.claimed_versions(PROJECT, "fin") == by_version, "a claim without a version (or a duplicate) remains"
    assert st.verify() == []
    assert_tree_equals(Dataset.get(dataset_id=draft_id, store=env.fresh_store("read")).get_local_copy(show_progress=False), expected)


def test_two_processes_finalizing_the_same_draft_produce_one_version(env: Env) -> None:
    src = make_tree(env.root / "src", 30, seed=61)
    ds = Dataset.create("same-draft", PROJECT, store=env.fresh_store("setup"))
    ds.add_files(src)
    ds.upload(show_progress=False)
    script = f"""
    ds = Dataset.get(dataset_id={ds.id!r})
    touch({env.flag('ready-NAME')!r}); wait_for({env.flag('go')!r})
    ds.finalize()
    emit({{"version": ds.version, "manifest": ds.record.manifest}})
    """
    results = [k.result(60) for k in start_all(env, ["f1", "f2"], script)]
    assert results[0] == results[1] == {"version": "1.0.0", "manifest": results[0]["manifest"]}
    st = env.fresh_store("check")
    assert [r.id for r in st.versions_of(PROJECT, "same-draft")] == [ds.id]
    assert st.drafts() == [] and st.verify() == []
    assert_tree_equals(Dataset.get(dataset_id=ds.id, store=st).get_local_copy(show_progress=False), tree(src))


def test_crash_after_version_record_leaves_no_stale_draft(env: Env) -> None:
    _parent, draft_id, _expected = _finalize_crash_setup(env, "versions/")
    st = env.fresh_store("check")
    assert Dataset.get(dataset_id=draft_id, store=st).is_final()
    st.gc(min_age_seconds=0)  # whatever the crash left, gc (or the reads above) must clean up
    listed = [d["id"] for d in Dataset.list_datasets(dataset_project=PROJECT, only_completed=False, store=st)]
    assert listed.count(draft_id) == 1, "the version is listed both as completed and as a draft"
    assert draft_id not in {d.record.id for d in st.drafts()}


# -- 6. eviction vs live users ---------------------------------------------------------------------


def test_eviction_never_removes_a_version_a_live_process_uses(env: Env) -> None:
    src_a = make_tree(env.root / "a", 300, seed=31)
    src_b = make_tree(env.root / "b", 300, seed=32)
    va, vb = make_version(env, src_a, "evict-a"), make_version(env, src_b, "evict-b")
    holder = env.kids.start("holder", f"""
    p = Dataset.get(dataset_id={va!r}).get_local_copy(show_progress=False)
    emit(p)
    wait_for({env.flag('release')!r})
    emit(sorted(str(q.relative_to(p)) for q in Path(p).rglob("*") if q.is_file()))
    """)
    path_a = wait_until(lambda: holder.results() or not holder.alive(), 60, what="holder's copy")[0]
    assert holder.alive(), holder.stderr()

    evicter = env.kids.start("evicter", f"""
    p = Dataset.get(dataset_id={vb!r}).get_local_copy(show_progress=False)   # evicts: max size is 1 byte
    emit({{"path": p, "versions": sorted(os.listdir(Path(p).parent))}})
    """, DAGSTORE_CACHE_MAX_SIZE="1")
    r = evicter.result(60)
    assert os.path.isdir(path_a), "eviction removed a version a live process holds"
    assert_tree_equals(path_a, tree(src_a))
    assert_tree_equals(r["path"], tree(src_b))

    Path(env.flag("release")).touch()
    assert holder.result(30) == sorted(tree(src_a)), "the holder's folder changed under it"
    removed = env.kids.start("evict-all", "emit(Store().cache.evict(0))").result(30)
    assert va in removed and not os.path.exists(path_a), "once unused, the version must be evictable"


def test_eviction_never_removes_the_content_of_a_soft_linked_copy_in_use(env: Env) -> None:
    """With use_soft_links the folder holds symlinks into the blob cache: the blobs must stay
    while a live process uses the folder."""
    src = make_tree(env.root / "src", 100, seed=33)
    vid = make_version(env, src, "soft")
    holder = env.kids.start("holder", f"""
    p = Dataset.get(dataset_id={vid!r}).get_local_copy(use_soft_links=True, show_progress=False)
    emit(p)
    wait_for({env.flag('release')!r})
    """)
    path = wait_until(lambda: holder.results() or not holder.alive(), 60, what="holder's copy")[0]
    assert holder.alive(), holder.stderr()
    assert any(p.is_symlink() for p in Path(path).rglob("*"))
    env.kids.start("evicter", "emit(Store().cache.evict(0))").result(30)
    assert os.path.isdir(path)
    dangling = [str(p) for p in Path(path).rglob("*") if p.is_symlink() and not p.exists()]
    assert dangling == [], f"eviction deleted the blobs of {len(dangling)} files a live process uses"
    assert_tree_equals(path, tree(src))
    Path(env.flag("release")).touch()
    holder.wait(30)


def test_eviction_right_after_a_build_does_not_remove_the_new_folder(env: Env) -> None:
    """The builder renames its finished folder into versions/ and only then takes its lease;
    an eviction in another process at that moment must still see the folder as in use."""
    src = make_tree(env.root / "src", 100, seed=41)
    vid = make_version(env, src, "lease-race")
    builder = env.kids.start("builder", f"""
    import dagstore.core.cache
    versions = str(Path(os.environ["DAGSTORE_CACHE_DIR"]) / "versions" / {vid!r})
    pause_at(dagstore.core.cache.base.os, ["rename", "replace"], lambda src, dst, *a: str(dst) == versions,
             {env.flag('paused')!r}, {env.flag('resume')!r})
    try:
        emit(Dataset.get(dataset_id={vid!r}).get_local_copy(show_progress=False))
    except Exception as exc:
        emit("error: %s: %s" % (type(exc).__name__, exc))
    """)
    wait_until(lambda: os.path.exists(env.flag("paused")) or not builder.alive(), 60, what="builder to pause after its rename")
    assert builder.alive(), builder.stderr()
    evicted = env.kids.start("evicter", "emit(Store().cache.evict(0))").result(30)
    Path(env.flag("resume")).touch()
    got = builder.result(30)
    assert not got.startswith("error:"), f"get_local_copy failed after a concurrent eviction: {got}"
    assert vid not in evicted, "eviction removed a folder its builder was about to use"
    assert_tree_equals(got, tree(src))


def test_eviction_during_a_build_does_not_delete_cached_blobs_the_build_reuses(env: Env) -> None:
    """Version B shares most content with version A. A's folder is cached but unused; while a
    process builds B (reusing A's cached blobs and fetching the rest), another evicts A."""
    src_a = make_tree(env.root / "a", 100, seed=42)
    va = make_version(env, src_a, "share")
    extra = env.root / "extra" / "new.bin"
    extra.parent.mkdir()
    extra.write_bytes(b"only in B" * 1000)
    vb = Dataset.create("share", PROJECT, parent_datasets=[va], store=env.fresh_store("setup"))
    vb.add_files(extra)
    vb.upload(show_progress=False)
    vb.finalize()
    env.kids.start("reader-a", f"emit(Dataset.get(dataset_id={va!r}).get_local_copy(show_progress=False))").result(30)

    builder = env.kids.start("builder", f"""
    import dagstore.core.fetchplan
    pause_at(dagstore.core.fetchplan, "fetch", lambda *a: True, {env.flag('paused')!r}, {env.flag('resume')!r}, before=True)
    try:
        emit(Dataset.get(dataset_id={vb.id!r}).get_local_copy(show_progress=False))
    except Exception as exc:
        emit("error: %s: %s" % (type(exc).__name__, exc))
    """)
    wait_until(lambda: os.path.exists(env.flag("paused")) or not builder.alive(), 60, what="builder to start fetching")
    assert builder.alive(), builder.stderr()
    evicted = env.kids.start("evicter", "emit(Store().cache.evict(0))").result(30)
    assert va in evicted, "test setup: A's unused folder should have been evicted"
    Path(env.flag("resume")).touch()
    got = builder.result(30)
    assert not got.startswith("error:"), f"get_local_copy failed after a concurrent eviction: {got[:300]}"
    assert_tree_equals(got, {**tree(src_a), "new.bin": extra})


# -- 7. lock timeouts --------------------------------------------------------------------------------


def test_cache_lock_held_by_another_process_blocks_then_times_out(env: Env) -> None:
    holder = env.kids.start("holder", f"""
    with Store().cache.lock("version-xyz"):
        touch({env.flag('locked')!r})
        wait_for({env.flag('release')!r})
    emit("released")
    """)
    wait_until(lambda: os.path.exists(env.flag("locked")) or not holder.alive(), 30, what="lock holder")
    cache = Cache(env.cache)
    t0 = time.monotonic()
    with pytest.raises(LockTimeoutError, match="version-xyz"):
        with cache.lock("version-xyz", timeout=1.0):
            pass
    waited = time.monotonic() - t0
    # at least the timeout (not fail-fast), and far below the 600 s default or a hang; the upper
    # bound leaves room for a loaded machine
    assert 0.9 <= waited < 60.0, f"waited {waited:.2f}s for a 1 s timeout (fail-fast or hung)"
    Path(env.flag("release")).touch()
    assert holder.result(30) == "released"
    with cache.lock("version-xyz", timeout=0):  # a single try, no waiting: raises unless the lock is free at once
        pass


def test_get_local_copy_waits_for_another_process_building_the_same_version(env: Env) -> None:
    src = make_tree(env.root / "src", 50, seed=51)
    vid = make_version(env, src, "waiter")
    # the holder keeps the lock until the reader is at it (however long the reader takes to start
    # on a loaded machine), then 1.5 s more while the reader waits
    holder = env.kids.start("holder", f"""
    with Store().cache.lock("version-{vid}"):
        touch({env.flag('locked')!r})
        wait_for({env.flag('at-lock')!r}, 120)
        time.sleep(1.5)
        last_held = time.time()
    emit(last_held)
    """)
    wait_until(lambda: os.path.exists(env.flag("locked")) or not holder.alive(), 30, what="lock holder")
    reader = env.kids.start("reader", f"""
    from dagstore.core.cache import locks
    pause_at(locks._Lock, "__enter__", lambda lock: lock._name == "version-{vid}",  # only says "at the lock": no pause
             {env.flag('at-lock')!r}, {env.flag('locked')!r}, before=True)
    p = Dataset.get(dataset_id={vid!r}).get_local_copy(show_progress=False)
    emit({{"path": p, "t": time.time()}})
    """)
    last_held = holder.result(120)
    r = reader.result(120)
    assert r["t"] > last_held, "get_local_copy built the version while another process held its build lock"
    assert_tree_equals(r["path"], tree(src))
