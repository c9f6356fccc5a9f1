"""The `examples/python/` scripts run offline and succeed (so they stay true)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("quickstart.py", "mentra is an agent runtime"),
        ("custom_tool.py", "tool: 12 apples in stock"),
    ],
)
def test_example_runs_offline(name: str, expected: str, tmp_path: Path) -> None:
    proc = subprocess.run(
        [sys.executable, str(REPO / "examples" / "python" / name)],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=tmp_path,
        stdin=subprocess.DEVNULL,
    )
    assert proc.returncode == 0, proc.stderr
    assert expected in proc.stdout
    assert proc.stdout.rstrip().splitlines()[-1]  # the final answer is printed last
