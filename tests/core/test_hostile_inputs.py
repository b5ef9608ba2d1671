"""Hostile and malformed objects written straight into a real local store.

Each case asserts: the error class and its one-line message; that every other version still
lists, reads and verifies; that listings and lookups skip the bad object with a warning naming
it; that `Store.verify` reports the problem and goes on; and that no temporary file is left.
"""

from __future__ import annotations

import logging
import os
import subprocess
from pathlib import Path

import pytest

from dagstore import DagstoreError, Dataset, FormatError, InvalidPathError, Store
from dagstore.cli import main as cli_main
from helpers import read_tree, write_tree
from hostile_world import CASES, PROJECT, Case, World, build_world, copy_world, expected_state


def one_line(exc: BaseException, cls: type[BaseException] = DagstoreError, *words: str) -> str:
    """The error is a ``cls`` with a short one-line message containing ``words``."""
    assert isinstance(exc, cls), f"{type(exc).__name__}: {exc} is not a {cls.__name__}"
    msg = str(exc)
    assert msg and "\n" not in msg and len(msg) < 500, repr(msg)
    assert "Traceback" not in msg
    for w in words:
        assert w in msg, f"{w!r} not in {msg!r}"
    return msg


@pytest.fixture(scope="session")
def world_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("world")
    build_world(root)
    return root


@pytest.fixture
def world(world_template: Path, tmp_path: Path) -> World:
    return copy_world(world_template, tmp_path / "w")


def _read_all(st: Store, vid: str) -> dict[str, bytes]:
    ds = Dataset.get(dataset_id=vid, store=st)
    ds.list_files()
    return read_tree(ds.get_local_copy(show_progress=False))


def _read_in_place(st: Store, vid: str) -> dict[str, bytes]:
    ds = Dataset.get(dataset_id=vid, store=st)
    return {p: ds.read_bytes(p) for p in ds.list_files()}


def _cli(*args: str) -> int:
    return cli_main(["--quiet", *args])


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.id)
def test_one_bad_object_is_a_clear_error_and_hides_nothing_else(world: World, case: Case, caplog: pytest.LogCaptureFixture, capsys: pytest.CaptureFixture[str]) -> None:
    case.apply(world)
    victim = world.ids[case.victim]
    caplog.set_level(logging.WARNING, logger="dagstore")

    # the victim: a clear error (or, for ignorable damage, its right content)
    if case.error is None:
        assert _read_all(world.store(), victim) == expected_state(case.victim)
    else:
        with pytest.raises(Exception) as exc:
            _read_all(world.store(), victim)
        one_line(exc.value, case.error)
        if case.id != "object-flipped":  # a ranged read of a large object cannot hash it
            with pytest.raises(Exception) as exc2:
                _read_in_place(world.store(), victim)
            one_line(exc2.value, case.error)

    # every other version still lists, is found by name, reads and verifies
    broken = {case.victim} | ({"W"} if case.id == "record-parent-cycle" else set())
    others = [k for k in ("A", "B", "G", "W") if k not in broken]
    st = world.store()
    listed = {d["id"] for d in Dataset.list_datasets(store=st, only_completed=False)}
    assert {world.ids[k] for k in others} <= listed
    assert (victim in listed) == case.listed
    if not case.listed:  # skipped with a warning that names it
        assert any(victim in r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING), caplog.text
    assert Dataset.get(dataset_project=PROJECT, dataset_name="gamma", store=st).id == world.ids["G"]
    latest = Dataset.get(dataset_project=PROJECT, dataset_name="alpha", only_completed=True, store=st).id
    assert latest in {world.ids["B"], world.ids["V"]}
    Dataset.get(dataset_project=PROJECT, dataset_name="alpha", store=st)  # drafts included: never fails
    for k in others:
        assert _read_all(world.store(), world.ids[k]) == expected_state(k)
        assert _read_in_place(world.store(), world.ids[k]) == expected_state(k)

    # verify reports it (every problem one line) and nothing about the others
    for read_data in (False, True) if not case.needs_read_data else (True,):
        problems = world.store().verify(read_data=read_data)
        assert problems, f"verify(read_data={read_data}) found nothing"
        assert all(isinstance(p, str) and p and "\n" not in p for p in problems)
        word = case.verify_names or victim
        assert any(word in p for p in problems), problems
        clean = [world.ids[k] for k in ("A", "B", "G")]
        assert not [p for p in problems if any(c in p for c in clean) and victim not in p and word not in p], problems

    # the command line: listings work, verify prints one line per problem and fails cleanly
    url, cache = str(world.store_dir), str(world.root / "cli-cache")
    capsys.readouterr()
    assert _cli("--store", url, "--cache-dir", cache, "search") == 0
    assert _cli("--store", url, "--cache-dir", cache, "search", "--project", PROJECT, "--name", "alpha") == 0
    assert _cli("--store", url, "--cache-dir", cache, "verify", "--store", "--read-data") == 1
    err = capsys.readouterr().err
    assert "Traceback" not in err and "Error:" not in err.replace("dagstore: error:", "")

    assert world.temps() == []


