"""Pages 1-6 over HTTP (Starlette's TestClient on the real app and a real local store):
every route as HTML and JSON, pagination, filters, previews, diffs, 404s and escaping."""

from __future__ import annotations

from urllib.parse import quote

from starlette.testclient import TestClient

from dagstore.ui.catalog import project_id
from ui_world import XSS, World


def test_home_redirects_to_the_datasets(client: TestClient) -> None:
    r = client.get("/", follow_redirects=False)
    assert r.status_code == 302 and r.headers["location"] == "/datasets"


def test_datasets_page_lists_every_dataset_with_its_latest_version(client: TestClient, world: World) -> None:
    doc = client.get("/datasets.json").json()
    by = {d["title"]: d for d in doc["datasets"]}
    assert set(by) == {"vision/pets", "text/logs"}
    pets = by["vision/pets"]
    assert pets["latest_id"] == world.child and pets["status"] == "published" and pets["versions"] == 3
    assert pets["files"] == 16 and pets["tags"] == [] and pets["id"] == project_id("vision", "pets")
    html = client.get("/datasets").text
    assert "vision" in html and f'href="/datasets/{pets["id"]}"' in html and f'href="/versions/{world.child}"' in html


def test_datasets_search_and_filters(client: TestClient) -> None:
    assert [d["title"] for d in client.get("/datasets.json?q=LOG").json()["datasets"]] == ["text/logs"]
    assert [d["title"] for d in client.get("/datasets.json?q=vision").json()["datasets"]] == ["vision/pets"]
    assert [d["title"] for d in client.get("/datasets.json?tag=raw").json()["datasets"]] == ["text/logs"]
    assert [d["title"] for d in client.get("/datasets.json?status=published").json()["datasets"]] == ["vision/pets"]
    assert client.get("/datasets.json?origin=datasource").json()["datasets"] == []
    page = client.get("/datasets.json?size=25&page=9").json()
    assert page["page"] == 1 and page["pages"] == 1 and page["next"] is None


def test_dataset_page_has_versions_and_a_lineage_svg(client: TestClient, world: World) -> None:
    pid = project_id("vision", "pets")
    doc = client.get(f"/datasets/{pid}.json").json()
    assert [v["id"] for v in doc["versions_list"]] == [world.draft, world.child, world.first]
    assert [v["status"] for v in doc["versions_list"]] == ["draft", "published", "final"]
    assert [world.first, world.child] in doc["lineage"]["edges"] and [world.child, world.draft] in doc["lineage"]["edges"]
    html = client.get(f"/datasets/{pid}").text
    assert '<svg class="lineage"' in html and html.count("<circle") == 3
    assert "Pets &lt;em&gt;v1&lt;/em&gt;" in client.get(f"/versions/{world.first}").text
    assert client.get("/datasets/12345").status_code == 404
    assert client.get("/datasets/nope").status_code == 404


def test_version_page_shows_metadata_and_facets(client: TestClient, world: World) -> None:
    doc = client.get(f"/versions/{world.first}.json").json()
    assert doc["stats"]["files"] == 17 and doc["classes"] == ["cat", "dog", "bird"] and doc["status"] == "final"
    assert doc["splits"] == ["train", "test"]
    assert dict(doc["facets"]["split"]) == {"train": 8, "test": 4, "(none)": 5}
    assert dict(doc["facets"]["label"]) == {"cat": 4, "dog": 6, "bird": 6}
    html = client.get(f"/versions/{world.draft}").text
    assert "draft" in html and "finalized" in html
    assert client.get(f"/versions/{world.draft}/files").status_code == 409


def test_file_table_pages_sorts_and_searches_on_the_server(client: TestClient, world: World) -> None:
    base = f"/versions/{world.first}/files.json"
    first = client.get(base + "?size=25").json()
    assert first["total"] == 17 and len(first["files"]) == 17 and first["files"][0]["path"] == "docs/" + XSS
    assert [f["path"] for f in client.get(base + "?q=images/img_1").json()["files"]] == ["images/img_10.jpg", "images/img_11.jpg"]
    assert client.get(base + "?q=*.csv").json()["total"] == 1
    assert client.get(base + "?sort=-size&size=25").json()["files"][0]["path"] == "tables/data.parquet"
    assert client.get(base + "?split=test").json()["total"] == 4
    assert client.get(base + "?label=bird&annotated=yes").json()["total"] == 6
    assert client.get(base + "?annotated=no").json()["total"] == 5
    two = client.get(f"/versions/{world.first}/grid.json?size=25&kind=image").json()
    assert two["total"] == 12 and two["files"][1]["overlay"]["shapes"][1]["type"] == "polygon"
    assert two["files"][2]["overlay"]["shapes"][1]["type"] == "keypoints"


def test_pagination_never_sends_more_than_a_page(client: TestClient, world: World) -> None:
    p1 = client.get(f"/versions/{world.first}/files.json?size=25&page=1&kind=image").json()
    assert p1["pages"] == 1
    assert client.get(f"/versions/{world.first}/files.json?size=100000").json()["size"] == 50  # never more than a page
    r = client.get(f"/versions/{world.first}/files.json?size=3&kind=image")  # 3 is no page size: the default
    assert len(r.json()["files"]) == 12
    html = client.get(f"/versions/{world.first}/grid?kind=image").text
    assert html.count('class="cell"') == 12 and "/thumb?path=images/img_00.jpg" in html


