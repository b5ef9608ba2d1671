"""The version DAG: ancestors, a children-before-parents order, and its ASCII drawing."""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from ..records import VersionRecord
from ..store import Store
from ...errors import DatasetNotFoundError


def with_ancestors(st: Store, seeds: Iterable[VersionRecord]) -> dict[str, VersionRecord]:
    """The seeds and every version they descend from, by id."""
    out: dict[str, VersionRecord] = {}
    todo = list(seeds)
    while todo:
        rec = todo.pop()
        if rec.id not in out:
            out[rec.id] = rec
            todo.extend(st.record(p) for p in rec.parents if p not in out)
    return out


def versions_named(st: Store, project: str | None, name: str, drafts: Iterable[VersionRecord]) -> list[VersionRecord]:
    """Every final version and draft of ``name`` (in ``project`` if given)."""
    found = [r for r in [*st.records(), *drafts] if r.name == name and (project is None or r.project == project)]
    if not found:
        raise DatasetNotFoundError(f"no dataset {project or '*'}/{name} in {st.url}")
    return found


def display_order(recs: dict[str, VersionRecord]) -> list[VersionRecord]:
    """Children before parents; among versions ready to show, the newest first."""
    waiting = {vid: 0 for vid in recs}
    for r in recs.values():
        for p in set(r.parents) & recs.keys():
            waiting[p] += 1
    ready = [vid for vid, n in waiting.items() if n == 0]
    order = []
    while ready:
        vid = max(ready, key=lambda v: (recs[v].finalized or recs[v].created, v))
        ready.remove(vid)
        order.append(recs[vid])
        for p in set(recs[vid].parents) & recs.keys():
            waiting[p] -= 1
            if waiting[p] == 0:
                ready.append(p)
    return order


def _edges(moves: Sequence[tuple[int, int]]) -> list[str]:
    """Lines drawing lanes moving from column a to column b, one column per line."""
    pos = [a for a, _ in moves]
    lines = []
    while any(p != b for p, (_, b) in zip(pos, moves)):
        row = [" "] * (2 * max(*pos, *(b for _, b in moves)) + 2)
        for k, (_, b) in enumerate(moves):
            p = pos[k]
            if p < b:
                row[2 * p + 1], pos[k] = "\\", p + 1
            elif p > b:
                row[2 * p - 1], pos[k] = "/", p - 1
            else:
                row[2 * p] = "|"
        lines.append("".join(row).rstrip())
    return lines


def _join_lanes(lanes: list[str], cols: list[int]) -> tuple[list[str], list[str]]:
    """(edge lines, remaining lanes) merging the lanes ``cols`` into the first of them."""
    keep = [i for i in range(len(lanes)) if i not in cols[1:]]
    new_col = {old: new for new, old in enumerate(keep)}
    return _edges([(i, new_col[cols[0] if i in cols else i]) for i in range(len(lanes))]), [lanes[i] for i in keep]


def render_graph(nodes: Sequence[tuple[str, Sequence[str], str]]) -> list[str]:
    """An ASCII DAG like ``git log --graph --oneline``. ``nodes`` are (id, parent ids, label),
    every child before its parents."""
    known = {n[0] for n in nodes}
    lanes: list[str] = []  # the node each column is waiting for
    out: list[str] = []
    for node, node_parents, label in nodes:
        parents = list(dict.fromkeys(p for p in node_parents if p in known))
        cols = [i for i, lane in enumerate(lanes) if lane == node]
        if len(cols) > 1:  # several children meet at this node: join their lanes first
            joins, lanes = _join_lanes(lanes, cols)
            out += joins
        if not cols:
            lanes.append(node)
        c = cols[0] if cols else len(lanes) - 1
        out.append(" ".join("*" if i == c else "|" for i in range(len(lanes))) + " " + label)
        k = len(parents)
        moves = [(i, i if i < c else i + k - 1) for i in range(len(lanes)) if i != c] + [(c, c + j) for j in range(k)]
        out += _edges(moves)
        lanes = lanes[:c] + parents + lanes[c + 1 :]
    return out
