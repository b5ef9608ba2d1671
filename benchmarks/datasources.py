"""Datasources benchmark: a generated 12-column PostgreSQL table into a version, beside pandas.

    python -m benchmarks.datasources [--rows 2000000] [--repeat 3] [--steps describe,compute,...]

Starts a PostgreSQL server (tests/servers/sql.py), generates the table, then runs each
step in its own child process (for its peak RSS), alternating the steps each round:

- ``dagstore create_from_datasource``: the table into a final version (data.parquet), stored;
- ``pandas read_sql + to_parquet``: the peer, same table, same query;
- ``stream once``: the datasource read into a local Parquet file, no version (the floor a
  no-change sync pays);
- ``dagstore sync_datasource (no change)``: an unchanged refresh (reads, hashes, no version);
- ``dagstore describe``: statistics of the version's Parquet (cache cleared each time);
- ``pyarrow compute pass``: the peer, the same Parquet read whole and each column's nulls,
  min/max, mean, std, distinct (and value counts for text) computed by pyarrow.compute
  (describe does more: histograms, correlations, sample rows);
- ``dagstore describe (CSV)`` and ``pyarrow compute pass (CSV)``: the same, on a version
  holding the same table as ``data.csv`` (written by pyarrow from the Parquet).

``--steps`` runs a subset (the setup is the same).

Medians over ``--repeat`` rounds; ratios are dagstore / peer (lower is better).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
TABLE = "bench_items"
STEPS = ["create", "pandas", "stream", "sync", "describe", "compute", "describe_csv", "compute_csv"]
NAMES = {"create": "dagstore create_from_datasource", "pandas": "pandas read_sql + to_parquet",
         "stream": "stream once (datasource -> local Parquet)", "sync": "dagstore sync_datasource, no change",
         "describe": "dagstore describe", "compute": "pyarrow compute pass",
         "describe_csv": "dagstore describe (CSV)", "compute_csv": "pyarrow compute pass (CSV)"}
RATIOS = [("create vs pandas (x faster)", "pandas", "create"), ("no-change sync / stream once", "sync", "stream"),
          ("describe / pyarrow compute", "describe", "compute"),
          ("describe / pyarrow compute (CSV)", "describe_csv", "compute_csv")]

GENERATE = f"""
CREATE TABLE {TABLE} AS SELECT
  i AS id,
  (i::bigint * 7919) % 100000 AS customer,
  i::bigint * 1000003 AS big,
  random() AS score,
  (random() * 10000)::numeric(12, 2) AS amount,
  'name-' || (i % 50000) AS name,
  md5(i::text) AS digest,
  timestamptz '2024-01-01 00:00+00' + (i || ' seconds')::interval AS seen,
  date '2020-01-01' + (i % 2000) AS day,
  (i % 3 = 0) AS flag,
  (i % 17)::smallint AS bucket,
  CASE WHEN i % 10 = 0 THEN NULL ELSE random()::real END AS ratio
