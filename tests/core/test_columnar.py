"""The columnar state (core.state) against a plain-dict reference, the format-3 codec, and the
memory-mapped cache file's guard."""

from __future__ import annotations

import os
import random
from pathlib import Path

import numpy as np
import pyarrow as pa
import pytest
import zstandard

from dagstore import Dataset, FormatError, IntegrityError, Store
from dagstore.core import columns
from dagstore.core.manifest import Delta, Entry, encode_annotation
from dagstore.core.cache.files import BLOB_MTIME_NS
from dagstore.core.state import State


def _entry(r: random.Random, origin: str | None = None) -> Entry:
    kind = r.random()
    ann = encode_annotation({"split": r.choice(["train", "val"]), "labels": [r.choice("abc")],
                             "regions": [{"type": "box", "label": r.choice("cd"), "xywh": [0, 0, 1, 1]}],
                             "media": {"kind": "image", "width": 64, "height": 48}}) if kind < 0.5 else None
    if kind > 0.9:
        return Entry("", r.randrange(100), f"s3://b/{r.randrange(9)}", annotation=ann, origin=origin)
    return Entry(f"{r.getrandbits(128):032x}", r.randrange(1 << 40), None, {"k": r.randrange(3)} if kind > 0.8 else None, ann, origin)


def _paths(r: random.Random, n: int) -> list[str]:
    names = ["a", "a-b", "a.b", "a/b", "b", "é", "z/y/x", "Z", "a b"]
    return list({f"{r.choice(names)}/{r.choice(names)}{i}" for i in range(n)})


def _apply(base: dict[str, Entry], delta: Delta, origin: str) -> dict[str, Entry]:
    """The reference merge (what earlier releases computed on dicts)."""
    out = {p: e for p, e in base.items() if p not in delta.removed}
    out.update({p: e._replace(origin=origin) for p, e in delta.entries.items()})
    return dict(sorted(out.items()))


@pytest.mark.parametrize("seed", range(6))
def test_merge_and_diff_match_the_reference(seed: int) -> None:
    r = random.Random(seed)
    base = {p: _entry(r, "v1") for p in _paths(r, 300)}
    keys = sorted(base)
    delta = Delta(entries={p: _entry(r) for p in r.sample(keys, 40) + _paths(r, 30)}, removed=set(r.sample(keys, 30)))
    delta.entries.update({p: base[p]._replace(annotation=None, origin=None) for p in r.sample(keys, 5)})  # annotation only
    parent = State(columns.entries_table(base, origins=["v1"]), ["v1"])
    assert parent.as_dict() == dict(sorted(base.items())) and list(parent) == keys
    stored = columns.read_manifest(columns.delta_bytes(delta), "manifest")
    child = parent.apply(stored, "v2")
    want = _apply(base, delta, "v2")
    assert child.as_dict() == want and list(child) == list(want)
    d = parent.diff(child)
    assert d.added == sorted(want.keys() - base.keys()) and d.removed == sorted(base.keys() - want.keys())
    assert d.modified == sorted(p for p in want.keys() & base.keys() if want[p][:5] != base[p][:5])
    assert d.annotation_only == [p for p in d.modified if want[p][:4] == base[p][:4]]
    other = State(columns.entries_table({p: e._replace(origin="v3") for p, e in list(base.items())[:50]}, origins=["v3"]), ["v3"])
    merged = State.merge([child, other])
    assert merged.as_dict() == dict(sorted({**want, **{p: e._replace(origin="v3") for p, e in list(base.items())[:50]}}.items()))
    for p in r.sample(list(want), 20):
        assert p in child and child[p] == want[p] and child.get(p + "x") is None
    assert State.from_bytes(child.to_bytes()).as_dict() == want