# -- the store marker -------------------------------------------------------------------------


@pytest.mark.parametrize("marker", [b"[]", b'"x"', b"5", b"null", b"", b"\xff\xfe", b'{"format": "1"}', b'{"created": 1}', b"{bad"])
def test_a_bad_store_marker_is_a_format_error_naming_it(tmp_path: Path, marker: bytes) -> None:
    root = tmp_path / "store"
    root.mkdir()
    (root / "dagstore.json").write_bytes(marker)
    with pytest.raises(Exception) as exc:
        Store(str(root), cache_dir=str(tmp_path / "c"))
    one_line(exc.value, FormatError, "dagstore.json")
    assert (root / "dagstore.json").read_bytes() == marker
    assert sorted(os.listdir(root)) == ["dagstore.json"]


def test_a_store_url_that_is_a_file_is_refused(tmp_path: Path) -> None:
    f = tmp_path / "afile"
    f.write_text("x")
    with pytest.raises(Exception) as exc:
        Store(str(f), cache_dir=str(tmp_path / "c"))
    one_line(exc.value, DagstoreError, str(f))
    with pytest.raises(Exception) as exc:
        Store(str(f / "sub"), cache_dir=str(tmp_path / "c"))
    one_line(exc.value, DagstoreError)
    assert f.read_text() == "x"


def test_dagstore_url_pointing_at_a_file_is_a_clear_cli_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    f = tmp_path / "afile"
    f.write_text("x")
    monkeypatch.setenv("DAGSTORE_URL", str(f))
    assert _cli("search") == 1
    err = capsys.readouterr().err.strip()
    assert err.startswith("dagstore: error:") and "\n" not in err and "debug" not in err, err


# -- configuration ------------------------------------------------------------------------------


@pytest.mark.parametrize("content,word", [
    (b"url = \xff\xfe\n", "config"),
    (b"url = 123\n", "url"),
    (b"cache_dir = 5\n", "cache_dir"),
    (b'cache_max_size = "lots"\n', "cache_max_size"),
    (b"cache_max_size = -5\n", "cache_max_size"),
    (b"storage_options = 5\n", "storage_options"),
    (b"[url\n", "config"),
])
def test_a_bad_config_file_is_a_clear_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, content: bytes, word: str, capsys: pytest.CaptureFixture[str]) -> None:
    cfg = tmp_path / "config.toml"
    cfg.write_bytes(content)
    monkeypatch.delenv("DAGSTORE_URL")
    monkeypatch.delenv("DAGSTORE_CACHE_DIR")
    monkeypatch.setenv("DAGSTORE_CONFIG", str(cfg))
    with pytest.raises(Exception) as exc:
        st = Store()
        Dataset.create(dataset_name="d", dataset_project="p", store=st).add_files(str(write_tree(tmp_path / "s", {"a": "1"})))
    one_line(exc.value, DagstoreError, word)
    assert _cli("search") == 1
    err = capsys.readouterr().err.strip()
    assert err.startswith("dagstore: error:") and "\n" not in err and "debug" not in err, err


def test_a_bad_cache_size_in_the_environment_is_a_clear_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DAGSTORE_CACHE_MAX_SIZE", "lots")
    with pytest.raises(Exception) as exc:
        Store(str(tmp_path / "s"))
    one_line(exc.value, DagstoreError, "DAGSTORE_CACHE_MAX_SIZE", "lots")


