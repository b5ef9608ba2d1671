"""Tables as their users hand them over: SeeMe's tabular export (a CSV plus ``config.json``
with ``multi_label``, ``label_column``, ``split_column``, ``label_separator``, ``filename``,
``csv_separator``, as docs.seeme.ai "Import Datasets / Tabular" describes it) on rows of
Fisher's iris data, and the same rows as TSV, Parquet and JSON lines."""

from __future__ import annotations

import json
from pathlib import Path

COLUMNS = ["sepal_length", "sepal_width", "petal_length", "petal_width"]
IRIS = [  # rows 1, 2, 51, 52, 101, 102 and 150 of the UCI iris data, with a split each
    (5.1, 3.5, 1.4, 0.2, "setosa", "train"),
    (4.9, 3.0, 1.4, 0.2, "setosa", "test"),
    (7.0, 3.2, 4.7, 1.4, "versicolor", "train"),
    (6.4, 3.2, 4.5, 1.5, "versicolor", "test"),
    (6.3, 3.3, 6.0, 2.5, "virginica", "train"),
    (5.8, 2.7, 5.1, 1.9, "virginica", "valid"),
    (5.9, 3.0, 5.1, 1.8, "virginica", "train"),
]


def seeme_tabular(folder: Path, sep: str = ",", label_column: str = "species", split_column: str = "split",
                  name: str = "iris.csv", multi_label: bool = False) -> Path:
    """``folder/iris.csv`` + ``folder/config.json`` as SeeMe exports a tabular dataset."""
    folder.mkdir(parents=True, exist_ok=True)
    lines = [sep.join(COLUMNS + [label_column, split_column])]
    lines += [sep.join(str(v) for v in row) for row in IRIS]
    (folder / name).write_text("\n".join(lines) + "\n", encoding="utf-8")
    config = {"multi_label": multi_label, "label_column": label_column, "split_column": split_column,
              "label_separator": ",", "filename": name, "csv_separator": sep}
    (folder / "config.json").write_text(json.dumps(config, indent=2), encoding="utf-8")
    return folder


def iris_records() -> list[dict[str, object]]:
    return [dict(zip(COLUMNS + ["species", "split"], row)) for row in IRIS]


def iris_parquet(path: Path) -> Path:
    import pyarrow as pa
    import pyarrow.parquet as pq

    path.parent.mkdir(parents=True, exist_ok=True)
    pq.write_table(pa.Table.from_pylist(iris_records()), str(path))
    return path


def iris_jsonl(path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps(r) + "\n" for r in iris_records()), encoding="utf-8")
    return path


def iris_version(tmp: Path):
    """A final tabular version of the SeeMe iris export (project ``tables``, name ``iris``)."""
    from dagstore import Dataset

    ds = Dataset.create("iris", "tables")
    ds.import_annotations(seeme_tabular(tmp / "iris"), "csv")
    ds.upload()
    ds.finalize()
    return ds
