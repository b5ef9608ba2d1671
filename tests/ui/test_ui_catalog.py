"""The catalog's lineage layout (ui/catalog.py) over version records as the store gives them."""

from __future__ import annotations

from dagstore.core.records import VersionRecord
from dagstore.ui.catalog import group, lineage


def test_lineage_of_a_version_whose_two_parents_are_gone() -> None:
    a, b, c = "a" * 32, "b" * 32, "c" * 32
    rec = VersionRecord(id=c, name="merged", project="p", version="1.0.0", parents=(a, b), created="2026-01-01T00:00:00Z")
    lin = lineage(group([rec], [])[0], {})
    assert [(n.id, n.status, n.external) for n in lin["nodes"]] == [(a, "missing", True), (b, "missing", True),
                                                                     (c, "final", False)]
    assert [(p.id, n.id) for p, n in lin["edges"]] == [(a, c), (b, c)]


def test_lineage_draws_a_parent_of_another_dataset_once() -> None:
    p1, c1, c2 = "1" * 32, "2" * 32, "3" * 32
    parent = VersionRecord(id=p1, name="base", project="p", version="1.0.0", created="2026-01-01T00:00:00Z")
    kids = [VersionRecord(id=i, name="kid", project="p", version=v, parents=(p1,), created=t)
            for i, v, t in ((c1, "1.0.0", "2026-01-02T00:00:00Z"), (c2, "1.0.1", "2026-01-03T00:00:00Z"))]
    lin = lineage(group(kids, [])[0], {p1: parent})
    assert [(n.id, n.status) for n in lin["nodes"]] == [(p1, "external"), (c1, "final"), (c2, "final")]
    assert lin["nodes"][0].label == "p/base 1.0.0"
