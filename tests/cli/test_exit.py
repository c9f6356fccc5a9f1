"""How a `mentra` process ends (`mentra_cli.entry.exit_now`): without the interpreter's
teardown, but with everything a caller relies on still done."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from tests.cli.conftest import MENTRA, REPO


def test_a_large_output_reaches_a_pipe_whole() -> None:
    done = subprocess.run(
        [MENTRA, "schema", "events"], capture_output=True, text=True, timeout=60, check=False
    )
    assert done.returncode == 0, done.stderr
    assert len(done.stdout) > 8192  # more than stdout's buffer: its last part flushed at exit
    assert isinstance(json.loads(done.stdout), dict)


def test_the_exit_code_survives(tmp_path: Path) -> None:
    done = subprocess.run(
        [MENTRA, "run", "--no-such-flag"], capture_output=True, text=True, timeout=60, check=False
    )
    assert done.returncode == 2 and "no-such-flag" in done.stderr


def test_a_profiler_still_writes_its_stats(tmp_path: Path) -> None:
    """``python -m cProfile`` writes after `main` returns: with a profiler attached the
    process takes the normal exit."""
    out = tmp_path / "help.prof"
    done = subprocess.run(
        [sys.executable, "-m", "cProfile", "-o", str(out), "-m", "mentra_cli", "--help"],
        capture_output=True, text=True, timeout=60, check=False, cwd=REPO,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert out.is_file() and out.stat().st_size > 0
