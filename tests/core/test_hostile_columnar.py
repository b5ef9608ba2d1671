"""Forged columnar manifests (format 3) beyond tests/hostile_world.py's catalog, each one check of
the reader that nothing else catches (nulls in a not-null column, a name holding '/', another
kind, invalid UTF-8 that sorts in place), and for every columnar case: the FormatError names the
manifest's key and the version, `verify` reports it, and the other versions still read."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pyarrow as pa
import pytest

from dagstore import Dataset, FormatError
from dagstore.cli import main as cli_main
from hostile_world import CASES, World, _arrow_meta, _column, build_world, copy_world, expected_state


def _nulled(column: str) -> Callable[[Any], Any]:
    def change(t: Any) -> Any:
        field = t.schema.field(column).with_nullable(True)
        values = t[column].combine_chunks().to_pylist()
        return t.set_column(t.schema.get_field_index(column), field, pa.array([None, *values[1:]], field.type))

    return change


def _slash_in_last_name(t: Any) -> Any:  # "v/zz/text.txt": a safe path, still sorted, but not folder + name
    names = t["name"].to_pylist()
    return _column(t, "name", pa.array([*names[:-1], "zz/" + names[-1]], pa.string()))


def _invalid_utf8_in_last_name(t: Any) -> Any:  # 0xff at the end of the last name: still sorted
    names = pa.array(t["name"].to_pylist(), pa.string())
    data = names.buffers()[2].to_pybytes()
    end = sum(len(n.encode()) for n in names.to_pylist())
    bad = pa.Array.from_buffers(pa.string(), len(names), [None, names.buffers()[1], pa.py_buffer(data[: end - 1] + b"\xff" + data[end:])])
    return _column(t, "name", bad)


EXTRA = {
    "null-size": _nulled("size"),
    "null-name": _nulled("name"),
    "null-removed": _nulled("removed"),
    "name-with-slash": _slash_in_last_name,
    "invalid-utf8": _invalid_utf8_in_last_name,
    "kind-state": _arrow_meta({"format": 3, "kind": "state"}),
    "kind-missing": _arrow_meta({"format": 3}),
}
ARROW_CASES = [c for c in CASES if c.id.startswith("arrow-")]


@pytest.fixture(scope="module")
def template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("world")
    build_world(root)
    return root


def _refused(world: World) -> str:
    """Reading the victim is one FormatError naming its manifest and the version."""
    key, victim = world.record("V")["manifest"], world.ids["V"]
    with pytest.raises(FormatError) as exc:
        Dataset.get(dataset_id=victim, store=world.store()).list_files()
    msg = str(exc.value)
    assert key in msg and victim in msg and "\n" not in msg, msg
    return key


@pytest.mark.parametrize("case", sorted(EXTRA))
def test_a_forged_columnar_manifest_is_refused_and_hides_nothing_else(template: Path, tmp_path: Path, case: str,
                                                                       capsys: pytest.CaptureFixture[str]) -> None:
    world = copy_world(template, tmp_path / "w")
    world.forge_arrow("V", EXTRA[case](world.arrow_manifest("V")))
    key = _refused(world)
    assert [p for p in world.store().verify() if key in p], "verify reports the manifest"
    for other in ("B", "G"):
        assert Dataset.get(dataset_id=world.ids[other], store=world.store()).list_files() == sorted(expected_state(other))
    capsys.readouterr()
    assert cli_main(["--quiet", "--store", str(world.store_dir), "--cache-dir", str(tmp_path / "c"), "list", "--id", world.ids["V"]]) == 1
    err = capsys.readouterr().err
    assert key in err and "Traceback" not in err, err


@pytest.mark.parametrize("case", ARROW_CASES, ids=lambda c: c.id)
def test_every_columnar_case_names_the_manifest(template: Path, tmp_path: Path, case: Any) -> None:
    world = copy_world(template, tmp_path / "w")
    case.apply(world)
    _refused(world)
