"""`dagstore ui` as a subprocess on 127.0.0.1, started as a user would (the console script),
with the worktree's code first on PYTHONPATH; started, waited for and stopped by its own PID
with the servers.process helpers."""

from __future__ import annotations

import os
import subprocess
import sys
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

from servers.process import START_TIMEOUT, free_port, stop_process, wait_until

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
        """Stop it by its PID; its log."""
        stop_process(self.proc)
        return self.log.read_text(errors="replace")

    def answers(self) -> bool:
        """Serving (its stylesheet answers); RuntimeError if it exited."""
        if self.proc.poll() is not None:
            raise RuntimeError(f"dagstore ui exited with {self.proc.returncode}: {self.log.read_text(errors='replace')[-2000:]}")
        try:
            OPENER.open(f"{self.url}/static/ui.css", timeout=2).close()
        except (urllib.error.URLError, OSError):
            return False
        return True


def start_ui(store_url: str, cache_dir: str, log: Path, args: tuple[str, ...] = (), env: dict[str, str] | None = None,
             wait: bool = True, attempts: int = 3) -> Running:
    """Start ``dagstore ui --port N --store URL`` as a user would; wait until it answers (up to
    the servers' START_TIMEOUT: a loaded machine starts it slowly). Started again on another
    port when its free port was taken meanwhile (the free_port race)."""
    port = free_port()
    full_env = {**os.environ, "PYTHONPATH": str(REPO), "DAGSTORE_CACHE_DIR": cache_dir, **(env or {})}
    out = log.open("wb")
    proc = subprocess.Popen([str(DAGSTORE), "ui", "--port", str(port), "--store", store_url, *args], env=full_env,
                            stdout=out, stderr=subprocess.STDOUT)
    run = Running(f"http://127.0.0.1:{port}", proc, log, full_env)
    if wait:
        try:
            wait_until(run.answers, START_TIMEOUT, interval=0.1, what="dagstore ui to answer")
        except RuntimeError as exc:  # it exited
            if attempts > 1 and "address already in use" in str(exc).lower():
                return start_ui(store_url, cache_dir, log, args, env, wait, attempts - 1)
            raise
        except AssertionError:
            raise RuntimeError(f"dagstore ui did not answer in {START_TIMEOUT:.0f} s: {run.stop()[-2000:]}") from None
    return run
