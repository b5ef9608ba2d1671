"""Deliveries at scale: a selection of N sample ids to a webhook receiver and to Kafka (the
librdkafka mock cluster), beside one plain ``requests.post`` of the same JSON and one
confluent-kafka produce+flush of it; and an exporter run into PostgreSQL (overwrite) beside
``COPY … FROM STDIN`` of the same rows and ``pandas.DataFrame.to_sql``.

    python -m benchmarks.deliveries [--ids 1000000] [--rows 2000000] [--repeat 3] [--only post,kafka,sql]

Every case runs in its own child process (time of the operation, peak RSS of the child);
medians of ``--repeat`` rounds, cases alternating within a round. The receiver and the broker
are the test suite's, and so is PostgreSQL (tests/servers/: delivery.py, sql.py), started from
the system's binaries. Prints a table and one JSON line.
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

ROOT = Path(__file__).resolve().parent.parent
TESTS = ROOT / "tests"


def _ids(n: int) -> list[str]:
    return [f"train/c{i % 100:02d}/{i:07d}.jpg" for i in range(n)]


def _peak_mb() -> float:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


# ---------------------------------------------------------------- child cases
def _version(tmp: str) -> tuple[Any, Any]:
    from dagstore import Dataset, Store

    store = Store(os.path.join(tmp, "store"), cache_dir=os.path.join(tmp, "cache"))
    src = Path(tmp) / "src"
    src.mkdir()
    (src / "x.txt").write_text("x")
    ds = Dataset.create(dataset_name="bench", dataset_project="bench", store=store)
    ds.add_files(str(src))
    ds.upload(show_progress=False)
    ds.finalize()
    return store, ds


def case_dagstore(kind: str, target: str, n: int) -> dict[str, Any]:
    import confluent_kafka  # noqa: F401  imported before the clock, as in the baselines
    import requests  # noqa: F401

    from dagstore.delivery import ExportMethods, export_selection

    with tempfile.TemporaryDirectory() as tmp:
        store, ds = _version(tmp)
        spec = f"post, {target}/bench" if kind == "post" else f"kafka, {target}, bench_{time.time_ns()}"
        ExportMethods(store).create("bench", spec)
        ids = _ids(n)
        paths = frozenset(ids)  # stands for the version's dataset paths (its manifest is in memory)
        t0 = time.perf_counter()
        d = export_selection(store, ds.record, "bench", ids, "bench", known=lambda: paths)
        dt = time.perf_counter() - t0
        return {"seconds": dt, "parts": d.parts, "attempts": d.attempts}


def _plain_payload(n: int) -> dict[str, Any]:
    return {"origin": "dagstore", "type": "selection", "project_id": "bench", "data_provider_id": "x",
            "dataset_id": "x", "dataset_name": "bench", "dataset_version": "1.0.0", "selection_name": "bench",
            "date": "2026-12-01T12:00:00Z", "date_epoch": 0.0, "count": n, "sample_ids": [{"id": i} for i in _ids(n)]}


def case_requests(target: str, n: int, prebuilt: bool = False) -> dict[str, Any]:
    """``requests.post(json=payload)`` as a user writes it; ``prebuilt``: only the POST of
    bytes encoded before the clock starts (the transfer alone)."""
    import requests

    body = json.dumps(_plain_payload(n)).encode() if prebuilt else None
    t0 = time.perf_counter()
    if body is not None:
        r = requests.post(f"{target}/bench", data=body, headers={"Content-Type": "application/json"}, timeout=120)
    else:
        r = requests.post(f"{target}/bench", json=_plain_payload(n), timeout=120)
    dt = time.perf_counter() - t0
    r.raise_for_status()
    return {"seconds": dt, "bytes": int(r.request.headers["Content-Length"])}


def case_producer(bootstrap: str, n: int, prebuilt: bool = False) -> dict[str, Any]:
    from confluent_kafka import Producer

    body = json.dumps(_plain_payload(n)).encode() if prebuilt else b""
    t0 = time.perf_counter()
    body = body or json.dumps(_plain_payload(n)).encode()
    p = Producer({"bootstrap.servers": bootstrap, "acks": "all", "message.max.bytes": len(body) + (1 << 20),
                  "log_level": 0})
    errs: list[Any] = []
    p.produce(f"bench_{time.time_ns()}", value=body, on_delivery=lambda e, m: errs.append(e))
    left = p.flush(120)
    dt = time.perf_counter() - t0
    if left or errs != [None]:
        raise RuntimeError(f"baseline produce failed: {errs}")
    return {"seconds": dt, "bytes": len(body)}


def _make_parquet(path: str, rows: int) -> None:
    import numpy as np
    import pyarrow as pa
    import pyarrow.parquet as pq

    rng = np.random.default_rng(0)
    t = pa.table({"id": np.arange(rows, dtype=np.int64), "label": pa.array((rng.integers(0, 20, rows)).astype(str)),
                  "score": rng.random(rows), "width": rng.integers(16, 4096, rows, dtype=np.int32),
                  "path": pa.array([f"train/c{i % 100:02d}/{i:07d}.jpg" for i in range(rows)])})
    pq.write_table(t, path)


def case_sql_dagstore(pg_url: str, parquet: str) -> dict[str, Any]:
    from dagstore import Dataset, Store
    from dagstore.connectors import ConnectorRegistry
    from dagstore.delivery.exporters import Exporters

    with tempfile.TemporaryDirectory() as tmp:
        store = Store(os.path.join(tmp, "store"), cache_dir=os.path.join(tmp, "cache"))
        src = Path(tmp) / "src"
        src.mkdir()
        shutil.copy(parquet, src / "data.parquet")
        ds = Dataset.create(dataset_name="rows", dataset_project="bench", store=store)
        ds.add_files(str(src))
        ds.upload(show_progress=False)
        ds.finalize()
        ds.get_local_copy(show_progress=False)  # warm cache: the run measures the table write
        ConnectorRegistry(store).create("pg", "sql", url=pg_url)
        Exporters(store).create("to_pg", "pg", table="bench_rows", mode="overwrite")
        t0 = time.perf_counter()
        d = Exporters(store).run("to_pg", ds.id)
        return {"seconds": time.perf_counter() - t0, "rows": d.count}


def case_copy(pg_url: str, parquet: str) -> dict[str, Any]:
    """The physical reference: the same rows as CSV through one COPY FROM STDIN."""
    import psycopg
    import pyarrow.csv as pcsv
    import pyarrow.parquet as pq

    t = pq.read_table(parquet)
    conninfo = pg_url.replace("postgresql+psycopg://", "postgresql://")
    t0 = time.perf_counter()
    with psycopg.connect(conninfo) as conn:
        conn.execute("DROP TABLE IF EXISTS bench_copy")
        conn.execute("CREATE TABLE bench_copy (id BIGINT, label TEXT, score DOUBLE PRECISION, width INTEGER, path TEXT)")
        with conn.cursor().copy("COPY bench_copy FROM STDIN (FORMAT csv)") as copy:
            for batch in t.to_batches(max_chunksize=100_000):
                import io

                buf = io.BytesIO()
                pcsv.write_csv(batch, buf, pcsv.WriteOptions(include_header=False))
                copy.write(buf.getbuffer())
    return {"seconds": time.perf_counter() - t0, "rows": t.num_rows}


def case_pandas(pg_url: str, parquet: str) -> dict[str, Any]:
    import pandas as pd
    import sqlalchemy as sa

    df = pd.read_parquet(parquet)
    eng = sa.create_engine(pg_url)
    t0 = time.perf_counter()
    df.to_sql("bench_pandas", eng, if_exists="replace", index=False, chunksize=50_000)
    dt = time.perf_counter() - t0
    eng.dispose()
    return {"seconds": dt, "rows": len(df)}


def child(args: list[str]) -> None:
    case, rest = args[0], args[1:]
    if case == "dagstore":
        out = case_dagstore(rest[0], rest[1], int(rest[2]))
    elif case == "requests":
        out = case_requests(rest[0], int(rest[1]), rest[2:] == ["prebuilt"])
    elif case == "producer":
        out = case_producer(rest[0], int(rest[1]), rest[2:] == ["prebuilt"])
    elif case == "sql_dagstore":
        out = case_sql_dagstore(rest[0], rest[1])
    elif case == "copy":
        out = case_copy(rest[0], rest[1])
    elif case == "pandas":
        out = case_pandas(rest[0], rest[1])
    else:
        raise SystemExit(f"unknown case {case}")
    out["peak_rss_mb"] = round(_peak_mb(), 1)
    print(json.dumps(out))


# ---------------------------------------------------------------- servers
def _run(*args: str) -> dict[str, Any]:
    env = {**os.environ, "PYTHONPATH": f"{ROOT}{os.pathsep}{os.environ.get('PYTHONPATH', '')}"}
    out = subprocess.run([sys.executable, "-m", "benchmarks.deliveries", "--child", *args], capture_output=True,
                         text=True, cwd=ROOT, env=env, timeout=1800)
    if out.returncode:
        raise RuntimeError(f"case {args[0]} failed: {out.stderr[-1500:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def _median(samples: list[dict[str, Any]], key: str) -> float:
    return statistics.median(s[key] for s in samples)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--ids", type=int, default=1_000_000)
    ap.add_argument("--rows", type=int, default=2_000_000)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--only", default="post,kafka,sql")
    ap.add_argument("--child", nargs=argparse.REMAINDER)
    a = ap.parse_args()
    if a.child:
        child(a.child)
        return
    only = set(a.only.split(","))
    results: dict[str, list[dict[str, Any]]] = {}
    folder = tempfile.mkdtemp(prefix="bench-receiver-")
    sys.path.insert(0, str(TESTS))
    from servers.delivery import start_kafka, start_receiver
    from servers.sql import start_postgres

    servers: list[Any] = []
    try:
        rounds: list[list[tuple[str, tuple[str, ...]]]] = []
        plan: list[tuple[str, tuple[str, ...]]] = []
        if "post" in only:
            recv, url = start_receiver(folder)
            servers.append(recv)
            plan += [("post dagstore", ("dagstore", "post", url, str(a.ids))),
                     ("post requests.post", ("requests", url, str(a.ids))),
                     ("post requests (bytes)", ("requests", url, str(a.ids), "prebuilt"))]
        if "kafka" in only:
            broker, bootstrap = start_kafka()
            servers.append(broker)
            plan += [("kafka dagstore", ("dagstore", "kafka", bootstrap, str(a.ids))),
                     ("kafka produce+flush", ("producer", bootstrap, str(a.ids))),
                     ("kafka produce (bytes)", ("producer", bootstrap, str(a.ids), "prebuilt"))]
        if "sql" in only:
            pg = start_postgres(auth="trust")
            servers.append(pg)
            pg_url = pg.info["url"]
            parquet = os.path.join(folder, "rows.parquet")
            _make_parquet(parquet, a.rows)
            plan += [("sql dagstore exporter", ("sql_dagstore", pg_url, parquet)),
                     ("sql COPY FROM STDIN", ("copy", pg_url, parquet)),
                     ("sql pandas.to_sql", ("pandas", pg_url, parquet))]
        rounds = [plan] * a.repeat
        for r in rounds:
            for label, args in r:
                results.setdefault(label, []).append(_run(*args))
                for f in Path(folder).glob("*.body"):
                    f.unlink()
    finally:
        for srv in servers:
            srv.stop()
        shutil.rmtree(folder, ignore_errors=True)
    summary = {label: {"seconds": round(_median(s, "seconds"), 3), "peak_rss_mb": round(_median(s, "peak_rss_mb"), 1),
                       **{k: v for k, v in s[0].items() if k not in ("seconds", "peak_rss_mb")}}
               for label, s in results.items()}
    base = {"post dagstore": "post requests.post", "kafka dagstore": "kafka produce+flush",
            "sql dagstore exporter": "sql COPY FROM STDIN"}
    print(f"ids={a.ids} rows={a.rows} repeat={a.repeat} (medians; each case in its own process)")
    print(f"{'case':<26}{'seconds':>10}{'peak RSS MB':>14}{'ratio':>10}")
    print("(ratio: dagstore / the user-written baseline; '(bytes)' rows time only the transfer of a body encoded before the clock)")
    for label, s in summary.items():
        ref = base.get(label)
        ratio = f"{s['seconds'] / summary[ref]['seconds']:.2f}x" if ref in summary else ""
        print(f"{label:<26}{s['seconds']:>10.3f}{s['peak_rss_mb']:>14.1f}{ratio:>10}")
    if "sql pandas.to_sql" in summary and "sql dagstore exporter" in summary:
        print(f"pandas.to_sql / dagstore exporter: "
              f"{summary['sql pandas.to_sql']['seconds'] / summary['sql dagstore exporter']['seconds']:.1f}x")
    print(json.dumps({"ids": a.ids, "rows": a.rows, "repeat": a.repeat, "results": summary}))


if __name__ == "__main__":
    main()
