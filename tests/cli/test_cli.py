"""The installed `dagstore` command, run in subprocesses: every verb, --json, the draft flow
across processes, and each error path (exit code, one-line message, no traceback).

Read-only verbs share one store built once through the Python API (fast); verbs that change
a store get a fresh one from conftest's per-test DAGSTORE_URL / DAGSTORE_CACHE_DIR.
"""

from __future__ import annotations

import fcntl
import json
import os
import pty
import shutil
import stat
import struct
import subprocess
import sys
import termios
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from dagstore import Dataset, Store
from dagstore.core.ops.history import render_graph
from dagstore.cli.app import expand_multi_values
from dagstore.secrets import redact_url
from helpers import read_tree, write_tree

DAGSTORE = shutil.which("dagstore", path=os.path.dirname(sys.executable)) or shutil.which("dagstore")

V1 = {"a.txt": "alpha\n", "sub/b.csv": "x,y\n1,2\n", "sub/c.csv": "3,4\n", "img/d.bin": bytes(range(256)) * 12}
V2 = {"a.txt": "ALPHA\n", "sub/b.csv": "x,y\n1,2\n", "sub/c.csv": "3,4\n", "e.txt": "echo\n"}
LABELS = {"labels.json": "{}\n"}
V3 = {**V2, **LABELS}


def as_bytes(tree: dict[str, str | bytes]) -> dict[str, bytes]:
    return {k: v.encode() if isinstance(v, str) else v for k, v in tree.items()}


@dataclass
class Result:
    code: int
    out: str
    err: str

    def json(self) -> Any:
        return json.loads(self.out)

    @property
    def last(self) -> str:
        return self.out.strip().splitlines()[-1]


def dag(*args: Any, code: int = 0, cwd: Path | None = None, env: dict[str, str] | None = None) -> Result:
    """Run the installed `dagstore`; assert its exit code and that no traceback leaked."""
    assert DAGSTORE, "the dagstore console script is not installed (pip install -e .)"
    p = subprocess.run([DAGSTORE, *map(str, args)], capture_output=True, text=True, cwd=cwd,
                       env=env if env is not None else dict(os.environ), timeout=120)
    assert "Traceback" not in p.stderr, p.stderr
    assert p.returncode == code, f"dagstore {' '.join(map(str, args))} -> {p.returncode}\n{p.stdout}\n{p.stderr}"
    return Result(p.returncode, p.stdout, p.stderr)


def fails(*args: Any, code: int = 1, message: str, **kw: Any) -> Result:
    """Run a command that must fail with exactly one line `dagstore: error: ...message...`."""
    r = dag(*args, code=code, **kw)
    lines = r.err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("dagstore: error: "), r.err
    assert message in lines[0], lines[0]
    return r


@pytest.fixture(autouse=True)
def no_stray_config(monkeypatch: pytest.MonkeyPatch) -> None:
    for var in ("DAGSTORE_CONFIG", "DAGSTORE_QUIET", "DAGSTORE_CACHE_MAX_SIZE"):
        monkeypatch.delenv(var, raising=False)


