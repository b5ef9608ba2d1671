"""Every forged columnar manifest (format 3) of tests/hostile_world.py's catalog (the ``arrow-``
cases; test_hostile_inputs.py runs each through listings, reads, copies and verify): the
FormatError names the manifest's key and the version, `verify` names the manifest, and the
command line's `list` names it in one line."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from dagstore import Dataset, FormatError
from dagstore.cli import main as cli_main
from hostile_world import CASES, World, build_world, copy_world

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
