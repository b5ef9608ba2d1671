"""Every forged columnar manifest (format 3) of tests/hostile_world.py's catalog (the ``arrow-``
cases; test_hostile_inputs.py runs each through listings, reads, copies and verify): the
FormatError names the manifest's key and the version, `verify` names the manifest, and the
command line's `list` names it in one line."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from dagstore import Dataset, FormatError
from dagstore.cli import main as cli_main
from dagstore.export.source import slice_view
from dagstore.fs import DagstoreFileSystem
from dagstore.ui.index import Filters, Indexes
from hostile_world import CASES, World, _swap_rows, build_world, copy_world

ARROW_CASES = [c for c in CASES if c.id.startswith("arrow-") and not c.bad_annotations]
ANNOTATION_CASES = [c for c in CASES if c.bad_annotations]


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


@pytest.mark.parametrize("case", ARROW_CASES, ids=lambda c: c.id)
def test_every_columnar_case_names_the_manifest(template: Path, tmp_path: Path, case: Any,
                                                capsys: pytest.CaptureFixture[str]) -> None:
    world = copy_world(template, tmp_path / "w")
    case.apply(world)
    key = _refused(world)
    assert [p for p in world.store().verify() if key in p], "verify reports the manifest"
    capsys.readouterr()
    assert cli_main(["--quiet", "--store", str(world.store_dir), "--cache-dir", str(tmp_path / "c"), "list", "--id", world.ids["V"]]) == 1
    err = capsys.readouterr().err
    assert key in err and "Traceback" not in err, err


def _one_line(call: Callable[[], Any], *words: str) -> None:
    with pytest.raises(FormatError) as exc:
        call()
    msg = str(exc.value)
    assert all(w in msg for w in words) and "\n" not in msg, msg


@pytest.mark.parametrize("case", ANNOTATION_CASES, ids=lambda c: c.id)
def test_an_annotation_text_that_is_not_an_object_names_the_manifest(template: Path, tmp_path: Path, case: Any,
                                                                    capsys: pytest.CaptureFixture[str]) -> None:
    """The files still read (annotations are parsed where used), but every read of an annotation
    is one FormatError naming the manifest: the API, an export, fsspec's info, the UI's rows;
    verify reports it, and the command line says it in one line."""
    world = copy_world(template, tmp_path / "w")
    case.apply(world)
    key, victim = world.record("V")["manifest"], world.ids["V"]
    ds = Dataset.get(dataset_id=victim, store=world.store())
    assert "v/text.txt" in ds.list_files()
    _one_line(lambda: ds.get_annotation("v/text.txt"), key, victim, "v/text.txt")
    _one_line(lambda: list(ds.iter_annotations()), key, victim)
    _one_line(lambda: ds.export("jsonl", str(tmp_path / "out")), victim)
    _one_line(lambda: list(slice_view(world.store(), victim, ["v/text.txt"])[1]()), key, victim)  # an export worker's slice
    fs = DagstoreFileSystem(store=world.store())
    _one_line(lambda: fs.info(f"{victim}/v/text.txt"), key, victim)
    index = Indexes(world.store()).get(ds)
    _one_line(lambda: index.page(Filters()), victim, "v/")
    assert [p for p in world.store().verify() if key in p and victim in p and "annotation" in p]
    url, cache = str(world.store_dir), str(tmp_path / "c")
    capsys.readouterr()
    assert cli_main(["--quiet", "--store", url, "--cache-dir", cache, "annotations", "--id", victim]) == 1
    err = capsys.readouterr().err
    assert key in err and "Traceback" not in err and len(err.strip().splitlines()) == 1, err


def test_a_descendant_of_a_forged_manifest_names_the_ancestors(template: Path, tmp_path: Path) -> None:
    """V is B's child: B's forged manifest is named, with B, when V is read, and verify reports
    both versions."""
    world = copy_world(template, tmp_path / "w")
    world.forge_arrow("B", _swap_rows(world.arrow_manifest("B")))
    key, parent, child = world.record("B")["manifest"], world.ids["B"], world.ids["V"]
    with pytest.raises(FormatError) as exc:
        Dataset.get(dataset_id=child, store=world.store()).get_local_copy(show_progress=False)
    assert key in str(exc.value) and parent in str(exc.value), exc.value
    problems = world.store().verify()
    assert all(any(p.startswith(f"version {v}:") and key in p for p in problems) for v in (parent, child)), problems
