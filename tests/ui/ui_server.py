"""`dagstore ui` as a subprocess on 127.0.0.1, started as a user would (the console script),
with the worktree's code first on PYTHONPATH; stopped by its own PID."""

from __future__ import annotations

import os
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

from servers.process import free_port

SECRET = "pw-Zq8x-UI-SECRET-93kd"  # must never appear in any served byte or log line

REPO = Path(__file__).resolve().parents[2]
DAGSTORE = Path(sys.executable).with_name("dagstore")
OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}))


@dataclass
class Running:
    """A `dagstore ui` process: its base URL, its log file (stdout + stderr)."""

    url: str
    proc: subprocess.Popen[bytes]
    log: Path
    env: dict[str, str] = field(default_factory=dict)

    def stop(self) -> str:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)
        return self.log.read_text(errors="replace")


def start_ui(store_url: str, cache_dir: str, log: Path, args: tuple[str, ...] = (), env: dict[str, str] | None = None,
             wait: bool = True) -> Running:
    """Start ``dagstore ui --port N --store URL`` as a user would; wait until it answers."""
    port = free_port()
    full_env = {**os.environ, "PYTHONPATH": str(REPO), "DAGSTORE_CACHE_DIR": cache_dir, **(env or {})}
    out = log.open("wb")
    proc = subprocess.Popen([str(DAGSTORE), "ui", "--port", str(port), "--store", store_url, *args], env=full_env,
                            stdout=out, stderr=subprocess.STDOUT)
    run = Running(f"http://127.0.0.1:{port}", proc, log, full_env)
    deadline = time.monotonic() + 30
    while wait:
        if proc.poll() is not None:
            raise RuntimeError(f"dagstore ui exited with {proc.returncode}: {log.read_text(errors='replace')[-2000:]}")
        try:
            OPENER.open(f"{run.url}/static/ui.css", timeout=2).close()
            break
        except (urllib.error.URLError, OSError):
            if time.monotonic() > deadline:
                run.stop()
                raise RuntimeError(f"dagstore ui did not answer in 30 s: {log.read_text(errors='replace')[-2000:]}") from None
            time.sleep(0.1)
    return run