@pytest.fixture(scope="module")
def shared(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """A store with images 1.0.0 -> 1.0.1 -> 1.0.2 (which also has labels 1.0.0 as a parent)
    and an open draft of images; plus the global options that select it."""
    base = tmp_path_factory.mktemp("shared")
    st = Store(str(base / "store"), cache_dir=str(base / "cache"))

    def final(name: str, tree: dict[str, Any] | None, parents: list[str] | None = None) -> Dataset:
        ds = Dataset.create(name, "proj", parent_datasets=parents, store=st)
        if tree:
            ds.add_files(write_tree(base / f"src-{name}-{len(parents or [])}", tree))
        ds.upload(show_progress=False)
        ds.finalize()
        return ds

    v1 = final("images", V1)
    v2 = Dataset.create("images", "proj", parent_datasets=[v1.id], store=st)
    v2.sync_folder(write_tree(base / "src-v2", V2))
    v2.upload(show_progress=False)
    v2.finalize()
    labels = final("labels", LABELS)
    v3 = final("images", None, [v2.id, labels.id])
    wip = Dataset.create("images", "proj", parent_datasets=[v3.id], store=st)
    wip.add_files(write_tree(base / "src-wip", {"new.txt": "new\n"}))
    return {"opts": ["--store", str(base / "store"), "--cache-dir", str(base / "cache")], "base": base,
            "v1": v1.id, "v2": v2.id, "v3": v3.id, "labels": labels.id, "wip": wip.id}


# -- writing: the clearml-data flow ------------------------------------------------------------


def test_create_add_close_in_three_processes(tmp_path: Path) -> None:
    data = write_tree(tmp_path / "data", V1)
    created = dag("--json", "create", "--project", "demo", "--name", "mnist").json()
    vid = created["id"]
    assert created["status"] == "draft" and created["version"] == "1.0.0" and len(vid) == 32

    added = dag("add", "--files", data, "--verbose")  # no --id: the draft remembered from `create`
    assert f"using dataset {vid}" in added.err
    assert added.last == f"id: {vid}" and "added or modified 4 files" in added.out
    extra = write_tree(tmp_path / "extra", {"notes.md": "# notes\n", "skip.txt": "no\n"})
    dag("add", "--id", vid[:8], "--files", f"{extra}/*.md", "--dataset-folder", "docs")  # an id prefix, a quoted glob

    closed = dag("close")
    assert closed.last == f"id: {vid}" and "closed demo/mnist 1.0.0: 5 files" in closed.out

    ds = Dataset.get(dataset_id=vid)
    assert ds.is_final() and ds.list_files() == sorted([*V1, "docs/notes.md"])
    folder = dag("get", "--project", "demo", "--name", "mnist").out.strip()
    assert read_tree(folder) == {**as_bytes(V1), "docs/notes.md": b"# notes\n"}
    fails("close", code=2, message="no draft remembered")  # close forgot the finished draft


def test_parents_tags_remove_upload_publish_links_json(tmp_path: Path) -> None:
    base = Dataset.create("base")
    base.add_files(write_tree(tmp_path / "src", V1))
    base.finalize(auto_upload=True)
    first = base.id
    ext = write_tree(tmp_path / "ext", {"big.bin": b"remote bytes"})

    child = dag("create", "--name", "base", "--parents", first, "--tags", "a", "b", "--version", "2.0.0", "--json").json()
    cid = child["id"]
    assert child["parents"] == [first] and child["tags"] == ["a", "b"] and child["version"] == "2.0.0"
    assert dag("add", "--id", cid, "--links", f"file://{ext}/big.bin", "--json").json() == {"id": cid, "added": 0, "linked": 1}
    assert dag("remove", "--id", cid, "--files", "sub/*.csv", "img", "--json").json() == {"id": cid, "removed": 3}
    assert dag("upload", "--id", cid, "--json").json()["uploaded"] is False  # only removals: nothing to send
    closed = dag("close", "--id", cid, "--json").json()
    assert closed["status"] == "completed" and closed["stats"]["removed"] == 3
    assert dag("publish", "--id", cid, "--json").json()["status"] == "published"

    folder = dag("get", "--id", cid).out.strip()
    assert read_tree(folder) == {"a.txt": b"alpha\n", "big.bin": b"remote bytes"}
    listed = dag("list", "--id", cid, "--json").json()["files"]
    assert [(f["path"], f["link"]) for f in listed] == [("a.txt", None), ("big.bin", f"file://{ext}/big.bin")]
    found = dag("search", "--tags", "a", "--json").json()
    assert [(d["id"], d["status"]) for d in found] == [(cid, "published")]


def test_upload_then_close_and_sync_into_a_draft(tmp_path: Path) -> None:
    folder = write_tree(tmp_path / "f", {"x.txt": "1\n", "y.txt": "2\n"})
    vid = dag("create", "--name", "ds").last.split()[1]
    synced = dag("sync", "--id", vid, "--folder", folder, "--skip-close", "--json").json()
    assert synced["status"] == "draft" and synced["added"] == 2 and synced["created"] is False
    up = dag("upload", "--id", vid)
    assert "uploaded pending content" in up.out and not Dataset.get(dataset_id=vid).is_dirty()
    assert dag("close", "--id", vid, "--json").json()["stats"]["files"] == 2


def test_sync_project_name_creates_versions_only_on_change(tmp_path: Path) -> None:
    folder = write_tree(tmp_path / "f", V1)
    first = dag("sync", "--project", "p", "--name", "n", "--folder", folder, "--json").json()
    assert first["created"] is True and first["status"] == "completed" and first["added"] == 4

    same = dag("sync", "--project", "p", "--name", "n", "--folder", folder)
    assert "no changes" in same.out and "nothing created" in same.out and first["id"] in same.out
    again = dag("sync", "--project", "p", "--name", "n", "--folder", folder, "--json").json()
    assert again == {"id": None, "created": False, "latest": first["id"], "removed": 0, "added": 0, "modified": 0}
    st = Store.default()
    assert [r.id for r in st.records()] == [first["id"]] and st.drafts() == []

    (folder / "a.txt").write_text("changed\n")
    (folder / "img" / "d.bin").unlink()
    (folder / "new.txt").write_text("new\n")
    fails("sync", "--project", "p", "--name", "n", "--folder", folder, "--version", "1.0.0",
          message="version 1.0.0 of p/n already exists")
    assert st.drafts() == []  # the failed sync left no draft behind
    second = dag("sync", "--project", "p", "--name", "n", "--folder", folder, "--version", "1.0.1", "--json").json()
    assert (second["version"], second["parents"]) == ("1.0.1", [first["id"]])
    assert (second["added"], second["modified"], second["removed"]) == (1, 1, 1)

    modified = dag("list", "--project", "p", "--name", "n", "--modified")
    assert modified.out.splitlines()[:3] == ["+ new.txt", "~ a.txt", "- img/d.bin"]
    d = dag("compare", "--source", first["id"], "--target", second["id"], "--json").json()
    assert (d["added"], d["modified"], d["removed"]) == (["new.txt"], ["a.txt"], ["img/d.bin"])
    assert dag("diff", "p/n@1.0.0", "p/n@1.0.1", "--json").json() == d
    assert dag("diff", "p/n@1.0.1", "p/n@1.0.0").out.splitlines()[:3] == ["+ img/d.bin", "~ a.txt", "- new.txt"]


# -- reading (shared store) ------------------------------------------------------------------


def test_get_cached_copy_subset_shards_copy_and_link(shared: dict[str, Any], tmp_path: Path) -> None:
    o = shared["opts"]
    path = dag(*o, "get", "--id", shared["v2"], "--max-workers", 2).out.strip()
    assert read_tree(path) == as_bytes(V2)
    assert stat.S_IMODE(os.stat(Path(path) / "a.txt").st_mode) & 0o222 == 0  # read-only cache
    latest = dag(*o, "get", "--project", "proj", "--name", "images", "--json").json()
    assert latest["id"] == shared["v3"] and read_tree(latest["path"]) == as_bytes(V3)  # drafts are skipped
    subset = dag(*o, "get", "--id", shared["v3"], "--files", "*.csv", "labels.json").out.strip()
    assert sorted(read_tree(subset)) == ["labels.json", "sub/b.csv", "sub/c.csv"]
    parts = [read_tree(dag(*o, "get", "--id", shared["v3"], "--part", i, "--num-parts", 2).out.strip()) for i in (0, 1)]
    assert parts[0] and parts[1] and not parts[0].keys() & parts[1].keys() and {**parts[0], **parts[1]} == as_bytes(V3)

    copy = tmp_path / "copy"
    assert dag(*o, "get", "--id", shared["v1"], "--copy", copy).out.strip() == str(copy)
    assert read_tree(copy) == as_bytes(V1)
    (copy / "a.txt").write_text("mine\n")  # a real, writable copy
    fails(*o, "get", "--id", shared["v1"], "--copy", copy, message="is not empty")
    dag(*o, "get", "--id", shared["v2"], "--copy", copy, "--overwrite")
    assert read_tree(copy) == as_bytes(V2)

    link = tmp_path / "current"
    dag(*o, "get", "--id", shared["v1"], "--link", link)
    assert link.is_symlink() and read_tree(link) == as_bytes(V1)
    fails(*o, "get", "--id", shared["v2"], "--link", link, message="already exists")
    assert dag(*o, "get", "--id", shared["v2"], "--link", link, "--overwrite", "--json").json()["link"] == str(link)
    assert read_tree(link) == as_bytes(V2)
    fails(*o, "get", "--id", shared["v2"], "--files", "*.nothing", message="no file of proj/images 1.0.1 matches")


def test_list_search_log(shared: dict[str, Any]) -> None:
    o = shared["opts"]
    files = dag(*o, "list", "--id", shared["v3"], "--json").json()["files"]
    assert [f["path"] for f in files] == sorted(V3) and all(len(f["hash"]) == 32 for f in files)
    human = dag(*o, "list", "--id", shared["v3"], "--filter", "sub", "e.txt").out.splitlines()
    assert [line.split()[-1] for line in human[:-1]] == ["e.txt", "sub/b.csv", "sub/c.csv"]
    assert human[-1].startswith("3 files")
    mod = dag(*o, "--json", "list", "--id", shared["v2"], "--modified").json()
    assert (mod["added"], mod["modified"], mod["removed"]) == (["e.txt"], ["a.txt"], ["img/d.bin"])

    found = dag(*o, "search", "--project", "proj", "--json").json()
    assert [d["version"] for d in found if d["name"] == "images"] == ["1.0.2", "1.0.1", "1.0.0"]
    drafts = dag(*o, "search", "--name", "imag", "--not-only-completed", "--json").json()
    assert [d["id"] for d in drafts if d["status"] == "draft"] == [shared["wip"]]
    assert "no datasets found" in dag(*o, "search", "--name", "nothing-like-this").out

    graph = dag(*o, "log", "--project", "proj", "--name", "images").out.splitlines()
    short = {k: shared[k][:12] for k in ("v1", "v2", "v3", "labels", "wip")}
    assert graph[0].startswith(f"* {short['wip']} proj/images 1.0.3 (draft)")
    assert graph[1].startswith(f"* {short['v3']} proj/images 1.0.2")
    assert graph[2] == "|\\"
    assert graph[3].startswith(f"| * {short['labels']} proj/labels 1.0.0")  # a root: its lane ends
    assert graph[4].startswith(f"* {short['v2']} proj/images 1.0.1  +1 ~1 -1, 4 files")
    assert graph[-1].startswith(f"* {short['v1']} proj/images 1.0.0  +4 ~0 -0, 4 files")
    nodes = dag(*o, "log", "--id", short["v2"], "--json").json()
    assert [(n["id"], n["parents"]) for n in nodes] == [(shared["v2"], [shared["v1"]]), (shared["v1"], [])]


def test_verify_version_copy_and_store(shared: dict[str, Any], tmp_path: Path) -> None:
    o = shared["opts"]
    ok = dag(*o, "verify", "--id", shared["v2"])
    assert "all 4 files in the cached copy match" in ok.out
    copy = Path(dag(*o, "get", "--id", shared["v2"], "--copy", tmp_path / "c").out.strip())
    (copy / "e.txt").write_text("ECHO\n")  # same size, other content
    bad = fails(*o, "verify", "--id", shared["v2"], "--folder", copy, message="1 file in")
    assert bad.out.splitlines() == ["bad: e.txt"]
    assert dag(*o, "verify", "--id", shared["v2"], "--folder", copy, "--filesize", "--json").json()["ok"] is True
    store_ok = dag(*o, "verify", "--store", "--read-data", "--json").json()
    assert store_ok["ok"] is True and store_ok["problems"] == []


# -- managing a store ---------------------------------------------------------------------------


def test_delete_rename_move_squash_gc(tmp_path: Path) -> None:
    st = Store.default()
    a = Dataset.create("a", "p", store=st)
    a.add_files(write_tree(tmp_path / "a", {"1.txt": "one\n", "2.txt": "two\n"}))
    a.finalize(auto_upload=True)
    b = Dataset.create("a", "p", parent_datasets=[a.id], store=st)
    b.add_files(write_tree(tmp_path / "b", {"3.txt": "three\n"}))
    b.remove_files("1.txt")
    b.finalize(auto_upload=True)

    flat = dag("squash", "--name", "flat", "--ids", a.id, b.id, "--json").json()
    assert flat["parents"] == [] and Dataset.get(dataset_id=flat["id"]).list_files() == ["2.txt", "3.txt"]
    fails("delete", "--id", a.id, message=f"version {a.id} is a parent of {b.id}")
    assert "renamed 2 versions: p/a -> p/b" in dag("rename", "--project", "p", "--name", "a", "--new-name", "b").out
    assert dag("move", "--project", "p", "--name", "b", "--new-project", "q", "--json").json() == {"moved": 2, "project": "q", "name": "b"}
    assert sorted((r.project, r.name) for r in st.records()) == [("p", "flat"), ("q", "b"), ("q", "b")]

    assert dag("delete", "--project", "q", "--name", "b", "--entire-dataset", "--force", "--json").json() == {"deleted": 2}
    assert dag("delete", "--id", flat["id"]).out.startswith("deleted 1 version")
    assert st.records() == []
    dry = dag("gc", "--dry-run", "--min-age", 0, "--json").json()
    assert dry["dry_run"] is True and dry["packs"] and dry["manifests"]
    assert dag("gc", "--min-age", 0, "--json").json()["packs"] == dry["packs"]
    assert dag("gc", "--min-age", 0).out.startswith("removed 0 packs, 0 objects, 0 manifests")


def test_verify_store_reports_problems() -> None:
    ds = Dataset.create("x", "p")
    ds.add_files(write_tree(Path(os.environ["HOME"]) / "x", {"f.txt": "data\n"}))
    ds.finalize(auto_upload=True)
    for pack in (Path(os.environ["DAGSTORE_URL"]) / "packs").rglob("*"):
        if pack.is_file():
            pack.unlink()
    r = fails("verify", "--store", "--json", message="problem")
    doc = r.json()
    assert doc["ok"] is False and any("is missing" in p for p in doc["problems"])


# -- global options and configuration ------------------------------------------------------------


def test_global_options(tmp_path: Path) -> None:
    assert dag("--version").out.strip() == "dagstore 0.1.0"
    help_text = dag("--help").out
    for verb in ("create", "add", "remove", "sync", "upload", "close", "publish", "get", "list", "compare", "squash",
                 "search", "verify", "delete", "rename", "move", "diff", "log", "gc", "config"):
        assert f"\n  {verb} " in help_text, verb
    other, cache = tmp_path / "other-store", tmp_path / "other-cache"
    dag("--store", other, "--cache-dir", cache, "--quiet", "create", "--name", "q")
    quiet = dag("--store", other, "--cache-dir", cache, "add", "--files", write_tree(tmp_path / "d", {"f": "f"}), "-q")
    assert quiet.err == ""  # --quiet hides the "using dataset" note
    assert (other / "dagstore.json").is_file() and (cache / "cli" / "last-draft.json").is_file()
    assert not Path(os.environ["DAGSTORE_URL"]).exists()  # the default store was never touched


def on_a_terminal(*args: Any) -> tuple[int, str]:
    """Run `dagstore` with stderr on a 100-column pseudo-terminal; returns (exit code, stderr)."""
    master, slave = pty.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 30, 100, 0, 0))
    p = subprocess.Popen([DAGSTORE, *map(str, args)], stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=slave)
    os.close(slave)
    chunks = []
    while True:
        try:
            data = os.read(master, 65536)
        except OSError:  # EIO: the child closed the terminal
            break
        if not data:
            break
        chunks.append(data)
    os.close(master)
    return p.wait(timeout=60), b"".join(chunks).decode(errors="replace")