def test_prefix_facets_filters_and_selection() -> None:
    r = random.Random(7)
    base = {p: _entry(r, "v") for p in _paths(r, 400)}
    st = State(columns.entries_table(base, origins=["v"]), ["v"])
    for folder in ("a", "a/b", "z/y", "nope"):
        assert st.paths(folder) == sorted(p for p in base if p.startswith(folder + "/"))
    anns = {p: __import__("dagstore.core.manifest", fromlist=["x"]).decode_annotation(e.annotation) for p, e in base.items() if e.annotation}
    f = st.facets()
    assert f["files"] == len(base) and f["annotated"] == len(anns)
    assert f["splits"] == {s: sum(a["split"] == s for a in anns.values()) for s in ("train", "val") if any(a["split"] == s for a in anns.values())}
    for label in "abcd":
        want = sorted(p for p, a in anns.items() if label in a["labels"] or label == a["regions"][0]["label"])
        assert st.filter(label=label).paths() == want == st.filter_paths(label=label) and f["classes"].get(label, 0) == len(want)
    assert st.filter(split="val", label=["a", "b"], region_type="box").paths() == sorted(
        p for p, a in anns.items() if a["split"] == "val" and set(a["labels"]) & {"a", "b"})
    assert st.filter(region_type="polygon").paths() == []
    assert st.contents() == {p: (e.hash, e.size) for p, e in sorted(base.items())}
    picked = r.sample(sorted(base), 10)
    assert st.missing([*picked, "no/such"]) == ["no/such"] and st.pick([*picked, "x"]) == {p: base[p] for p in picked}


@pytest.mark.parametrize("seed", range(4))
def test_the_merge_join_pairs_rows_as_a_lookup_does(seed: int) -> None:
    import pyarrow as pa

    from dagstore.core import align

    r = random.Random(seed)
    old = sorted({f"{r.randrange(50):02d}/{r.getrandbits(24):06x}" for _ in range(3000)})
    runs = [r.choice(["keep"] * 6 + ["drop", "add", "drop run", "add run"]) for _ in old]
    new: list[str] = []
    for p, what in zip(old, runs):
        if what.startswith("add"):
            new += [p[:-1] + c for c in ("!" if what == "add" else "!#$%&()*+,-.")]  # sorts before p's last character
        if not what.startswith("drop"):
            new.append(p)
    new = sorted(set(new))
    where = {p: i for i, p in enumerate(old)}
    for values, needles in ((old, new), (new, old), (old, old), ([], new), (old, []), (old[:1], new)):
        found, pos = align.matches(pa.array(values, pa.string()), pa.array(needles, pa.string()))
        lookup = {p: i for i, p in enumerate(values)} if values is not old else where
        assert found.tolist() == [p in lookup for p in needles]
        assert [int(i) for i, f in zip(pos, found) if f] == [lookup[p] for p in needles if p in lookup]


def test_a_lazy_child_of_a_mapped_parent_is_guarded_too(tmp_path: Path) -> None:
    ds = _version(tmp_path)
    st = Store(str(tmp_path / "store"), cache_dir=str(tmp_path / "cache"))
    parent = st.state(ds.id)
    child = parent.apply(columns.entries_table({"d/new.txt": Entry("cd" * 16, 1)}, {"d/0.txt"}), "child")
    assert len(child) == 5 and child.paths() == ["d/1.txt", "d/2.txt", "d/3.txt", "d/4.txt", "d/new.txt"]
    path = st.cache.immutable_path("states", f"{ds.id}.arrow")
    os.chmod(path, 0o644)
    os.utime(path, ns=(0, 1))  # changed after the child was made
    for use in (lambda: child.facets(), lambda: child["d/1.txt"], lambda: child.as_dict(), lambda: parent.diff(child)):
        with pytest.raises(IntegrityError, match="was changed while in use"):
            use()


def test_typed_columns_and_hashes_are_stored_as_specified() -> None:
    a = encode_annotation({"split": "train", "labels": ["cat"], "regions": [{"type": "box", "label": "dog", "xywh": [0, 0, 1, 1]}],
                           "media": {"kind": "image", "width": 64, "height": 48}})
    delta = Delta(entries={"img/x.jpg": Entry("ab" * 16, 5, annotation=a), "l": Entry("", 3, "s3://b/l")}, removed={"old"})
    import pyarrow as pa

    t = pa.ipc.open_file(pa.py_buffer(zstandard.ZstdDecompressor().decompress(columns.delta_bytes(delta)))).read_all()
    assert t.schema == columns.STORED_DELTA.with_metadata(t.schema.metadata)
    assert t["folder"].to_pylist() == ["img", "", ""] and t["name"].to_pylist() == ["x.jpg", "l", "old"]
    assert t["hash"].to_pylist() == [bytes.fromhex("ab" * 16), None, None] and t["removed"].to_pylist() == [False, False, True]
    row = t.slice(0, 1).to_pylist()[0]
    assert (row["split"], row["classes"], row["region_types"], row["width"], row["height"]) == ("train", ["cat", "dog"], ["box"], 64.0, 48.0)
    assert row["annotation"] == '{"labels":["cat"],"media":{"height":48,"kind":"image","width":64},"regions":[{"label":"dog","type":"box","xywh":[0,0,1,1]}],"split":"train"}'


