"""Remembered answers (issue #13.14): `permissions check` and `--ephemeral` runs read them;
an ephemeral run writes none. Real `mentra` processes, real SQLite stores."""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
from pathlib import Path
from typing import Any

from mentra.store.base import PermissionRuleRecord
from mentra.store.location import default_store_path, global_store_path, open_store

MENTRA = str(Path(sys.executable).parent / "mentra")


def _remember(path: Path, scope: str, rule: str, decision: str = "allow") -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    store = open_store(path)
    try:
        store.add_permission_rule(PermissionRuleRecord(scope=scope, rule=rule, decision=decision))  # type: ignore[arg-type]
    finally:
        store.close()


def _rules(path: Path) -> list[tuple[str, str, str]]:
    con = sqlite3.connect(path)
    try:
        rows = con.execute("SELECT scope, rule, decision FROM permission_rules").fetchall()
    finally:
        con.close()
    return sorted(rows)


def _mentra(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [MENTRA, *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=60,
        stdin=subprocess.DEVNULL,
        env=dict(os.environ),
    )


def _check(ws: Path, command: str, *flags: str) -> dict[str, Any]:
    proc = _mentra(
        "permissions", "check", "shell", json.dumps({"command": command}), *flags, cwd=ws
    )
    assert proc.returncode == 0, proc.stderr
    result: dict[str, Any] = json.loads(proc.stdout)
    return result


def test_check_reads_project_and_global_answers(tmp_path: Path) -> None:
    ws = tmp_path / "ws"
    ws.mkdir()
    project = f"project:{os.path.realpath(ws)}"
    _remember(default_store_path(ws), project, "shell(make test)")
    _remember(global_store_path(), "global", "shell(git push origin main)", "deny")
    out = _check(ws, "make test")
    assert (out["decision"], out["decided_by"], out["rule"]) == (
        "allow",
        "remembered",
        "shell(make test)",
    )
    out = _check(ws, "git push origin main", "--allow", "shell(git *)")
    assert (out["decision"], out["decided_by"]) == ("deny", "remembered")
    # --no-user-config leaves the global answers out, as a run does
    out = _check(ws, "git push origin main", "--allow", "shell(git *)", "--no-user-config")
    assert (out["decision"], out["decided_by"]) == ("allow", "rule")
    # a deny rule still wins over a remembered allow
    out = _check(ws, "make test", "--deny", "shell(make *)")
    assert (out["decision"], out["decided_by"]) == ("deny", "rule")


def test_ephemeral_run_reads_remembered_answers_and_writes_none(tmp_path: Path) -> None:
    ws = tmp_path / "ws"
    ws.mkdir()
    _remember(global_store_path(), "global", "shell(touch made-by-tool.txt)")
    before = _rules(global_store_path())
    script = tmp_path / "s.yaml"
    script.write_text(
        "turns:\n  - text: making\n    tool_calls:\n"
        "      - {name: shell, input: {command: touch made-by-tool.txt}}\n"
        "      - {name: shell, input: {command: touch not-remembered.txt}}\n"
        "  - text: done\n"
    )
    proc = _mentra("run", "-m", f"scripted:{script}", "go", "--ephemeral", cwd=ws)
    events = [json.loads(line) for line in proc.stdout.splitlines()]
    assert events[-1]["type"] == "run_finished", proc.stderr
    resolved = [
        (e["outcome"], e["decided_by"]) for e in events if e["type"] == "permission_resolved"
    ]
    assert resolved == [("allow", "remembered"), ("deny", "no_approver")]
    assert (ws / "made-by-tool.txt").exists() and not (ws / "not-remembered.txt").exists()
    assert _rules(global_store_path()) == before
    assert not default_store_path(ws).exists()
