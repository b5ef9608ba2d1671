"""End to end in a real headless Chromium (Debian's, driven by Playwright) against
`dagstore ui` started as a subprocess: one test per page at least, on a local store and on the
S3 test server. Each test saves the screenshot the user guide (docs/ui.md) shows."""

from __future__ import annotations

import io
import json
import re
import zipfile
from pathlib import Path
from typing import Any

import pytest

from playwright.sync_api import expect

from dagstore import Store
from dagstore.ui.catalog import project_id
from ui_server import Running, start_ui
from ui_world import World, build


# A click that navigates or fetches returns before the new content is there: every check after
# one goes through ``expect``, which retries until it holds (30 s, for a loaded CI machine).
expect.set_options(timeout=30_000)

IMAGES_LOADED = "() => [...document.querySelectorAll('#grid img')].every(i => i.complete && i.naturalWidth > 0)"


def until(page: Any, js: str, timeout: float = 30) -> None:
    """Poll a predicate in the page (the pages' CSP forbids wait_for_function's eval)."""
    import time

    deadline = time.monotonic() + timeout
    while not page.evaluate(js):
        assert time.monotonic() < deadline, js
        time.sleep(0.1)


def shot(page: Any, shots: Path, name: str) -> None:
    page.screenshot(path=str(shots / f"ui-{name}.png"), full_page=False)


def test_datasets_page_search_and_filter(page: Any, ui_server: Running, shots: Path) -> None:
    page.goto(f"{ui_server.url}/")
    assert page.locator("#datasets tbody tr").count() == 2
    shot(page, shots, "datasets")
    page.fill("input[name=q]", "log")
    page.click("form.filters button")
    page.wait_for_url(re.compile(r"q=log"))
    expect(page.locator("#datasets tbody tr")).to_have_count(1)
    expect(page.locator("#datasets")).to_contain_text("logs")
    page.select_option("select[name=status]", "final")
    page.click("form.filters button")
    page.wait_for_url(re.compile(r"status=final"))
    expect(page.locator("#datasets tbody tr")).to_have_count(1)
    page.goto(f"{ui_server.url}/datasets?tag=curated")
    assert "No dataset matches" in page.inner_text("#datasets")


def test_dataset_page_draws_the_lineage(page: Any, ui_server: Running, world: World, shots: Path) -> None:
    page.goto(f"{ui_server.url}/datasets")
    page.click("text=pets")
    expect(page.locator("#lineage circle")).to_have_count(3)
    expect(page.locator("#lineage path.edge")).to_have_count(2)
    expect(page.locator("#versions tbody tr")).to_have_count(3)
    shot(page, shots, "dataset")
    page.click(f"#versions a[href='/versions/{world.child}']")
    expect(page.locator("h1")).to_contain_text("1.0.1")
    expect(page.locator("h1")).to_contain_text("published")


def test_version_page_and_diff(page: Any, ui_server: Running, world: World, shots: Path) -> None:
    page.goto(f"{ui_server.url}/versions/{world.child}")
    shot(page, shots, "version")
    page.click("a.button:has-text('Diff')")
    expect(page.locator("#diff-summary")).to_contain_text("0 added, 1 removed, 1 modified")
    expect(page.locator(".diff-removed")).to_contain_text("docs/readme.txt")
    expect(page.locator("#class-deltas")).to_contain_text("+1")
    shot(page, shots, "diff")


def test_grid_previews_with_overlays_and_facets(page: Any, ui_server: Running, world: World, shots: Path) -> None:
    page.goto(f"{ui_server.url}/versions/{world.first}/grid?kind=image")
    until(page, IMAGES_LOADED)
    assert page.locator("#grid figure").count() == 12 and page.locator("#grid svg.overlay rect").count() == 12
    assert page.locator("#grid svg.overlay polygon").count() == 3 and page.locator("#grid svg.overlay circle").count() == 6
    width = page.eval_on_selector("[data-facet=label] .bar", "e => e.style.width")
    assert width.endswith("%") and width != "0%"
    shot(page, shots, "grid")
    page.click("[data-facet=split] a:has-text('test')")
    page.wait_for_url(re.compile(r"split=test"))
    expect(page.locator("#grid figure")).to_have_count(4)
    page.click("[data-facet=label] a:has-text('bird')")
    expect(page.locator("#grid figure")).to_have_count(3)
    page.click("[data-facet=label] li.on a")  # clicking the active value clears it
    expect(page.locator("#grid figure")).to_have_count(4)
    page.click("#grid figure >> nth=1")
    page.wait_for_url(re.compile(r"/preview\?path=images"))
    until(page, "() => document.querySelector('#preview img').naturalWidth === 64")
    assert page.locator("#preview svg.overlay rect").count() >= 1
    shot(page, shots, "preview")


def test_file_table_search_sort_and_text_preview(page: Any, ui_server: Running, world: World, shots: Path) -> None:
    page.goto(f"{ui_server.url}/versions/{world.first}/files")
    page.fill("input[name=q]", "*.csv")
    page.click("form.filters button")
    page.wait_for_url(re.compile(r"q=%2A\.csv|q=\*\.csv"))
    expect(page.locator("#files tbody tr")).to_have_count(1)
    page.click("#files a")
    expect(page.locator("#preview th")).to_have_text(["id", "score", "name"])
    page.goto(f"{ui_server.url}/versions/{world.first}/files?sort=-size")
    assert page.locator("#files tbody tr >> nth=0").inner_text().startswith("\ttables/data.parquet") or \
        "tables/data.parquet" in page.locator("#files tbody tr >> nth=0").inner_text()
    shot(page, shots, "files")
    xss = page.locator("#files a", has_text="<script>")
    assert xss.count() == 1 and page.evaluate("window.__xss === undefined")
    xss.click()
    expect(page.locator("#preview")).to_contain_text("<b>not bold</b>")
    assert page.locator("#preview b").count() == 0