def _version(tmp_path: Path) -> Dataset:
    (tmp_path / "src/d").mkdir(parents=True)
    for i in range(5):
        (tmp_path / f"src/d/{i}.txt").write_text(str(i))
    ds = Dataset.create("col", "p", store=Store(str(tmp_path / "store"), cache_dir=str(tmp_path / "cache")))
    ds.add_files(tmp_path / "src", show_progress=False)
    ds.upload(show_progress=False)
    ds.finalize()
    return ds


def test_a_cache_file_changed_under_its_memory_map_is_never_served(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    ds = _version(tmp_path)
    st = Store(str(tmp_path / "store"), cache_dir=str(tmp_path / "cache"))
    state = st.state(ds.id)
    path = st.cache.immutable_path("states", f"{ds.id}.arrow")
    assert oct(os.stat(path).st_mode & 0o777) == "0o444" and state.paths() == [f"d/{i}.txt" for i in range(5)]
    os.chmod(path, 0o644)
    with open(path, "r+b") as f:  # edited in place (its mtime changes)
        f.seek(os.path.getsize(path) // 2)
        f.write(b"\xff" * 8)
    with pytest.raises(IntegrityError, match="was changed while in use"):
        state.paths()
    with pytest.raises(IntegrityError, match="was changed while in use"):
        state.facets()
    fresh = Store(str(tmp_path / "store"), cache_dir=str(tmp_path / "cache")).state(ds.id)  # rebuilt from the store
    assert fresh.paths() == [f"d/{i}.txt" for i in range(5)] and "rebuilding the cached state" in caplog.text


def test_a_truncated_cache_file_is_rebuilt(tmp_path: Path) -> None:
    ds = _version(tmp_path)
    st = Store(str(tmp_path / "store"), cache_dir=str(tmp_path / "cache"))
    path = st.cache.immutable_path("states", f"{ds.id}.arrow")
    st.state(ds.id)
    data = Path(path).read_bytes()
    os.chmod(path, 0o644)
    Path(path).write_bytes(data[: len(data) // 2])
    os.utime(path, ns=(0, BLOB_MTIME_NS))  # sealed again: only the structure check can tell
    assert Store(str(tmp_path / "store"), cache_dir=str(tmp_path / "cache")).state(ds.id).paths() == [f"d/{i}.txt" for i in range(5)]


def test_a_columnar_manifest_newer_than_the_reader_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    data = columns.delta_bytes(Delta(entries={"a": Entry("ab" * 16, 1)}))
    monkeypatch.setattr(columns, "COLUMNAR_FORMAT", 2)
    with pytest.raises(FormatError, match="manifest format 3 is newer than this dagstore"):
        columns.read_manifest(data, "manifest")



def test_paths_split_at_their_last_slash_with_folders_in_first_seen_order() -> None:
    paths = ["a/b", "a/c", "b", "x/y/z", "x/y/zz", "\u00e9/\u00fc/\u00f1.txt", "a\nb/c", "z"]
    for arr in (columns.strings(paths), pa.chunked_array([columns.strings(paths[:3]), columns.strings(paths[3:])]),
                columns.strings(["q/r", *paths]).slice(1), columns.strings([])):
        folder, name = columns.split_paths(arr)
        want = [p.rpartition("/") for p in arr.to_pylist()]
        assert folder.type == columns.FOLDER.type and name.type == pa.string()
        assert folder.to_pylist() == [w[0] for w in want] and name.to_pylist() == [w[2] for w in want]
        assert folder.dictionary.to_pylist() == list(dict.fromkeys(w[0] for w in want))


def test_the_stored_hashes_of_a_delta_leave_out_links_removals_and_skipped_paths() -> None:
    h = sorted(os.urandom(16).hex() for _ in range(3))
    entries = {"a": Entry(h[1], 1), "b": Entry(h[0], 2), "c": Entry("", 3, url="https://x/c"), "d": Entry(h[1], 1), "e": Entry(h[2], 5)}
    got = columns.stored_hashes(columns.entries_table(entries, ["gone"]), ["e"])
    assert got.dtype == np.dtype("S16") and got.tobytes().hex() == h[0] + h[1]
    assert columns.stored_hashes(columns.entries_table(entries), []).tobytes().hex() == "".join(h)
    assert len(columns.stored_hashes(columns.entries_table({"c": entries["c"]}, ["x"]))) == 0