def test_progress_bars_on_a_terminal_unless_quiet(shared: dict[str, Any], tmp_path: Path) -> None:
    store = shared["opts"][:2]
    code, err = on_a_terminal(*store, "--cache-dir", tmp_path / "c1", "get", "--id", shared["v1"])
    assert code == 0 and "download:" in err and "B/s" in err  # a tqdm bar (cleared when done)
    code, err = on_a_terminal(*store, "--cache-dir", tmp_path / "c2", "get", "--id", shared["v1"], "--quiet")
    assert code == 0 and err == ""


def test_config_shows_sources_and_redacts_secrets(tmp_path: Path) -> None:
    cfg = tmp_path / "config.toml"
    cfg.write_text('cache_max_size = "2GB"\n[storage_options]\nendpoint_url = "http://127.0.0.1:9000"\n'
                   'key = "AKIAEXAMPLE"\nsecret = "s3cr3t-value"\n')
    env = {**os.environ, "DAGSTORE_CONFIG": str(cfg)}
    doc = dag("config", "--json", env=env).json()
    assert doc["store_url"] == os.environ["DAGSTORE_URL"] and doc["store_url_source"] == "env DAGSTORE_URL"
    assert doc["cache_dir"] == os.environ["DAGSTORE_CACHE_DIR"] and doc["cache_max_size"] == 2 << 30
    assert doc["cache_max_size_source"] == "config file" and doc["config_file"] == str(cfg) and doc["config_file_exists"]
    assert doc["storage_options"] == {"endpoint_url": "http://127.0.0.1:9000", "key": "***", "secret": "***"}
    human = dag("--store", "sftp://me:hunter2@host/data", "config", env=env).out
    assert "sftp://me:***@host/data" in human and "command line" in human
    assert "hunter2" not in human and "s3cr3t" not in human and "AKIA" not in human