def _mini(st: Store, tmp_path: Path, name: str = "d") -> Dataset:
    ds = Dataset.create(dataset_name=name, dataset_project="p", store=st)
    ds.add_files(str(write_tree(tmp_path / f"src-{name}", {"a.txt": "a", "b/c.txt": "c"})), show_progress=False)
    ds.finalize(auto_upload=True)
    return ds


def test_a_cache_folder_under_a_file_is_a_clear_error(tmp_path: Path) -> None:
    f = tmp_path / "afile"
    f.write_text("x")
    st = Store(str(tmp_path / "store"), cache_dir=str(tmp_path / "c0"))
    ds = _mini(st, tmp_path)
    with pytest.raises(Exception) as exc:
        Dataset.get(dataset_id=ds.id, store=Store(str(tmp_path / "store"), cache_dir=str(f / "cache"))).get_local_copy(show_progress=False)
    one_line(exc.value, DagstoreError, str(f))


def test_a_read_only_cache_folder_is_a_clear_error(tmp_path: Path, ro_mount: Path) -> None:
    st = Store(str(tmp_path / "store"), cache_dir=str(tmp_path / "c0"))
    ds = _mini(st, tmp_path)
    with pytest.raises(Exception) as exc:
        Dataset.get(dataset_id=ds.id, store=Store(str(tmp_path / "store"), cache_dir=str(ro_mount / "cache"))).get_local_copy(show_progress=False)
    assert "read-only" in one_line(exc.value, DagstoreError).lower()
    assert read_tree(Dataset.get(dataset_id=ds.id, store=st).get_local_copy(show_progress=False)) == {"a.txt": b"a", "b/c.txt": b"c"}


def test_a_read_only_cache_folder_is_one_line_on_the_command_line(tmp_path: Path, ro_mount: Path, monkeypatch: pytest.MonkeyPatch, capfd: pytest.CaptureFixture[str], caplog: pytest.LogCaptureFixture) -> None:
    """Not three `not caching records/… / states/…` warnings before the error (issue 20)."""
    ds = _mini(Store(str(tmp_path / "store"), cache_dir=str(tmp_path / "c0")), tmp_path)
    monkeypatch.setenv("DAGSTORE_URL", str(tmp_path / "store"))
    monkeypatch.setenv("DAGSTORE_CACHE_DIR", str(ro_mount / "cache"))
    capfd.readouterr()
    assert cli_main(["get", "--id", ds.id]) == 1
    err = capfd.readouterr().err.strip()
    assert err.startswith("dagstore: error:") and "\n" not in err and "read-only" in err.lower(), err
    assert [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING] == []  # printed on stderr outside pytest


@pytest.fixture
def ro_mount(tmp_path: Path) -> Path:
    """A read-only tmpfs (root ignores permission bits, so chmod cannot make a folder read-only)."""
    mnt = tmp_path / "ro"
    mnt.mkdir()
    r = subprocess.run(["mount", "-t", "tmpfs", "-o", "ro,size=1m", "tmpfs", str(mnt)], capture_output=True, text=True)
    if r.returncode:
        pytest.fail(f"cannot mount a read-only tmpfs: {r.stderr.strip()}")
    yield mnt
    subprocess.run(["umount", "-l", str(mnt)], check=True)


def test_linking_a_missing_external_file_is_a_clear_error(tmp_path: Path) -> None:
    st = Store(str(tmp_path / "store"), cache_dir=str(tmp_path / "c"))
    ds = Dataset.create(dataset_name="d", dataset_project="p", store=st)
    for url in ("file:///nonexistent/x.csv", f"file://{tmp_path}/nope"):
        with pytest.raises(Exception) as exc:
            ds.add_external_files(url)
        one_line(exc.value, InvalidPathError, "nonexistent" if "nonexistent" in url else "nope")
    assert Dataset.get(dataset_id=ds.id, store=st).list_files() == []


# -- content that changes between add_files and upload --------------------------------------------


