"""Security: no path escapes the policy roots, whatever the trick; refusals are tool errors."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from mentra.permissions.policy import PolicyViolationError, RuntimePolicy
from mentra.tools.base import Tool, ToolResult
from mentra.tools.builtin.files import FilesTool

Run = Callable[[Tool, dict[str, Any]], ToolResult]


@pytest.fixture
def secret(tmp_path: Path) -> Path:
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "secret.txt").write_text("TOP SECRET\n")
    return outside


@pytest.fixture
def files(workspace: Path) -> FilesTool:
    return FilesTool(workspace)


def escapes(workspace: Path, secret: Path) -> dict[str, str]:
    """Each trick, as a path given to the tool."""
    (workspace / "link_file").symlink_to(secret / "secret.txt")
    (workspace / "link_dir").symlink_to(secret)
    (workspace / "sub").mkdir()
    (workspace / "sub" / "up").symlink_to("../..")  # planted relative link pointing out
    (workspace / "loop_a").symlink_to("loop_b")
    (workspace / "loop_b").symlink_to("loop_a")
    return {
        "dotdot": "../outside/secret.txt",
        "dotdot_deep": "sub/../../outside/secret.txt",
        "absolute": str(secret / "secret.txt"),
        "symlink_file": "link_file",
        "symlink_dir": "link_dir/secret.txt",
        "planted_relative": "sub/up/outside/secret.txt",
        "loop": "loop_a/x.txt",
    }


TRICKS = ["dotdot", "dotdot_deep", "absolute", "symlink_file", "symlink_dir", "planted_relative"]


@pytest.mark.parametrize("trick", [*TRICKS, "loop"])
@pytest.mark.parametrize(
    "op",
    [
        {"op": "read"},
        {"op": "search", "pattern": "SECRET"},
        {"op": "list"},
        {"op": "set", "content": "pwned"},
        {"op": "create", "content": "pwned"},
        {"op": "replace", "old": "TOP", "new": "pwned"},
        {"op": "insert", "content": "pwned"},
        {"op": "delete"},
    ],
)
def test_files_refuses_every_escape(
    run: Run,
    files: FilesTool,
    workspace: Path,
    secret: Path,
    trick: str,
    op: dict[str, Any],
) -> None:
    path = escapes(workspace, secret)[trick]
    result = run(files, {"operations": [{**op, "path": path}]})
    if op["op"] == "delete" and trick == "symlink_file":
        # the entry deleted is the link inside the workspace, never its target
        assert not result.is_error and not os.path.lexists(workspace / "link_file")
        assert (secret / "secret.txt").read_text() == "TOP SECRET\n"
        return
    assert result.is_error, result.content
    assert "TOP SECRET" not in result.content
    assert "outside the allowed" in result.content or "symlink loop" in result.content
    assert (secret / "secret.txt").read_text() == "TOP SECRET\n"
    assert sorted(p.name for p in secret.iterdir()) == ["secret.txt"]


@pytest.mark.parametrize("trick", TRICKS)
def test_move_out_or_in_is_refused(
    run: Run, files: FilesTool, workspace: Path, secret: Path, trick: str
) -> None:
    (workspace / "mine.txt").write_text("mine\n")
    path = escapes(workspace, secret)[trick]
    if trick != "symlink_file":  # moving the link itself is inside the workspace, and allowed
        stolen = run(files, {"operations": [{"op": "move", "path": path, "to": "stolen.txt"}]})
        assert stolen.is_error and not (workspace / "stolen.txt").exists()
    pushed = run(
        files,
        {"operations": [{"op": "move", "path": "mine.txt", "to": path.replace("secret", "new")}]},
    )
    assert pushed.is_error
    assert (workspace / "mine.txt").exists()
    assert sorted(p.name for p in secret.iterdir()) == ["secret.txt"]


def test_walks_do_not_follow_links_out(
    run: Run, files: FilesTool, workspace: Path, secret: Path
) -> None:
    escapes(workspace, secret)
    (workspace / "ok.txt").write_text("SECRET? no, public\n")
    found = run(files, {"operations": [{"op": "search", "pattern": "SECRET"}]})
    assert not found.is_error
    assert "ok.txt:1:" in found.content and "TOP SECRET" not in found.content
    listed = run(files, {"operations": [{"op": "list", "depth": 5}]})
    assert "link_dir@" in listed.content and "secret.txt" not in listed.content


def test_deleting_a_planted_link_removes_the_link_not_the_target(
    run: Run, files: FilesTool, workspace: Path, secret: Path
) -> None:
    (workspace / "inner.txt").write_text("inner\n")
    (workspace / "alias").symlink_to("inner.txt")
    result = run(files, {"operations": [{"op": "delete", "path": "alias"}]})
    assert not result.is_error, result.content
    assert not os.path.lexists(workspace / "alias")
    assert (workspace / "inner.txt").read_text() == "inner\n"


def test_policy_write_roots_narrower_than_read_roots(workspace: Path) -> None:
    (workspace / "src").mkdir()
    policy = RuntimePolicy(working_dir=workspace, write_roots=[workspace / "src"])
    assert policy.resolve("README.md") == workspace / "README.md"
    assert policy.resolve("src/a.py", write=True) == workspace / "src" / "a.py"
    with pytest.raises(PolicyViolationError, match="write roots"):
        policy.resolve("README.md", write=True)


def test_policy_refuses_loops_and_odd_paths(workspace: Path) -> None:
    (workspace / "self").symlink_to("self")
    policy = RuntimePolicy(working_dir=workspace)
    for bad in ("self", "self/x", "", "a\x00b"):
        with pytest.raises(PolicyViolationError):
            policy.resolve(bad)


def test_special_files_do_not_hang(run: Run, files: FilesTool, workspace: Path) -> None:
    os.mkfifo(workspace / "pipe")
    (workspace / "ok.txt").write_text("needle\n")
    result = run(files, {"operations": [{"op": "read", "path": "pipe"}]})
    assert result.is_error and "not a regular file" in result.content
    found = run(files, {"operations": [{"op": "search", "pattern": "needle"}]})
    assert "ok.txt:1: needle" in found.content