def test_describe_page_of_a_table(page: Any, ui_server: Running, world: World, shots: Path) -> None:
    page.goto(f"{ui_server.url}/versions/{world.first}/preview?path=tables/data.parquet")
    page.click("text=Describe table")
    expect(page.locator("#columns tbody tr")).to_have_count(3)
    page.wait_for_load_state("load")
    assert page.locator("#correlation td.h5").count() >= 2
    assert page.locator("svg.hist rect").count() >= 10 and page.locator("#sample tbody tr").count() == 5
    shot(page, shots, "describe")


def test_export_dialog_job_progress_and_download(page: Any, ui_server: Running, world: World, shots: Path) -> None:
    page.goto(f"{ui_server.url}/versions/{world.first}/grid?split=train&q=images/")
    page.click("text=Export these…")
    page.select_option("select[name=format]", "COCO")
    page.fill("input[name=snapshot]", "browser-train")
    shot(page, shots, "export")
    page.click("#export-form button[type=submit]")
    page.wait_for_url(re.compile(r"/exports/[0-9a-f]{32}$"))
    until(page, "() => !document.querySelector('.job-download').hidden || !document.querySelector('.job-error').hidden", 90)
    assert "completed 8/8" in page.inner_text(".job-status"), page.inner_text("#job")  # polled live by ui.js
    link = page.locator(".job-download")
    shot(page, shots, "job")
    with page.expect_download() as dl:
        link.click()
    z = zipfile.ZipFile(io.BytesIO(Path(dl.value.path()).read_bytes()))
    coco = json.loads(z.read("annotations/train.json"))
    assert len(coco["images"]) == 8 and {c["name"] for c in coco["categories"]} == {"cat", "dog", "bird"}
    page.goto(f"{ui_server.url}/exports")
    assert "browser-train" in page.inner_text("#snapshots")


def test_selection_from_the_grid_reaches_the_webhook(page: Any, ui_server: Running, world: World, webhook, shots: Path) -> None:
    page.goto(f"{ui_server.url}/export-methods")
    page.fill("#create input[name=name]", "browser-hook")
    page.fill("#create input[name=spec]", f"post, {webhook.url}/labelling")
    page.click("#create button")
    expect(page.locator("#result")).to_contain_text("created")
    page.goto(f"{ui_server.url}/versions/{world.first}/grid?kind=image")
    page.check("#grid input[value='images/img_04.jpg']")
    page.check("#grid input[value='images/img_07.jpg']")
    page.fill("fieldset.send input[name=name]", "from the browser")
    page.select_option("fieldset.send select[name=method]", "browser-hook")
    shot(page, shots, "selection")
    page.click("fieldset.send button")
    expect(page.locator("#sent")).to_contain_text("delivered")
    got = [json.loads(r["body"]) for r in webhook.delivered()]
    assert [s["id"] for s in got[-1]["sample_ids"]] == ["images/img_04.jpg", "images/img_07.jpg"]
    page.goto(f"{ui_server.url}/deliveries")
    assert "from the browser" in page.inner_text("#deliveries")
    shot(page, shots, "deliveries")


def test_connectors_create_test_and_delete(page: Any, ui_server: Running, shots: Path, tmp_path: Path) -> None:
    import sqlite3

    db = tmp_path / "b.db"
    sqlite3.connect(db).close()
    page.goto(f"{ui_server.url}/connectors")
    page.fill("#create input[name=name]", "browser_db")
    page.select_option("#create select[name=type]", "sql")
    page.fill("#create textarea[name=spec]", f"url=sqlite:///{db}")
    page.click("#create button")
    expect(page.locator("#result")).to_contain_text("created")
    page.click("tr:has-text('browser_db') button:has-text('Test')")
    expect(page.locator("#result")).to_contain_text("test browser_db")  # the Test's page, not still the Create's
    expect(page.locator("#result.ok")).to_have_count(1)
    shot(page, shots, "connectors")
    page.once("dialog", lambda d: d.accept())
    page.click("tr:has-text('browser_db') button:has-text('Delete')")
    expect(page.locator("#result")).to_contain_text("deleted")
    expect(page.locator("#items")).not_to_contain_text("browser_db")
    page.goto(f"{ui_server.url}/datasources")
    assert page.locator("#create textarea[name=query]").count() == 1


@pytest.fixture(scope="module")
def s3_ui(s3_server: Any, tmp_path_factory: pytest.TempPathFactory) -> Any:
    root = tmp_path_factory.mktemp("ui-s3")
    url = s3_server.new_root()
    w = build(root, url, dict(s3_server.storage_options))
    run = start_ui(url, str(root / "server-cache"), root / "server.log", env=dict(s3_server.env))
    yield w, run
    run.stop()
    s3_server.remove_bucket(url)


def test_s3_store_pages_and_previews_from_packs(page: Any, s3_ui: Any, shots: Path) -> None:
    w, run = s3_ui
    page.goto(f"{run.url}/datasets")
    assert page.locator("#datasets tbody tr").count() == 2
    page.goto(f"{run.url}/versions/{w.first}/grid?kind=image")
    until(page, IMAGES_LOADED)
    assert page.locator("#grid figure").count() == 12
    page.goto(f"{run.url}/versions/{w.first}/preview?path=docs/readme.txt")
    assert "hello dagstore" in page.inner_text("#preview")
    page.goto(f"{run.url}/datasets/{project_id('vision', 'pets')}")
    assert page.locator("#lineage circle").count() == 3
    assert Store(w.url, storage_options=w.storage_options, cache_dir=w.cache_dir).list_exports() == []