@pytest.mark.parametrize("how", ["deleted", "made-a-folder"])
@pytest.mark.parametrize("size", [100, 5 << 20])
def test_a_file_gone_before_upload_is_a_clear_error_without_retries(tmp_path: Path, how: str, size: int, monkeypatch: pytest.MonkeyPatch) -> None:
    st = Store(str(tmp_path / "store"), cache_dir=str(tmp_path / "c"))
    src = write_tree(tmp_path / "src", {"keep.txt": "k", "f.bin": os.urandom(size)})
    ds = Dataset.create(dataset_name="d", dataset_project="p", store=st)
    ds.add_files(str(src), show_progress=False)
    (src / "f.bin").unlink()
    if how == "made-a-folder":
        (src / "f.bin").mkdir()
    import dagstore.core.transfer as transfer_mod

    calls = []
    real = transfer_mod.upload
    monkeypatch.setattr(transfer_mod, "upload", lambda *a, **k: calls.append(1) or real(*a, **k))
    with pytest.raises(Exception) as exc:
        ds.upload(show_progress=False)
    one_line(exc.value, InvalidPathError, str(src / "f.bin"))
    assert len(calls) == 1  # not retried: retrying cannot help
    assert not list((tmp_path / "store").rglob(".tmp-*"))
    assert not list((tmp_path / "store" / "versions").glob("*")) if (tmp_path / "store" / "versions").exists() else True


# -- names ------------------------------------------------------------------------------------------

BAD_NAMES = ["", " ", "  \t ", "a\x00b", "a\nb", "a\x01b", "a\x7fb", "\x1b[31mred"]


@pytest.mark.parametrize("bad", BAD_NAMES, ids=repr)
def test_empty_blank_and_control_character_names_are_refused(tmp_path: Path, bad: str) -> None:
    st = Store(str(tmp_path / "store"), cache_dir=str(tmp_path / "c"))
    good = _mini(st, tmp_path)
    for kwargs in ({"dataset_name": bad, "dataset_project": "p"}, {"dataset_name": "ok", "dataset_project": bad}):
        with pytest.raises(Exception) as exc:
            Dataset.create(store=st, **kwargs)
        one_line(exc.value, InvalidPathError)
    with pytest.raises(Exception) as exc:
        Dataset.rename(bad, dataset_project="p", dataset_name="d", store=st)
    one_line(exc.value, InvalidPathError)
    with pytest.raises(Exception) as exc:
        Dataset.move_to_project(bad, dataset_project="p", dataset_name="d", store=st)
    one_line(exc.value, InvalidPathError)
    assert [d["id"] for d in Dataset.list_datasets(store=st, only_completed=False)] == [good.id]
    assert Dataset.get(dataset_project="p", dataset_name="d", store=st).id == good.id
    assert not list((tmp_path / "store" / "drafts").glob("*"))


def test_names_with_a_nul_no_longer_collide(tmp_path: Path) -> None:
    st = Store(str(tmp_path / "store"), cache_dir=str(tmp_path / "c"))
    with pytest.raises(InvalidPathError):
        Dataset.create(dataset_name="b", dataset_project="p\x00a", store=st)
    with pytest.raises(InvalidPathError):
        Dataset.create(dataset_name="a\x00b", dataset_project="p", store=st)


# -- versions that could never be checked out ----------------------------------------------------------


def _draft_with(st: Store, tmp_path: Path, files: dict[str, str], parent: Dataset | None = None) -> Dataset:
    ds = Dataset.create(dataset_name="t", dataset_project="p", parent_datasets=[parent.id] if parent else None, store=st)
    if files:
        ds.add_files(str(write_tree(tmp_path / f"s{os.urandom(3).hex()}", files)), show_progress=False)
    return ds


def test_a_file_and_a_folder_with_the_same_path_are_refused_at_add_files(tmp_path: Path) -> None:
    st = Store(str(tmp_path / "store"), cache_dir=str(tmp_path / "c"))
    ds = _draft_with(st, tmp_path, {"data": "a file"})
    before = ds.list_files()
    with pytest.raises(Exception) as exc:
        ds.add_files(str(write_tree(tmp_path / "folder", {"x.csv": "1"})), dataset_path="data", show_progress=False)
    one_line(exc.value, InvalidPathError, "data")
    assert ds.list_files() == before == Dataset.get(dataset_id=ds.id, store=st).list_files()
    ds2 = _draft_with(st, tmp_path, {"data/x.csv": "1"})
    with pytest.raises(Exception) as exc:
        ds2.add_files(str(write_tree(tmp_path / "f2", {"data": "file"})), show_progress=False)
    one_line(exc.value, InvalidPathError, "data")
    assert ds2.list_files() == ["data/x.csv"]


