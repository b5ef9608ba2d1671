"""Manifests: path validation, round trips, merge and diff semantics."""

from __future__ import annotations

import pytest

from dagstore.errors import FormatError, InvalidPathError
from dagstore.core import columns
from dagstore.core.manifest import Delta, Entry, _check_paths, dataset_prefix, join_dataset_path, match_path
from dagstore.core.state import State


def _state(entries: dict[str, Entry]) -> State:
    origins = list(dict.fromkeys(e.origin for e in entries.values()))
    return State(columns.entries_table(entries, origins=origins), origins)

UNSAFE = [["../x"], ["a", "/etc/passwd"], ["a//b"], ["./x"], ["x/."], ["x/.."], [""], ["a\x00"], ["x/"], ["a", ".."]]


@pytest.mark.parametrize("paths", UNSAFE)
def test_unsafe_stored_paths_are_rejected(paths):
    with pytest.raises(FormatError, match="unsafe path"):
        _check_paths(paths)


def test_safe_unusual_names_are_accepted():
    names = ["...", "a..b/c", ".hidden/x", "x/.y", "spaces and ü/ok"]
    assert _check_paths(names) == names


def test_delta_round_trip_keeps_links_meta_and_removals():
    d = Delta({"b.txt": Entry("0" * 32, 3), "a/l.bin": Entry("", 9, url="s3://x/l.bin", meta={"split": "train"})}, {"gone.txt"})
    back = columns.to_delta(columns.read_manifest(columns.delta_bytes(d), "manifest"))
    assert back.entries == d.entries and back.removed == {"gone.txt"}


def test_state_round_trip_keeps_origins():
    st = {"x": Entry("1" * 32, 1, origin="v1"), "y": Entry("2" * 32, 2, origin="v2")}
    assert State.from_bytes(_state(st).to_bytes()).as_dict() == st


def test_merge_later_parent_wins_and_delta_applies_on_top():
    a = {"p": Entry("a" * 32, 1, origin="A"), "only_a": Entry("c" * 32, 1, origin="A")}
    b = {"p": Entry("b" * 32, 1, origin="B")}
    delta = columns.entries_table({"new": Entry("d" * 32, 1)}, {"only_a"})
    st = State.merge([_state(a), _state(b)]).apply(delta, "C")
    assert {k: (e.hash[0], e.origin) for k, e in st.items()} == {"p": ("b", "B"), "new": ("d", "C")}


def test_diff_ignores_origin_but_sees_content_and_metadata():
    old = {"same": Entry("1" * 32, 1, origin="A"), "meta": Entry("2" * 32, 1), "gone": Entry("3" * 32, 1)}
    new = {"same": Entry("1" * 32, 1, origin="B"), "meta": Entry("2" * 32, 1, meta={"k": 1}), "new": Entry("4" * 32, 1)}
    d = _state(old).diff(_state(new))
    assert (d.added, d.removed, d.modified) == (["new"], ["gone"], ["meta"])


@pytest.mark.parametrize("given,expected", [(None, ""), ("/", ""), ("/a/b", "a/b"), ("a/./b/", "a/b"), ("a/..", ""), ("a/../b", "b")])
def test_dataset_prefix(given, expected):
    assert dataset_prefix(given) == expected


@pytest.mark.parametrize("bad", ["..", "../a", "a/../..", "/.."])
def test_dataset_prefix_refuses_escapes(bad):
    with pytest.raises(InvalidPathError, match="escapes"):
        dataset_prefix(bad)
    with pytest.raises(InvalidPathError, match="escapes"):
        join_dataset_path(bad, "x")


@pytest.mark.parametrize("path,pattern,recursive,hit", [
    ("a/b/c.txt", "a", True, True), ("a/b/c.txt", "a", False, False), ("a/b/c.txt", "*.txt", True, True),
    ("a/b/c.txt", "a/*/c.txt", True, True), ("a/b/c.txt", "**/*.txt", True, True), ("a/b/c.txt", "b/*", True, False),
    ("c.txt", "*.txt", False, True), ("a/c.txt", "a/*.txt", False, True),
])
def test_match_path(path, pattern, recursive, hit):
    assert match_path(path, pattern, recursive) is hit
