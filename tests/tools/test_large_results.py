from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from mentra.tools.base import Tool, ToolResult
from mentra.tools.large_results import ReadToolResultTool, shrink_result

Run = Callable[[Tool, dict[str, Any]], ToolResult]


def test_small_results_pass_unchanged(tmp_path: Path) -> None:
    text = "x\n" * 2000
    assert shrink_result(text, store_dir=tmp_path) == text
    assert not tmp_path.joinpath("x").exists()


def test_many_lines_shrink_and_page(tmp_path: Path, run: Run) -> None:
    text = "".join(f"line {i}\n" for i in range(1, 5001))
    store = tmp_path / "results"
    shown = shrink_result(text, store_dir=store)
    assert shown.startswith("line 1\n") and shown.endswith("line 5000\n")
    assert "line 2500\n" not in shown
    result_id = shown.split("result id ")[1].split(":")[0]
    assert (store / f"{result_id}.txt").read_text() == text

    tool = ReadToolResultTool()
    page = run(tool, {"id": result_id, "offset": 2500, "limit": 3})
    assert not page.is_error
    assert page.content.splitlines()[1:4] == ["line 2500", "line 2501", "line 2502"]
    assert "offset=2503" in page.content
    end = run(tool, {"id": result_id, "offset": 4999})
    assert "line 5000" in end.content and "more:" not in end.content
    assert run(tool, {"id": result_id, "offset": 9999}).is_error


def test_big_bytes_shrink(tmp_path: Path) -> None:
    text = ("y" * 1000 + "\n") * 100  # 100 KB in 100 lines
    shown = shrink_result(text, store_dir=tmp_path)
    assert len(shown.encode()) < 50 * 1024
    assert "result shortened" in shown


def test_one_huge_line(tmp_path: Path) -> None:
    shown = shrink_result("z" * 200_000, store_dir=tmp_path)
    assert len(shown) < 60_000 and "result id res_" in shown


def test_bad_ids_are_refused(run: Run) -> None:
    tool = ReadToolResultTool()
    assert run(tool, {"id": "../../etc/passwd"}).is_error
    assert "No stored result" in run(tool, {"id": "res_0123456789abcdef"}).content
