from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from mentra.tools.base import Tool, ToolInputError, ToolResult
from mentra.tools.builtin import builtin_tools
from mentra.tools.builtin.files import FilesTool

Run = Callable[[Tool, dict[str, Any]], ToolResult]


def ops(*operations: dict[str, object]) -> dict[str, object]:
    return {"operations": list(operations)}


@pytest.fixture
def files(workspace: Path) -> FilesTool:
    return FilesTool(workspace)


def test_builtin_tools_include_files() -> None:
    assert "files" in [t.name for t in builtin_tools()]


def test_read_numbered_lines_with_offset_and_limit(
    files: FilesTool, workspace: Path, run: Run
) -> None:
    (workspace / "a.txt").write_text("".join(f"line {i}\n" for i in range(1, 11)))
    result = run(files, ops({"op": "read", "path": "a.txt", "offset": 3, "limit": 2}))
    assert not result.is_error
    assert "     3\tline 3\n     4\tline 4" in result.content
    assert "line 5" not in result.content
    assert "continue with offset 5" in result.content


def test_list_depth_and_limit(files: FilesTool, workspace: Path, run: Run) -> None:
    (workspace / "src" / "pkg").mkdir(parents=True)
    (workspace / "src" / "pkg" / "deep.py").write_text("")
    (workspace / "top.txt").write_text("")
    shallow = run(files, ops({"op": "list", "depth": 1})).content
    assert "src/" in shallow and "top.txt" in shallow and "src/pkg" not in shallow
    deep = run(files, ops({"op": "list", "depth": 3})).content
    assert "src/pkg/deep.py" in deep
    limited = run(files, ops({"op": "list", "depth": 3, "limit": 1})).content
    assert "limit of 1 entries reached" in limited


def test_search_skips_git_binary_and_non_utf8(files: FilesTool, workspace: Path, run: Run) -> None:
    (workspace / ".git").mkdir()
    (workspace / ".git" / "config").write_text("needle in git\n")
    (workspace / "blob.bin").write_bytes(b"needle\x00\x01\x02")
    (workspace / "latin1.txt").write_bytes("needle caf\xe9\n".encode("latin-1"))
    (workspace / "ok.py").write_text("x = 1\nneedle = 2\n")
    result = run(files, ops({"op": "search", "pattern": r"needle\b"}))
    assert not result.is_error
    assert "ok.py:2: needle = 2" in result.content
    assert ".git" not in result.content and "blob.bin" not in result.content
    assert "latin1" not in result.content
    assert "skipped 2 binary" in result.content


def test_search_invalid_regex_is_an_error_result(files: FilesTool, run: Run) -> None:
    result = run(files, ops({"op": "search", "pattern": "("}))
    assert result.is_error and "invalid regular expression" in result.content


def test_lane_and_permission_subjects(files: FilesTool, workspace: Path) -> None:
    read = files.parse_input(ops({"op": "read", "path": "./src/../a.txt"}))
    assert files.is_mutating(read) is False
    assert files.permission_subjects(read) == ["read:a.txt"]
    mixed = files.parse_input(
        ops(
            {"op": "read", "path": str(workspace / "x.py")},
            {"op": "move", "path": "a", "to": "b/c"},
        )
    )
    assert files.is_mutating(mixed) is True
    assert files.permission_subjects(mixed) == ["read:x.py", "move:a", "move:b/c"]


def test_invalid_input_is_guidance(files: FilesTool) -> None:
    with pytest.raises(ToolInputError, match="operations"):
        files.parse_input(ops({"op": "explode", "path": "x"}))


def test_edits_apply_in_order_and_commit(files: FilesTool, workspace: Path, run: Run) -> None:
    (workspace / "a.py").write_text("def f():\n    return 1\n")
    (workspace / "a.py").chmod(0o750)
    result = run(
        files,
        ops(
            {"op": "replace", "path": "a.py", "old": "return 1", "new": "return 2"},
            {
                "op": "insert",
                "path": "a.py",
                "anchor": "def f():\n",
                "position": "before",
                "content": "# hi\n",
            },
            {"op": "insert", "path": "a.py", "content": "# end\n"},
            {"op": "create", "path": "new/dir/b.txt", "content": "b\n"},
            {"op": "move", "path": "new/dir/b.txt", "to": "c.txt"},
            {"op": "set", "path": "d.txt", "content": "d"},
            {"op": "delete", "path": "d.txt"},
            {"op": "read", "path": "a.py"},
        ),
    )
    assert not result.is_error, result.content
    assert (workspace / "a.py").read_text() == "# hi\ndef f():\n    return 2\n# end\n"
    assert (workspace / "a.py").stat().st_mode & 0o777 == 0o750
    assert (workspace / "c.txt").read_text() == "b\n"
    assert not (workspace / "d.txt").exists()
    assert "return 2" in result.content  # the read saw the staged view
    leftovers = [p.name for p in workspace.rglob("*") if p.name.endswith(".tmp")]
    assert leftovers == []


@pytest.mark.parametrize(
    "failing",
    [
        {"op": "replace", "path": "a.txt", "old": "x", "new": "y", "count": 2},
        {"op": "replace", "path": "a.txt", "old": "absent", "new": "y"},
        {"op": "insert", "path": "a.txt", "anchor": "nope", "content": "z"},
        {"op": "create", "path": "a.txt", "content": "again"},
        {"op": "delete", "path": "missing.txt"},
        {"op": "move", "path": "missing.txt", "to": "z.txt"},
        {"op": "set", "path": "../outside.txt", "content": "escape"},
        {"op": "read", "path": "missing.txt"},
    ],
)
def test_a_failing_operation_leaves_nothing_changed(
    files: FilesTool, workspace: Path, run: Run, failing: dict[str, object]
) -> None:
    (workspace / "a.txt").write_text("x x x\n")
    before = {p: p.read_bytes() for p in workspace.rglob("*") if p.is_file()}
    result = run(
        files,
        ops(
            {"op": "set", "path": "a.txt", "content": "x changed\n"},
            {"op": "create", "path": "sub/new.txt", "content": "n"},
            {"op": "delete", "path": "a.txt"},
            {"op": "create", "path": "a.txt", "content": "x x x\n"},
            failing,
        ),
    )
    assert result.is_error
    assert "No changes were made" in result.content
    after = {p: p.read_bytes() for p in workspace.rglob("*") if p.is_file()}
    assert after == before
    assert not (workspace / "sub").exists()
    assert not (workspace.parent / "outside.txt").exists()


def test_commit_failure_rolls_back(files: FilesTool, workspace: Path, run: Run) -> None:
    # A 240-character name is valid, but its temporary sibling is too long: the commit fails
    # while preparing, after other files were already staged on disk.
    (workspace / "a.txt").write_text("old\n")
    result = run(
        files,
        ops(
            {"op": "set", "path": "a.txt", "content": "new\n"},
            {"op": "create", "path": "fresh/x.txt", "content": "x"},
            {"op": "create", "path": "n" * 240, "content": "y"},
        ),
    )
    assert result.is_error and "No changes were made" in result.content
    assert (workspace / "a.txt").read_text() == "old\n"
    assert not (workspace / "fresh").exists()
    assert [p.name for p in workspace.iterdir()] == ["a.txt"]


def test_read_only_calls_report_each_failure(files: FilesTool, workspace: Path, run: Run) -> None:
    (workspace / "a.txt").write_text("a\n")
    result = run(files, ops({"op": "read", "path": "a.txt"}, {"op": "read", "path": "nope"}))
    assert not result.is_error
    assert "     1\ta" in result.content and "nope does not exist" in result.content
