"""Permissions through real `mentra run` processes: headless asks never block."""

from __future__ import annotations

import json
import sqlite3
import sys
from pathlib import Path
from typing import Any

SCRIPT = """
turns:
  - text: creating a file
    tool_calls:
      - {name: shell, input: {command: "touch made-by-tool.txt"}}
  - text: finished
"""


def _setup(tmp_path: Path) -> Path:
    script = tmp_path / "s.yaml"
    script.write_text(SCRIPT)
    return script


def test_headless_ask_without_approver_is_denied_and_run_finishes(
    mentra: Any, tmp_path: Path
) -> None:
    script = _setup(tmp_path)
    store = tmp_path / "store.sqlite"
    r = mentra(
        "run", "-m", f"scripted:{script}", "go", "--store", str(store), cwd=tmp_path, timeout=30
    )
    assert r.code == 0, r.stderr
    assert not (tmp_path / "made-by-tool.txt").exists()
    resolved = next(e for e in r.events if e["type"] == "permission_resolved")
    assert resolved["outcome"] == "deny" and resolved["decided_by"] == "no_approver"
    done = r.events[-1]
    assert done["permission_denials"][0]["subjects"] == ["touch made-by-tool.txt"]
    result = next(e for e in r.events if e["type"] == "tool_completed")
    assert result["is_error"] and "Permission denied" in result["output"]
    con = sqlite3.connect(store)
    try:
        rows = con.execute("SELECT tool, outcome, decided_by FROM audit").fetchall()
    finally:
        con.close()
    assert ("shell", "deny", "no_approver") in rows


def test_approval_command_allow_runs_the_tool(mentra: Any, tmp_path: Path) -> None:
    script = _setup(tmp_path)
    approver = tmp_path / "approve.py"
    approver.write_text(
        "import json, sys\n"
        "request = json.load(sys.stdin)\n"
        "assert request['tool'] == 'shell'\n"
        "print('allow')\n"
    )
    r = mentra(
        "run",
        "-m",
        f"scripted:{script}",
        "go",
        "--ephemeral",
        "--approval-command",
        f"{sys.executable} {approver}",
        cwd=tmp_path,
        timeout=30,
    )
    assert r.code == 0, r.stderr
    assert (tmp_path / "made-by-tool.txt").exists()
    resolved = next(e for e in r.events if e["type"] == "permission_resolved")
    assert resolved["outcome"] == "allow" and resolved["decided_by"] == "approval_command"
    assert r.events[-1]["permission_denials"] == []


def test_approval_command_deny(mentra: Any, tmp_path: Path) -> None:
    script = _setup(tmp_path)
    r = mentra(
        "run",
        "-m",
        f"scripted:{script}",
        "go",
        "--ephemeral",
        "--approval-command",
        "echo deny",
        cwd=tmp_path,
        timeout=30,
    )
    assert r.code == 0
    assert not (tmp_path / "made-by-tool.txt").exists()
    assert len(r.events[-1]["permission_denials"]) == 1


def test_allow_flag_and_deny_precedence(mentra: Any, tmp_path: Path) -> None:
    script = _setup(tmp_path)
    r = mentra(
        "run",
        "-m",
        f"scripted:{script}",
        "go",
        "--ephemeral",
        "--allow",
        "shell(touch *)",
        cwd=tmp_path,
        timeout=30,
    )
    assert r.code == 0 and (tmp_path / "made-by-tool.txt").exists()
    (tmp_path / "made-by-tool.txt").unlink()
    r = mentra(
        "run",
        "-m",
        f"scripted:{script}",
        "go",
        "--ephemeral",
        "--allow",
        "shell(touch *)",
        "--deny",
        "shell(touch *)",
        cwd=tmp_path,
        timeout=30,
    )
    assert not (tmp_path / "made-by-tool.txt").exists()
    resolved = next(e for e in r.events if e["type"] == "permission_resolved")
    assert resolved["decided_by"] == "rule" and resolved["rule"] == "shell(touch *)"


def test_read_only_mode_denies_mutation(mentra: Any, tmp_path: Path) -> None:
    script = _setup(tmp_path)
    r = mentra(
        "run",
        "-m",
        f"scripted:{script}",
        "go",
        "--ephemeral",
        "--permission-mode",
        "read-only",
        "--approval-command",
        "echo allow",
        cwd=tmp_path,
        timeout=30,
    )
    assert r.code == 0 and not (tmp_path / "made-by-tool.txt").exists()
    assert json.dumps(r.events[-1]["permission_denials"]).count("touch") == 1


def test_global_answers_reach_other_workspaces_until_forgotten(mentra: Any, tmp_path: Path) -> None:
    script = _setup(tmp_path)
    first, second = tmp_path / "first", tmp_path / "second"
    first.mkdir()
    second.mkdir()
    answer = 'echo \'{"decision": "allow", "scope": "global"}\''
    r = mentra("run", "-m", f"scripted:{script}", "go", "--approval-command", answer, cwd=first)
    assert r.code == 0 and (first / "made-by-tool.txt").exists()
    # another workspace, another store: the "everywhere" answer still applies
    r = mentra("run", "-m", f"scripted:{script}", "go", cwd=second)
    resolved = next(e for e in r.events if e["type"] == "permission_resolved")
    assert resolved["decided_by"] == "remembered" and (second / "made-by-tool.txt").exists()
    listed = mentra("permissions", "list", "-o", "json", cwd=second)
    rows = json.loads(listed.stdout)
    assert [(x["scope"], x["rule"]) for x in rows] == [("global", "shell(touch made-by-tool.txt)")]
    gone = mentra("permissions", "forget", "shell(touch made-by-tool.txt)", cwd=second)
    assert gone.code == 0 and json.loads(gone.stdout)["count"] == 1
    again = mentra("permissions", "forget", "shell(touch made-by-tool.txt)", cwd=second)
    assert again.code == 2 and "no remembered answer" in again.stderr
    (second / "made-by-tool.txt").unlink()
    r = mentra("run", "-m", f"scripted:{script}", "go", cwd=second)
    assert not (second / "made-by-tool.txt").exists()
    assert r.events[-1]["permission_denials"]