def test_facet_counts_follow_the_filter_but_not_their_own(client: TestClient, world: World) -> None:
    fac = client.get(f"/versions/{world.first}/files.json?split=test").json()["facets"]
    assert dict(fac["split"]) == {"train": 8, "test": 4, "(none)": 5}  # its own filter left out
    assert dict(fac["label"]) == {"cat": 1, "dog": 2, "bird": 3} and fac["total"] == 4


def test_previews_text_json_csv_image_and_thumbnail(client: TestClient, world: World) -> None:
    v = f"/versions/{world.first}"
    assert "hello dagstore" in client.get(f"{v}/preview?path=docs/readme.txt").text
    j = client.get(f"{v}/preview.json?path=docs/meta.json").json()
    assert j["content"]["mode"] == "json" and '"&lt;i&gt;' not in j["content"]["text"]
    assert "&lt;i&gt;x&lt;/i&gt;" in client.get(f"{v}/preview?path=docs/meta.json").text
    csv = client.get(f"{v}/preview.json?path=tables/scores.csv").json()["content"]
    assert csv["header"] == ["id", "score", "name"] and len(csv["rows"]) == 20
    page = client.get(f"{v}/preview?path=images/img_01.jpg").text
    assert '<svg class="overlay" viewBox="0 0 64 48"' in page and "<polygon" in page
    t = client.get(f"{v}/thumb?path=images/img_01.jpg")
    assert t.status_code == 200 and t.headers["content-type"] == "image/jpeg" and t.content[:2] == b"\xff\xd8"
    assert client.get(f"{v}/thumb?path=images/img_01.jpg", headers={"If-None-Match": t.headers["etag"]}).status_code == 304
    raw = client.get(f"{v}/raw?path=images/img_01.jpg")
    assert raw.headers["content-type"] == "image/jpeg" and raw.headers["content-disposition"].startswith("inline")


def test_raw_never_serves_active_content_inline(client: TestClient, world: World) -> None:
    r = client.get(f"/versions/{world.first}/raw?path={quote('docs/' + XSS)}")
    assert r.status_code == 200 and r.content == b"<b>not bold</b>"
    assert r.headers["content-type"] == "application/octet-stream" and r.headers["content-disposition"].startswith("attachment")
    assert "sandbox" in r.headers["content-security-policy"]


def test_describe_page_of_a_parquet_file(client: TestClient, world: World) -> None:
    doc = client.get(f"/versions/{world.first}/describe.json?path=tables/data.parquet").json()
    assert doc["describe"]["rows"] == 50 and [c["name"] for c in doc["describe"]["columns"]] == ["x", "y", "tag"]
    html = client.get(f"/versions/{world.first}/describe?path=tables/data.parquet").text
    assert 'id="correlation"' in html and 'class="hist"' in html and 'id="sample"' in html


def test_diff_against_the_parent_and_any_version(client: TestClient, world: World) -> None:
    d = client.get(f"/versions/{world.child}/diff.json").json()["diff"]
    assert d["removed"] == {"count": 1, "paths": ["docs/readme.txt"]}
    assert d["modified"]["paths"] == ["images/img_03.jpg"] and d["annotation_only"]["paths"] == ["images/img_03.jpg"]
    assert {x["value"]: x["delta"] for x in d["classes"]} == {"cat": -1, "dog": 1}
    back = client.get(f"/versions/{world.first}/diff.json?against={world.child}").json()["diff"]
    assert back["added"]["paths"] == ["docs/readme.txt"]
    assert "1 removed" in client.get(f"/versions/{world.child}/diff").text


def test_unknown_ids_and_paths_are_404_pages_never_tracebacks(client: TestClient, world: World) -> None:
    for url in ("/versions/xyz", "/versions/" + "0" * 32, f"/versions/{world.first}/preview?path=nope.txt",
                f"/versions/{world.first}/preview?path=../../etc/passwd", f"/versions/{world.first}/raw?path=/etc/passwd",
                f"/versions/{world.first}/diff?against=" + "1" * 32, "/nothing/here"):
        r = client.get(url)
        assert r.status_code == 404, url
        assert "Traceback" not in r.text and "<h1>Not found</h1>" in r.text
    assert client.get("/versions/xyz.json").json()["detail"].startswith("no version")


def test_user_strings_are_escaped_everywhere(client: TestClient, world: World) -> None:
    for url in (f"/versions/{world.first}/files?size=25", f"/versions/{world.first}/grid?size=25",
                f"/versions/{world.first}/preview?path={quote('docs/' + XSS)}", f"/versions/{world.child}/diff",
                f"/versions/{world.first}/files?q={quote('<script>')}"):
        html = client.get(url).text
        assert "<script>alert" not in html and "<img src=x" not in html, url
    assert "&lt;script&gt;alert(" in client.get(f"/versions/{world.first}/files?size=25").text