FROM generate_series(1, ROWS) i;
ALTER TABLE {TABLE} ADD PRIMARY KEY (id);
ANALYZE {TABLE};
"""


def child(step: str, env: dict[str, str]) -> dict[str, Any]:
    """Run one step in a fresh interpreter; returns {"op": seconds, "rss_mb": peak, ...}."""
    out = subprocess.run([sys.executable, "-m", "benchmarks.datasources", "--child", step], cwd=REPO,
                         env={**os.environ, **env}, capture_output=True, text=True, timeout=3600)
    if out.returncode:
        raise RuntimeError(f"{step} failed:\n{out.stdout[-2000:]}\n{out.stderr[-3000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def _cpu() -> float:
    """CPU seconds of this process, all threads (steadier than wall time on a loaded machine)."""
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def _peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def run_child(step: str) -> None:
    """The child side: imports first (not timed), then the operation alone."""
    import pyarrow.compute  # noqa: F401
    import pyarrow.csv as pcsv
    import pyarrow.parquet as pq
    import sqlalchemy  # noqa: F401

    from dagstore import Dataset, Store

    st = Store(os.environ["BENCH_STORE"])
    work = Path(os.environ["BENCH_WORK"])
    info: dict[str, Any] = {}
    cpu0 = _cpu()
    t0 = time.perf_counter()
    if step == "create":
        ds = Dataset.create_from_datasource("items", f"items-{time.time_ns()}", dataset_project="bench", store=st)
        info["rows"] = ds.get_metadata("datasource")["rows"]
        info["bytes"] = ds.file_entries_dict["data.parquet"].size
    elif step == "pandas":
        import pandas as pd
        import sqlalchemy as sa

        eng = sa.create_engine(os.environ["BENCH_PG_URL"])
        df = pd.read_sql(f"SELECT * FROM {TABLE}", eng)
        df.to_parquet(work / "pandas.parquet")
        eng.dispose()
        info["rows"] = len(df)
        info["bytes"] = (work / "pandas.parquet").stat().st_size
    elif step == "stream":
        folder = tempfile.mkdtemp(dir=work)
        fetched = st.datasources.fetch(st.datasources.get("items"), folder)
        info["rows"] = fetched.rows
        shutil.rmtree(folder)
    elif step == "sync":
        before = Dataset.get(dataset_project="bench", dataset_name="items", store=st).id
        ds = Dataset.sync_datasource("items", "items", dataset_project="bench", store=st)
        info["unchanged"] = ds.id == before
    elif step == "describe":
        ds = Dataset.get(dataset_project="bench", dataset_name="items", store=st)
        d = ds.describe()
        info["rows"] = d["rows"]
    elif step in ("describe_csv", "compute_csv"):
        ds = Dataset.get(dataset_project="bench", dataset_name="items-csv", store=st)
        if step == "describe_csv":
            info["rows"] = ds.describe()["rows"]
        else:
            with ds.open("data.csv") as f:
                info["rows"] = compute_pass(pcsv.read_csv(f))
    elif step == "compute":
        ds = Dataset.get(dataset_project="bench", dataset_name="items", store=st)
        with ds.open("data.parquet") as f:
            info["rows"] = compute_pass(pq.read_table(f))
    else:
        raise SystemExit(f"unknown step {step}")
    info["op"] = time.perf_counter() - t0
    info["cpu"] = _cpu() - cpu0
    info["rss_mb"] = round(_peak_mb(), 1)
    print(json.dumps(info))


def compute_pass(t: Any) -> int:
    """The peer of describe: each column's statistics by pyarrow.compute over the whole table."""
    import pyarrow
    import pyarrow.compute as pc

    for col in t.columns:
            col.null_count
            pc.min_max(col)
            pc.count_distinct(col)
            if pyarrow.types.is_integer(col.type) or pyarrow.types.is_floating(col.type) or pyarrow.types.is_decimal(col.type):
                x = pc.cast(col, pyarrow.float64())
                pc.mean(x)
                pc.stddev(x, ddof=1)
            else:
                pc.value_counts(col)
    return int(t.num_rows)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rows", type=int, default=2_000_000)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--steps", default=",".join(STEPS), help="comma-separated subset of: " + ", ".join(STEPS))
    ap.add_argument("--child")
    args = ap.parse_args()
    if args.child:
        run_child(args.child)
        return
    sys.path.insert(0, str(REPO / "tests"))
    from servers.sql import start_postgres

    from dagstore import Dataset, Store
    from dagstore.connectors.sql import run_sql

    work = Path(tempfile.mkdtemp(prefix="dagstore-bench-ds-"))
    pg = start_postgres()
    try:
        env = {"BENCH_STORE": str(work / "store"), "BENCH_WORK": str(work), "DAGSTORE_CACHE_DIR": str(work / "cache"),
               "BENCH_PGPASSWORD": pg.info["password"],
               "BENCH_PG_URL": pg.info["url"].replace("postgres@", f"postgres:{pg.info['password']}@"),
               "DAGSTORE_QUIET": "1"}
        os.environ.update({k: env[k] for k in ("BENCH_PGPASSWORD", "DAGSTORE_CACHE_DIR")})
        st = Store(env["BENCH_STORE"])
        conn = st.connectors.create("pg", "sql", url=pg.info["url"], password="${BENCH_PGPASSWORD}")
        t0 = time.perf_counter()
        with conn.engine() as eng, eng.begin() as c:
            for stmt in GENERATE.replace("ROWS", str(args.rows)).split(";"):
                if stmt.strip():
                    run_sql(c, stmt)
        print(f"generated {args.rows:,} rows x 12 columns in {time.perf_counter() - t0:.1f} s", flush=True)
        st.datasources.create("items", "pg", table=TABLE)
        Dataset.create_from_datasource("items", "items", dataset_project="bench", store=st)  # the one sync/describe use
        steps = [x for x in STEPS if x in args.steps.split(",")]
        if {"describe_csv", "compute_csv"} & set(steps):
            csv_version(st, work)
        got: dict[str, list[dict[str, Any]]] = {s: [] for s in steps}
        for r in range(args.repeat):
            for s in steps if r % 2 == 0 else list(reversed(steps)):
                if s.startswith("describe"):
                    shutil.rmtree(work / "cache" / "meta" / "describe", ignore_errors=True)
                got[s].append(child(s, env))
                print(f"  round {r + 1} {s}: {got[s][-1]['op']:.2f} s (CPU {got[s][-1]['cpu']:.2f} s), "
                      f"peak RSS {got[s][-1]['rss_mb']:.0f} MB", flush=True)
        report(args, got)
    finally:
        pg.stop()
        shutil.rmtree(work, ignore_errors=True)


