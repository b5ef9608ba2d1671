"""Code-shape checks for ``dagstore/`` (issue #11), runnable by anyone with ``./dev test tests/project/test_code_shape.py``:
mypy is clean, no module is over 400 lines and no function over cyclomatic complexity 15,
unless the module says why in a ``# shape:`` comment (ruff's ``noqa: C901`` for a function)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PKG = ROOT / "dagstore"
MAX_LINES = 400
MAX_COMPLEXITY = 15


def test_mypy_is_clean() -> None:
    proc = subprocess.run([sys.executable, "-m", "mypy"], cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-2000:]
    assert (PKG / "py.typed").is_file()


def test_no_module_over_400_lines_without_a_reason() -> None:
    long = []
    for path in sorted(PKG.rglob("*.py")):
        text = path.read_text()
        if text.count("\n") > MAX_LINES and "# shape:" not in text:
            long.append(f"{path.relative_to(ROOT)}: {text.count(chr(10))} lines")
    assert not long, "split these modules or write a '# shape: <reason>' comment in them:\n" + "\n".join(long)


def test_no_function_over_complexity_15_without_a_reason() -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "ruff", "check", "--no-cache", "--isolated", "--select", "C901",
         "--config", f"lint.mccabe.max-complexity={MAX_COMPLEXITY}", "--output-format", "concise",
         str(PKG)],
        cwd=ROOT, capture_output=True, text=True, timeout=300,
    )
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-2000:]


def test_the_complexity_check_can_fail(tmp_path: Path) -> None:
    branches = "\n".join(f"    if x == {i}:\n        return {i}" for i in range(20))
    (tmp_path / "tangled.py").write_text(f"def f(x):\n{branches}\n    return -1\n")
    proc = subprocess.run(
        [sys.executable, "-m", "ruff", "check", "--no-cache", "--isolated", "--select", "C901",
         "--config", f"lint.mccabe.max-complexity={MAX_COMPLEXITY}", str(tmp_path)],
        capture_output=True, text=True, timeout=300,
    )
    assert proc.returncode == 1 and "C901" in proc.stdout
