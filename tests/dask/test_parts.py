"""Reads on many nodes: get_local_copy(part=, num_parts=) cuts at pack boundaries."""
from __future__ import annotations

from pathlib import Path

from dagstore import Dataset, Store
from dagstore.core.ops.checkout import part_bounds
from scale_trees import make_tree, tree_bytes


def test_parts_of_a_version_read_disjoint_packs_and_cover_it_once(tmp_path: Path) -> None:
    src = make_tree(tmp_path / "src", n=400, large=False, dupes=False)  # a shared blob is read by every part using it
    st = Store(str(tmp_path / "store"))
    ds = Dataset.create("data", "parts", store=st)
    ds.add_files(src, show_progress=False)
    ds.upload(show_progress=False, chunk_size=0.25)  # ~50 files per pack: several packs
    ds.finalize()
    where = st.locations(st.chain(ds.id))
    entries = ds.file_entries_dict
    seen: dict[str, bytes] = {}
    packs_of = []
    for k in range(4):
        part = tree_bytes(Dataset.get(ds.id, store=st).get_local_copy(part=k, num_parts=4, show_progress=False))
        assert not set(part) & set(seen)
        seen.update(part)
        packs_of.append({where[entries[p].hash][1].pack for p in part})
        assert 50 <= len(part) <= 150  # a quarter each, give or take half a quarter (a cut moves to a pack boundary)
    assert seen == tree_bytes(src)
    for i in range(4):
        for j in range(i + 1, 4):
            assert not packs_of[i] & packs_of[j], "two nodes would read the same pack"


def test_part_bounds_move_cuts_to_pack_boundaries_deterministically() -> None:
    units = ["a"] * 5 + ["b"] * 5 + ["c"] * 5 + ["d"] * 5
    assert [part_bounds(units, k, 3) for k in range(3)] == [(0, 5), (5, 15), (15, 20)]
    assert [part_bounds(["a"] * 10, k, 3) for k in range(3)] == [(0, 3), (3, 6), (6, 10)]  # one pack: even cuts
    assert [part_bounds(["a"] * 9 + ["b"], k, 2) for k in range(2)] == [(0, 5), (5, 10)]  # never more than half a part away
