"""Ctrl-C in the middle of ``dagstore upload`` (a real SIGINT once its first pack is stored):
one line on stderr, exit status 130, no traceback; the store verifies, and ``close`` then
finishes the same draft with the source's files."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from servers import Children, wait_until  # noqa: E402


def _cli(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    code = "import sys; from dagstore.cli import main; sys.exit(main())"
    return subprocess.run([sys.executable, "-c", code, *args], env={**os.environ, **env}, capture_output=True, text=True, timeout=120)


def test_ctrl_c_mid_upload_is_one_line_and_the_draft_closes_after(tmp_path: Path) -> None:
    src = tmp_path / "src"
    for i in range(24):
        (src / f"d{i % 3}").mkdir(parents=True, exist_ok=True)
        (src / f"d{i % 3}" / f"f{i}.bin").write_bytes(os.urandom(200_000))
    env = {"DAGSTORE_URL": str(tmp_path / "store"), "DAGSTORE_CACHE_DIR": str(tmp_path / "cache")}
    for args in (["create", "--name", "ds"], ["add", "--files", str(src)]):
        assert _cli(env, "-q", *args).returncode == 0
    (tmp_path / "logs").mkdir()
    kids = Children(tmp_path / "logs", env)
    paused, resume = str(tmp_path / "paused"), str(tmp_path / "resume")
    try:
        up = kids.start("upload", f"""
        from dagstore.cli import main
        from dagstore.core.packs import PackWriter
        pause_at(PackWriter, "_commit", lambda *a: True, {paused!r}, {resume!r})
        sys.exit(main(["-q", "upload", "--chunk-size", "1"]))
        """)
        wait_until(lambda: os.path.exists(paused) or not up.alive(), 60, what="upload to store its first pack")
        assert up.alive(), up.stderr()[-2000:]
        os.kill(up.proc.pid, signal.SIGINT)
        Path(resume).touch()
        code = up.wait()
        err = up.stderr()
    finally:
        kids.close()
    assert (code, err.strip().splitlines()) == (130, ["dagstore: error: interrupted"])
    verify = _cli(env, "verify", "--store")
    assert verify.returncode == 0, verify.stdout + verify.stderr
    assert _cli(env, "-q", "close").returncode == 0
    got = _cli(env, "--json", "get", "--name", "ds")
    folder = Path(json.loads(got.stdout)["path"])
    assert {p.relative_to(folder): p.read_bytes() for p in folder.rglob("*.bin")} == {p.relative_to(src): p.read_bytes() for p in src.rglob("*.bin")}
