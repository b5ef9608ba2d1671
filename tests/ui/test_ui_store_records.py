"""The UI's records in the store go through core's one registry of named records: its settings
(`ui/settings.json`) and its Label Studio exports (`ui/labelstudio/<project>/<pk>.json`), a bad
one skipped with a warning naming it. A Label Studio export's `finished_at`, and its `DELETE`,
which removes what Label Studio removes (the export and its converted files)."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from starlette.testclient import TestClient

from dagstore import Dataset, DatasetNotFoundError, FormatError, Store
from dagstore.export import jobs
from dagstore.ui import ls_exports
from dagstore.ui.catalog import project_id
from dagstore.ui.context import set_store_previews, store_settings
from servers import wait_until
from servers.children import PRELUDE
from ui_world import World


def _store(tmp_path: Path) -> Store:
    return Store(str(tmp_path / "store"), cache_dir=str(tmp_path / "cache"))


@pytest.mark.parametrize("bad", [b"{not json", b'{"previews": "no"}', b"[]"])
def test_a_bad_settings_record_is_warned_about_and_the_defaults_apply(tmp_path: Path, bad: bytes,
                                                                      caplog: pytest.LogCaptureFixture) -> None:
    st = _store(tmp_path)
    assert store_settings(st) == {"previews": True}  # never set
    set_store_previews(st, False)
    assert store_settings(st) == {"previews": False}
    st.backend.write("ui/settings.json", bad)
    assert store_settings(st) == {"previews": True}
    assert "ui/settings.json" in caplog.text
    set_store_previews(st, False)  # a bad record is replaced whole
    assert store_settings(st) == {"previews": False}


def test_a_bad_label_studio_export_record_hides_no_other(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    st, pid = _store(tmp_path), 1234
    good = ls_exports.claim(st, pid, {"title": "t", "created_at": "2026-01-01T00:00:00Z", "version_id": "a" * 32,
                                      "snapshot": "", "jobs": {}})
    st.backend.write(f"ui/labelstudio/{pid}/7.json", b'{"id": 7, "title": "no jobs"}')
    st.backend.write(f"ui/labelstudio/{pid}/8.json", b"{not json")
    assert [r["id"] for r in ls_exports.records(st, pid)] == [good["id"]]
    assert f"ui/labelstudio/{pid}/7.json" in caplog.text and f"ui/labelstudio/{pid}/8.json" in caplog.text
    with pytest.raises(FormatError, match=f"ui/labelstudio/{pid}/7.json"):
        ls_exports.record(st, pid, 7)
    assert ls_exports.claim(st, pid, dict(good))["id"] == 2  # the bad records keep their pks


def _done(client: TestClient, url: str) -> dict[str, object]:
    deadline = time.monotonic() + 60
    while (got := client.get(url).json())["status"] != "completed":
        assert got["status"] != "failed" and time.monotonic() < deadline, got
        time.sleep(0.3)
    return got


def test_an_export_has_finished_at_and_delete_removes_its_snapshot_jobs_and_files(client: TestClient,
                                                                                   world: World) -> None:
    pid = project_id("vision", "pets")
    made = client.post(f"/api/projects/{pid}/exports/", json={"title": "to delete"})
    assert made.status_code == 201 and made.json()["finished_at"] is None
    url = f"/api/projects/{pid}/exports/{made.json()['id']}"
    got = _done(client, url)
    assert isinstance(got["finished_at"], str) and got["finished_at"] >= got["created_at"]
    assert client.post(f"{url}/convert", json={"export_type": "CSV"}).status_code == 200
    st = world.store()
    rec = ls_exports.record(st, pid, int(made.json()["id"]))
    assert rec is not None and set(rec["jobs"]) == {"JSON", "CSV"}
    for job_id in rec["jobs"].values():
        st.get_export(job_id).wait(timeout=60)
    assert client.delete(url).status_code == 204
    assert client.get(url).status_code == 404
    with pytest.raises(DatasetNotFoundError):
        st.get_snapshot(rec["snapshot"])
    for job_id in rec["jobs"].values():
        with pytest.raises(DatasetNotFoundError):
            st.get_export(job_id)
        assert not st.backend.exists(f"exports/{job_id}.zip")
    assert client.delete(url).status_code == 404


def test_a_job_deleted_while_its_worker_runs_is_not_written_back(world: World, tmp_path: Path,
                                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    st = world.store()
    paused, resume = tmp_path / "paused", tmp_path / "resume"
    real_popen = subprocess.Popen

    def paused_worker(args: list[str], **kw: Any) -> subprocess.Popen[bytes]:
        """The real worker, stopped once its zip is built, before it stores anything: the delete
        lands while it runs, however fast or slow the machine is."""
        code = PRELUDE + f"""
from dagstore.cli import export_worker
from dagstore.export import jobs
pause_at(jobs, "export_view", lambda *a: True, {str(paused)!r}, {str(resume)!r})
sys.exit(export_worker.main())
"""
        return real_popen([sys.executable, "-c", code], **{**kw, "stderr": (tmp_path / "worker.err").open("wb")})

    monkeypatch.setattr(jobs.subprocess, "Popen", paused_worker)
    # the train images: all of world.child fails at once on a hostile file name (its worker would not run long)
    job = Dataset.get(dataset_id=world.first, store=st).create_export("COCO", splits=["train"], filters={"wildcard": ["images/*"]})
    monkeypatch.setattr(jobs.subprocess, "Popen", real_popen)
    worker = jobs._children[-1]
    wait_until(lambda: paused.exists() or worker.poll() is not None, 60, what="the worker to build its zip")
    assert worker.poll() is None, ((tmp_path / "worker.err").read_text(), job.refresh().status, job.error)
    assert job.refresh().status == "in_progress"
    st.delete_export(job.id)
    resume.touch()
    for proc in list(jobs._children):
        proc.wait(timeout=60)
    assert not st.backend.exists(f"exports/{job.id}.json") and not st.backend.exists(f"exports/{job.id}.zip")
    with pytest.raises(DatasetNotFoundError):
        st.delete_export(job.id)