# -- errors -------------------------------------------------------------------------------------

ERRORS = [
    # (args with {placeholders}, exit code, message)
    (["get", "--id", "0" * 32], 1, "no dataset matches 00000000000000000000000000000000"),
    (["get", "--id", "not-an-id"], 1, "invalid dataset id 'not-an-id'"),
    (["list", "--id", "{v1:.3}"], 1, "no dataset matches {v1:.3} in {base}/store (an id prefix needs at least 4 characters)"),
    (["get", "--id", "{wip}"], 1, "needs a finalized version"),
    (["diff", "{v1}", "proj/images@9.9.9"], 1, "no dataset matches proj/images version 9.9.9"),
    (["add", "--id", "{wip}", "--files", "/no/such/path"], 1, "/no/such/path: no such file or directory"),
    (["sync", "--project", "proj", "--name", "images", "--folder", "/no/such/dir"], 1, "/no/such/dir: not a folder"),
    (["create", "--name", "x", "--parents", "{wip}"], 1, "is a draft; finalize it"),
    (["add", "--id", "{v1}", "--files", "{base}/src-v2"], 1, "is finalized and cannot change"),
    (["close", "--id", "{v2}"], 1, "is finalized and cannot change"),
    (["close", "--id", "{wip}", "--disable-upload"], 1, "has 1 file not uploaded"),
    (["publish", "--id", "{wip}"], 1, "needs a finalized version"),
    (["delete", "--id", "{v1}"], 1, "is a parent of"),
    (["rename", "--project", "proj", "--name", "nope", "--new-name", "x"], 1, "no dataset proj/nope"),
    (["get"], 2, "give --id, or --project and --name"),
    (["get", "--id", "{v1}", "--part", "1"], 2, "--part and --num-parts go together"),
    (["create"], 2, "Missing option '--name'"),
    (["list", "--bogus"], 2, "No such option"),
    (["frobnicate"], 2, "No such command 'frobnicate'"),
    (["verify"], 2, "or --store for the whole store"),
    (["sync", "--id", "{wip}", "--name", "x", "--folder", "{base}"], 2, "--id syncs into an existing draft"),
]


