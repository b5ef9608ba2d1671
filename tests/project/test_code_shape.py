"""Code-shape checks for ``dagstore/`` (issues #11, #18), runnable by anyone with ``./dev test tests/project/test_code_shape.py``:
mypy is clean, no import or variable is unused, no module is over 400 lines and no function over cyclomatic complexity 15 (ruff's
mccabe) nor over 20 by radon (which also counts ``and``/``or``), unless the module says why in a
``# shape:`` comment, or the function's ``def`` line in a ``# noqa: C901 - <reason>`` comment."""

from __future__ import annotations

import ast
import re
import subprocess
import sys
from pathlib import Path

from radon.complexity import cc_visit

ROOT = Path(__file__).resolve().parents[2]
PKG = ROOT / "dagstore"
MAX_LINES = 400
MAX_COMPLEXITY = 15
MAX_RADON = 20
REASON = re.compile(r"#\s*noqa:\s*C901\s*[-:(]\s*\S.{9,}")  # noqa: C901 - <a reason of a few words>


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


def radon_over(source: str, limit: int = MAX_RADON) -> list[tuple[int, str, int]]:
    """(line, name, complexity) of each function or method over ``limit`` whose ``def`` line (or
    the line closing its signature) carries no ``# noqa: C901 - <reason>``."""
    lines = source.splitlines()
    defs = {n.lineno: n for n in ast.walk(ast.parse(source)) if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef))}
    out = []
    for f in cc_visit(source):  # functions and methods (each once), and classes
        if getattr(f, "is_method", None) is None or f.complexity <= limit:
            continue  # a class's figure is its methods': only functions count
        node = defs.get(f.lineno)
        head = range(f.lineno, (node.body[0].lineno if node else f.lineno + 1))
        if not any(REASON.search(lines[i - 1]) for i in head if i <= len(lines)):
            out.append((f.lineno, f.fullname, f.complexity))
    return out


def test_no_function_over_radon_complexity_20_without_a_reason() -> None:
    over = []
    for path in sorted(PKG.rglob("*.py")):
        for line, name, cc in radon_over(path.read_text()):
            over.append(f"{path.relative_to(ROOT)}:{line}: {name} has complexity {cc} (radon cc, and/or count)")
    assert not over, (f"split these functions (<= {MAX_RADON}), or say why on the def line with "
                      "'# noqa: C901 - <reason>':\n" + "\n".join(over))


def test_the_radon_check_can_fail() -> None:
    tangled = "\n".join(f"    if x == {i} or y:\n        return {i}" for i in range(11))
    src = f"def f(x, y):\n{tangled}\n    return -1\n"
    assert [(1, "f", 23)] == radon_over(src)
    assert radon_over(src.replace("def f(x, y):", "def f(x, y):  # noqa: C901 - one branch per case of the format")) == []
    assert radon_over(src.replace("def f(x, y):", "def f(x, y):  # noqa: C901")) == [(1, "f", 23)]  # no reason
    method = "class K:\n" + "\n".join("    " + ln for ln in src.splitlines()).replace("(x, y)", "(self, x, y)") + "\n"
    assert radon_over(method) == [(2, "K.f", 23)]


def _unused(*paths: Path) -> subprocess.CompletedProcess[str]:
    """ruff's unused-import and unused-variable checks (F401, F841) over ``paths``."""
    return subprocess.run(
        [sys.executable, "-m", "ruff", "check", "--no-cache", "--isolated", "--select", "F401,F841",
         "--output-format", "concise", *map(str, paths)],
        cwd=ROOT, capture_output=True, text=True, timeout=300,
    )


def test_no_unused_imports_or_variables() -> None:
    proc = _unused(PKG, ROOT / "benchmarks", ROOT / "tests")
    assert proc.returncode == 0, "remove these (dead code):\n" + proc.stdout[-4000:] + proc.stderr[-2000:]


def test_the_unused_import_check_can_fail(tmp_path: Path) -> None:
    (tmp_path / "dead.py").write_text("import os\n\n\ndef f() -> int:\n    x = 1\n    return 2\n")
    proc = _unused(tmp_path)
    assert proc.returncode == 1 and "F401" in proc.stdout and "F841" in proc.stdout
