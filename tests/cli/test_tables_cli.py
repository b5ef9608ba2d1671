"""Issue 20 §1 on the command line: `add-zip --only-images`, `search --origin`, `describe` in
the terminal, run as the installed `dagstore`."""

from __future__ import annotations

import io
import zipfile
from pathlib import Path

from PIL import Image

from test_cli import dag, fails


def _png() -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", (4, 3), (1, 2, 3)).save(buf, "PNG")
    return buf.getvalue()


def test_add_zip_only_images_and_search_by_origin(tmp_path: Path) -> None:
    good, bad = tmp_path / "imgs.zip", tmp_path / "mixed.zip"
    with zipfile.ZipFile(good, "w") as z:
        z.writestr("a/1.png", _png())
        z.writestr("b/2.png", _png())
    with zipfile.ZipFile(bad, "w") as z:
        z.writestr("a/1.png", _png())
        z.writestr("notes.png", b"not an image at all")
    draft = dag("--json", "create", "--project", "p", "--name", "zipped").json()["id"]
    fails("add-zip", "--id", draft, "--only-images", bad, message="notes.png is not an image")
    assert "added 2 files" in dag("add-zip", "--id", draft, "--only-images", "--dataset-folder", "imgs", good).out
    dag("close", "--id", draft)
    dag("create", "--project", "p", "--name", "plain")
    (tmp_path / "f").mkdir()
    (tmp_path / "f/x.txt").write_text("x")
    dag("add", "--files", tmp_path / "f")
    dag("close")
    zipped = dag("--json", "search", "--origin", "zip").json()
    assert [(d["name"], d["origin"]) for d in zipped] == [("zipped", "zip")]
    assert dag("--json", "get", "--id", zipped[0]["id"]).json()  # the version holds the images
    rows = dag("search").out.splitlines()
    assert "ORIGIN" in rows[0] and any("upload" in r.split() for r in rows) and any("zip" in r.split() for r in rows), rows
    fails("search", "--origin", "ftp", message="invalid origin 'ftp'")


def test_describe_in_the_terminal_shows_distributions_correlation_and_sample(tmp_path: Path) -> None:
    src = tmp_path / "src"
    src.mkdir()
    (src / "w.csv").write_text("city;temp;rain;weather\nParis;12,5;0,2;wet\nLyon;9,0;1,5;dry\nNice;20,25;0,0;dry\n")
    draft = dag("--json", "create", "--project", "t", "--name", "weather").json()["id"]
    dag("add", "--id", draft, "--files", src)
    dag("close", "--id", draft)
    out = dag("describe", "--id", draft).out
    assert out.splitlines()[0] == "3 rows, 4 columns (separator ';', decimal ',', guessed)"
    assert "DISTRIBUTION" in out and "dry:2" in out and any(ch in out for ch in "▁▂▃▄▅▆▇█")
    assert "correlation (Pearson)" in out and "first 3 rows" in out and "Paris" in out and "12.5" in out
    forced = dag("--json", "describe", "--id", draft, "--separator", ";", "--decimal", ".").json()
    assert forced["dialect"] == {"separator": ";", "decimal": ".", "guessed": False}
    fails("describe", "--id", draft, "--separator", ":", message="separator ':' is not one of")