def csv_version(st: Any, work: Path) -> None:
    """A version ``items-csv`` holding the datasource's table as ``data.csv``."""
    import pyarrow.csv as pcsv
    import pyarrow.parquet as pq

    from dagstore import Dataset

    src = Dataset.get(dataset_project="bench", dataset_name="items", store=st)
    folder = work / "csv"
    folder.mkdir()
    with src.open("data.parquet") as f:
        pcsv.write_csv(pq.read_table(f), folder / "data.csv")
    ds = Dataset.create("items-csv", dataset_project="bench", store=st)
    ds.add_files(str(folder))
    ds.finalize(auto_upload=True)
    print(f"data.csv: {(folder / 'data.csv').stat().st_size / 1e6:.0f} MB", flush=True)
    shutil.rmtree(folder)


def report(args: Any, got: dict[str, list[dict[str, Any]]]) -> None:
    """Medians, peak RSS and the ratios of the steps that ran."""
    med = {s: statistics.median(x["op"] for x in v) for s, v in got.items()}
    cpu = {s: statistics.median(x["cpu"] for x in v) for s, v in got.items()}
    rss = {s: max(x["rss_mb"] for x in v) for s, v in got.items()}
    assert all(x["unchanged"] for x in got.get("sync", [])), "a no-change sync made a new version"
    print(f"\n{args.rows:,} rows x 12 columns, median of {args.repeat} (peak RSS = max over rounds), "
          f"load average {os.getloadavg()[0]:.1f}")
    for s in got:
        print(f"  {NAMES[s]:45s} {med[s]:8.2f} s  CPU {cpu[s]:6.2f} s  peak RSS {rss[s]:6.0f} MB  (all: "
              f"{', '.join('%.2f' % x['op'] for x in got[s])})")
    for label, a, b in RATIOS:
        if a in med and b in med:
            print(f"  {label}: {med[a] / med[b]:.2f}x (CPU {cpu[a] / cpu[b]:.2f}x)")
    print(json.dumps({"rows": args.rows, "median_s": med, "cpu_s": cpu, "peak_rss_mb": rss}))


if __name__ == "__main__":
    main()