def test_errors_are_one_line(shared: dict[str, Any]) -> None:
    """Each error case in its own process, several at a time (they only read the store)."""
    def check(case: tuple[list[str], int, str]) -> str | None:
        args, code, message = case
        try:
            fails(*shared["opts"], *[a.format(**shared) for a in args], code=code, message=message.format(**shared))
        except AssertionError as exc:
            return f"{' '.join(args)}: {exc}"
        return None

    with ThreadPoolExecutor(4) as pool:
        problems = [p for p in pool.map(check, ERRORS) if p]
    assert not problems, "\n\n".join(problems)
    wip = Dataset.get(dataset_id=shared["wip"], store=Store(shared["opts"][1], cache_dir=shared["opts"][3]))
    assert wip.list_added_files() == ["new.txt"] and wip.list_removed_files() == []  # the failed add changed nothing


def test_newer_store_format_and_debug_traceback(tmp_path: Path) -> None:
    store = tmp_path / "future"
    store.mkdir()
    (store / "dagstore.json").write_text('{"format": 99}')
    fails("--store", store, "search", message="written by a newer dagstore")
    p = subprocess.run([DAGSTORE, "--debug", "--store", str(store), "search"], capture_output=True, text=True)
    assert p.returncode == 1 and "Traceback" in p.stderr and "FormatError" in p.stderr


