"""Timing primitives: run a command as a child, time it, read its peak RSS; reset caches."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any


class MeasureError(RuntimeError):
    """A measured command failed; the message carries the tail of its output."""


@dataclass
class Sample:
    """One measured run: wall time of the child, optional in-process op time, peak RSS, and the
    CPU seconds (user + system) of the child and its descendants: steadier than times on a loaded machine."""

    wall: float
    op: float | None = None
    rss_mb: float | None = None
    cpu: float | None = None
    info: dict[str, Any] = field(default_factory=dict)

    @property
    def value(self) -> float:
        """The figure that counts: the in-process op time when the child reported one."""
        return self.op if self.op is not None else self.wall


_drop_warned = False


def drop_caches() -> bool:
    """``sync; echo 3 > /proc/sys/vm/drop_caches``; warn once and go on if not permitted."""
    global _drop_warned
    os.sync()
    try:
        with open("/proc/sys/vm/drop_caches", "w") as f:
            f.write("3\n")
        return True
    except OSError as exc:
        if not _drop_warned:
            print(f"  [note] cannot drop page caches ({exc}); timings include cache effects", file=sys.stderr)
            _drop_warned = True
        return False


def can_drop_caches() -> bool:
    return os.access("/proc/sys/vm/drop_caches", os.W_OK)


def _read_all(files: list[str]) -> None:
    buf = bytearray(1 << 20)
    for p in files:
        try:
            with open(p, "rb", buffering=0) as f:
                while f.readinto(buf):
                    pass
        except OSError:
            pass


def warm(paths: Iterable[Path], threads: int = 16) -> None:
    """Read every file under ``paths`` once (in parallel: cold reads are latency-bound) so the
    measured step starts with a warm page cache."""
    files: list[str] = []
    for root in paths:
        if root.is_file():
            files.append(str(root))
        else:
            files.extend(os.path.join(d, n) for d, _, names in os.walk(root) for n in names)
    with ThreadPoolExecutor(threads) as pool:
        list(pool.map(_read_all, [files[i::threads] for i in range(threads)]))


_deleted_since_drop = True


def prepare(warm_paths: Iterable[Path] = (), *, cold: bool = False) -> None:
    """Settle the FS before a measurement, then warm its inputs.

    Page caches are dropped when many files were deleted since the last drop (creating files
    is then several times slower until a drop) or when ``cold`` is asked for; else only sync.
    """
    global _deleted_since_drop
    if cold or _deleted_since_drop:
        drop_caches()
        _deleted_since_drop = False
    else:
        os.sync()
    warm(warm_paths)


def rmtree(*paths: Path) -> None:
    """``rm -rf`` (much faster than shutil.rmtree on 50k files)."""
    global _deleted_since_drop
    existing = [str(p) for p in paths if os.path.lexists(p)]
    if existing:
        subprocess.run(["rm", "-rf", "--", *existing], check=True)
        _deleted_since_drop = True


def copytree(src: Path, dst: Path) -> None:
    """Untimed ``cp -r`` used to set up a measurement."""
    dst.parent.mkdir(parents=True, exist_ok=True)
    subprocess.run(["cp", "-r", "--", str(src), str(dst)], check=True)


def run_timed(
    cmd: Sequence[str],
    *,
    env: Mapping[str, str] | None = None,
    cwd: Path | None = None,
    json_out: bool = False,
) -> Sample:
    """Run ``cmd`` to completion; wall time, peak RSS (GNU time, else wait4), and, with ``json_out``, the
    last stdout line parsed as JSON (its ``seconds`` becomes the op time)."""
    full_env = dict(os.environ)
    if env:
        full_env.update(env)
    with tempfile.TemporaryDirectory() as tmp:
        rss_file = os.path.join(tmp, "rss")
        argv = [GNU_TIME, "-f", "%M", "-o", rss_file, *cmd] if GNU_TIME else list(cmd)
        with open(os.path.join(tmp, "out"), "w+b") as out, open(os.path.join(tmp, "err"), "w+b") as err:
            t0 = time.perf_counter()
            proc = subprocess.Popen(argv, env=full_env, cwd=cwd, stdout=out, stderr=err, stdin=subprocess.DEVNULL)
            _, status, usage = os.wait4(proc.pid, 0)
            wall = time.perf_counter() - t0
            proc.returncode = os.waitstatus_to_exitcode(status)
            out.seek(0)
            err.seek(0)
            stdout = out.read().decode(errors="replace")
            stderr = err.read().decode(errors="replace")
        rss_kib = _read_rss(rss_file) if GNU_TIME else usage.ru_maxrss
    if proc.returncode != 0:
        tail = "\n".join((stderr or stdout).strip().splitlines()[-15:])
        raise MeasureError(f"{' '.join(cmd[:4])}... exited {proc.returncode}:\n{tail}")
    sample = Sample(wall=wall, rss_mb=rss_kib / 1024 if rss_kib else None, cpu=usage.ru_utime + usage.ru_stime)
    if json_out:
        lines = [ln for ln in stdout.strip().splitlines() if ln.startswith("{")]
        if not lines:
            raise MeasureError(f"{' '.join(cmd[:4])}... printed no JSON result:\n{stdout[-2000:]}{stderr[-2000:]}")
        doc = json.loads(lines[-1])
        sample.op = doc.pop("seconds", None)
        sample.info = doc
    return sample


def which(name: str) -> str | None:
    return shutil.which(name)


def _gnu_time() -> str | None:
    """GNU time measures the peak RSS of a child it forks itself. Read via wait4 here, a
    child's peak would include this harness's own peak RSS, inherited through fork+exec."""
    path = shutil.which("time", path="/usr/bin:/bin")
    if not path:
        return None
    proc = subprocess.run([path, "--version"], capture_output=True, text=True)
    return path if "GNU" in proc.stdout + proc.stderr else None


def _read_rss(path: str) -> int | None:
    try:
        with open(path) as f:
            last = f.read().strip().splitlines()[-1]
        return int(last)
    except (OSError, ValueError, IndexError):
        return None


GNU_TIME = _gnu_time()
