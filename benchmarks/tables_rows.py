"""Tables as rows (issue 20): a generated CSV of ``--rows`` rows x 6 columns (a label and a split
among them) imported as a tabular version, uploaded and finalized, then exported to CSV and
Parquet from a fresh process (a cold cache), beside pandas ``read_csv`` + ``to_parquet`` of the
same file in the same run.

    python -m benchmarks.tables_rows [--rows 100000] [--repeat 3]

Each measurement runs in its own child process; medians of ``--repeat`` runs are printed as JSON.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import textwrap
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

IMPORT = textwrap.dedent(
    """
    import json, sys, time
    from dagstore import Dataset, Store
    csv, store_dir = sys.argv[1], sys.argv[2]
    st = Store(store_dir, cache_dir=store_dir + "-cache")
    t0, c0 = time.perf_counter(), time.process_time()
    ds = Dataset.create("table", "bench", store=st)
    ds.import_annotations(csv, "csv", show_progress=False)
    t1, c1 = time.perf_counter(), time.process_time()
    ds.upload(show_progress=False)
    ds.finalize()
    t2, c2 = time.perf_counter(), time.process_time()
    print(json.dumps({"id": ds.id, "import_s": t1 - t0, "upload_finalize_s": t2 - t1, "total_s": t2 - t0,
                      "import_cpu_s": c1 - c0, "upload_finalize_cpu_s": c2 - c1, "total_cpu_s": c2 - c0}))
    """
)

EXPORT = textwrap.dedent(
    """
    import json, sys, time
    from dagstore import Dataset, Store
    store_dir, vid, fmt, out = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4]
    st = Store(store_dir, cache_dir=store_dir + "-cache")
    t0, c0 = time.perf_counter(), time.process_time()
    Dataset.get(dataset_id=vid, store=st).export(fmt, out)
    print(json.dumps({"s": time.perf_counter() - t0, "cpu_s": time.process_time() - c0}))
    """
)

PANDAS = textwrap.dedent(
    """
    import json, sys, time
    import pandas as pd
    csv, out = sys.argv[1], sys.argv[2]
    t0 = time.perf_counter()
    df = pd.read_csv(csv)
    t1 = time.perf_counter()
    df.to_parquet(out, compression="zstd")
    print(json.dumps({"read_csv_s": t1 - t0, "read_to_parquet_s": time.perf_counter() - t0}))
    """
)


def generate(path: Path, rows: int) -> None:
    """A CSV of ``rows`` rows: four data columns (int, float, text, date), a label and a split."""
    splits = ("train", "train", "train", "valid", "test")
    with open(path, "w") as f:
        f.write("id,value,name,day,label,split\n")
        for i in range(rows):
            f.write(f"{i},{(i * 7919) % 10007 / 13:.4f},item {i % 977},2024-0{1 + i % 9}-1{i % 10},"
                    f"class{i % 7},{splits[i % 5]}\n")


def _child(code: str, *args: str) -> dict:
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    out = subprocess.run([sys.executable, "-c", code, *args], capture_output=True, text=True, env=env, check=False)
    if out.returncode != 0:
        raise SystemExit(out.stderr)
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rows", type=int, default=100_000)
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()
    runs: dict[str, list[float]] = {}
    with tempfile.TemporaryDirectory(prefix="dagstore-tables-rows-") as tmp:
        csv = Path(tmp, "table.csv")
        generate(csv, args.rows)
        for i in range(args.repeat):
            store = f"{tmp}/store{i}"
            got = _child(IMPORT, str(csv), store)
            for key in ("import_s", "upload_finalize_s", "total_s", "import_cpu_s", "upload_finalize_cpu_s", "total_cpu_s"):
                runs.setdefault(key, []).append(got[key])
            for fmt in ("CSV", "PARQUET"):
                ex = _child(EXPORT, store, got["id"], fmt, f"{tmp}/out{i}-{fmt}")
                runs.setdefault(f"export_{fmt.lower()}_s", []).append(ex["s"])
                runs.setdefault(f"export_{fmt.lower()}_cpu_s", []).append(ex["cpu_s"])
            pd = _child(PANDAS, str(csv), f"{tmp}/pandas{i}.parquet")
            for key, val in pd.items():
                runs.setdefault(f"pandas_{key}", []).append(val)
    med = {k: round(statistics.median(v), 3) for k, v in runs.items()}
    med["rows"] = args.rows
    med["load_1min"] = round(os.getloadavg()[0], 1)
    med["ratio_total_to_pandas"] = round(med["total_s"] / med["pandas_read_to_parquet_s"], 1)
    print(json.dumps(med, indent=1))


if __name__ == "__main__":
    main()