# -- pure helpers (in-process) --------------------------------------------------------------------


def test_multi_value_options_follow_clearml_spelling() -> None:
    assert expand_multi_values(["add", "--files", "a", "b", "--id", "x", "c"]) == ["add", "--files", "a", "--files", "b", "--id", "x", "c"]
    assert expand_multi_values(["create", "--tags", "t", "--parents", "p1", "p2"]) == \
        ["create", "--tags", "t", "--parents", "p1", "--parents", "p2"]
    assert expand_multi_values(["get", "--files=a", "b", "--", "--files", "c", "d"]) == ["get", "--files=a", "b", "--", "--files", "c", "d"]


def test_render_graph_branches_and_merges() -> None:
    # m merges b1 and b2, which both branch from r; x is an unrelated root
    nodes = [("m", ["b1", "b2"], "m"), ("b2", ["r"], "b2"), ("b1", ["r"], "b1"), ("r", [], "r"), ("x", [], "x")]
    assert render_graph(nodes) == ["* m", "|\\", "| * b2", "* | b1", "|/", "* r", "* x"]
    # a root in the left lane while another lane continues: the lane shifts left
    assert render_graph([("c", ["a", "b"], "c"), ("a", [], "a"), ("b", [], "b")]) == ["* c", "|\\", "* | a", " /", "* b"]


def test_redact_url() -> None:
    assert redact_url("s3://bucket/path") == "s3://bucket/path"
    assert redact_url("sftp://u:pw@h/p") == "sftp://u:***@h/p"
    assert redact_url("az://c/p?sas_token=abc&x=1") == "az://c/p?sas_token=***&x=1"