def test_a_child_cannot_put_a_folder_where_its_parent_has_a_file(tmp_path: Path) -> None:
    st = Store(str(tmp_path / "store"), cache_dir=str(tmp_path / "c"))
    parent = _draft_with(st, tmp_path, {"data": "file", "keep.txt": "k"})
    parent.finalize(auto_upload=True)
    child = _draft_with(st, tmp_path, {}, parent=parent)
    with pytest.raises(Exception) as exc:
        child.add_files(str(write_tree(tmp_path / "f", {"data/x.csv": "1"})), show_progress=False)
    one_line(exc.value, InvalidPathError, "data")
    with pytest.raises(Exception) as exc:
        child.add_external_files(f"file://{tmp_path}/f/data/x.csv", dataset_path="data")
    one_line(exc.value, InvalidPathError, "data")
    # removing the file first makes room for the folder
    child.remove_files("data")
    child.add_files(str(tmp_path / "f"), show_progress=False)
    child.finalize(auto_upload=True)
    got = read_tree(Dataset.get(dataset_id=child.id, store=st).get_local_copy(show_progress=False))
    assert got == {"data/x.csv": b"1", "keep.txt": b"k"}


def test_a_draft_with_a_path_conflict_is_refused_at_finalize(tmp_path: Path) -> None:
    st = Store(str(tmp_path / "store"), cache_dir=str(tmp_path / "c"))
    ds = _draft_with(st, tmp_path, {"a": "1", "x/b": "2"})
    ds.upload(show_progress=False)
    draft = st.load_draft(ds.id)
    assert draft is not None
    entry = draft.delta.entries["x/b"]
    draft.delta.entries["a/b"] = entry  # written by a buggy or hostile client
    st.save_draft(draft)
    stale = Dataset.get(dataset_id=ds.id, store=st)
    with pytest.raises(Exception) as exc:
        stale.finalize()
    one_line(exc.value, InvalidPathError, "a")
    assert not list((tmp_path / "store" / "versions").glob("*")) if (tmp_path / "store" / "versions").exists() else True


@pytest.mark.parametrize("dataset_path,word", [("x" * 256, "255"), ("é" * 128, "255"), ("/".join(["d" * 200] * 21), "4096")])
def test_over_long_paths_are_refused_at_add_files(tmp_path: Path, dataset_path: str, word: str) -> None:
    st = Store(str(tmp_path / "store"), cache_dir=str(tmp_path / "c"))
    ds = _draft_with(st, tmp_path, {"ok.txt": "ok"})
    with pytest.raises(Exception) as exc:
        ds.add_files(str(write_tree(tmp_path / "f", {"a.txt": "1"})), dataset_path=dataset_path, show_progress=False)
    one_line(exc.value, InvalidPathError, word)
    with pytest.raises(Exception) as exc:
        ds.add_external_files(f"file://{tmp_path}/f/a.txt", dataset_path=dataset_path)
    one_line(exc.value, InvalidPathError, word)
    assert Dataset.get(dataset_id=ds.id, store=st).list_files() == ["ok.txt"]
    ds.finalize(auto_upload=True)
    assert read_tree(Dataset.get(dataset_id=ds.id, store=st).get_local_copy(show_progress=False)) == {"ok.txt": b"ok"}


def test_the_cli_reports_hostile_errors_in_one_line(world: World, capsys: pytest.CaptureFixture[str]) -> None:
    world.write_record("V", b"[]")
    url, cache = str(world.store_dir), str(world.root / "cc")
    capsys.readouterr()
    assert _cli("--store", url, "--cache-dir", cache, "get", "--id", world.ids["V"]) == 1
    err = capsys.readouterr().err.strip()
    assert err.startswith("dagstore: error:") and "\n" not in err and world.ids["V"] in err and "debug" not in err, err


def test_the_hostile_world_is_sound_before_damage(world: World) -> None:
    """The checks above mean something: undamaged, every version reads and verify is clean."""
    st = world.store()
    assert st.verify(read_data=True) == []
    for k in ("A", "B", "G", "V", "W"):
        assert _read_all(world.store(), world.ids[k]) == expected_state(k)
        assert _read_in_place(world.store(), world.ids[k]) == expected_state(k)
    assert len(Dataset.list_datasets(store=st, only_completed=False)) == 6
    assert world.temps() == []
