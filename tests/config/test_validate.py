"""`mentra validate` lists every problem in file order as file:line:col lines, takes `--var`,
checks the scripted model's script; rules that name no tool are config errors everywhere."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from mentra.rule_tools import WrittenRule, rule_tool_problems

SCRIPT = "turns:\n  - text: done\n"


def _write(tmp_path: Path, text: str, name: str = "agent.yaml") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def test_every_problem_in_file_order(mentra: Any, tmp_path: Path) -> None:
    # pydantic reports limits (a model field declared later) before the unknown key
    path = _write(
        tmp_path, "name: x\nzzz: 1\nlimits:\n  max_rounds: 0\nsystem: 'a {{who}}'\nyyy: 2\n"
    )
    r = mentra("validate", str(path))
    assert r.code == 2
    lines = r.stderr.splitlines()
    assert lines == [
        f"{path}:2:1: unknown key 'zzz' in agent config",
        f"{path}:4:15: limits.max_rounds: Input should be greater than or equal to 1",
        f"{path}:5:9: template variable {{{{who}}}} has no value (pass --var who=...)",
        f"{path}:6:1: unknown key 'yyy' in agent config",
    ]
    assert "more problem" not in r.stderr
    out = json.loads(r.stdout)
    assert out["valid"] is False and out["problems"] == lines


def test_var_and_scripted_model(mentra: Any, tmp_path: Path) -> None:
    _write(tmp_path, SCRIPT, "script.yaml")
    path = _write(tmp_path, "name: x\nmodel: scripted:script.yaml\nsystem: 'hi {{who}}'\n")
    r = mentra("validate", str(path), "--var", "who=me", "-C", str(tmp_path))
    assert r.code == 0, r.stderr
    assert json.loads(r.stdout)["valid"] is True
    missing = _write(tmp_path, "name: x\nmodel: scripted:missing.yaml\n", "m.yaml")
    r = mentra("validate", str(missing), "-C", str(tmp_path))
    assert r.code == 2
    assert r.stderr.splitlines() == [
        f"{missing}:2:8: script file not found: {tmp_path / 'missing.yaml'}"
    ]
    broken = _write(tmp_path, "turns: []\n", "broken.yaml")
    cfg = _write(tmp_path, f"model: scripted:{broken}\n", "b.yaml")
    r = mentra("validate", str(cfg))
    assert r.code == 2 and f"{broken}:1:8: turns:" in r.stderr


def test_unknown_tools_in_only_hide_and_rules(mentra: Any, tmp_path: Path) -> None:
    path = _write(
        tmp_path,
        "name: x\ntools:\n  only: [files, nope, shel]\n"
        "permissions:\n  deny: ['Shell(rm *)', 'bash(rm *)', 'files(write:*)', 'shell*']\n",
    )
    r = mentra("validate", str(path))
    assert r.code == 2
    lines = r.stderr.splitlines()
    assert len(lines) == 4, lines
    assert lines[0].startswith(f"{path}:3:17: unknown tool 'nope' in tools.only")
    assert lines[1].startswith(f"{path}:3:23: unknown tool 'shel' in tools.only (did you mean")
    assert lines[2].startswith(f"{path}:5:10: permissions.deny: rule 'Shell(rm *)'")
    assert "did you mean 'shell'?" in lines[2]
    assert lines[3].startswith(f"{path}:5:25: permissions.deny: rule 'bash(rm *)'")
    assert "did you mean 'shell'?" in lines[3]


def test_rules_naming_no_tool_fail_run_resume_and_check(mentra: Any, tmp_path: Path) -> None:
    script = _write(tmp_path, SCRIPT, "script.yaml")
    store = str(tmp_path / "s.sqlite")
    r = mentra("run", "-m", f"scripted:{script}", "hi", "--deny", "Shell(rm *)", "--ephemeral")
    assert r.code == 2 and r.stdout == ""
    assert r.stderr.count("\n") == 1
    assert "--deny: rule 'Shell(rm *)'" in r.stderr and "did you mean 'shell'?" in r.stderr
    config = _write(tmp_path, "permissions:\n  allow: ['bash(ls)']\n", "c.yaml")
    r = mentra("run", "-c", str(config), "-m", f"scripted:{script}", "hi", "--ephemeral")
    assert r.code == 2 and f"{config}:2:11:" in r.stderr and "'bash'" in r.stderr
    r = mentra("run", "-m", f"scripted:{script}", "hi", "--store", store)
    assert r.code == 0, r.stderr
    agent = r.events[0]["agent_id"]
    r = mentra("resume", agent, "again", "--store", store, "--ask", "fles(read:*)")
    assert r.code == 2 and "did you mean 'files'?" in r.stderr, r.stderr
    r = mentra("permissions", "check", "shell", '{"command": "ls"}', "--deny", "bash(rm *)")
    assert r.code == 2 and "'bash'" in r.stderr and r.stdout == ""
    # known tools, and globs that match one, are fine
    r = mentra(
        "run",
        "-m",
        f"scripted:{script}",
        "hi",
        "--deny",
        "shell(rm *)",
        "--ask",
        "file*",
        "--ephemeral",
    )
    assert r.code == 0, r.stderr


def test_mcp_names_have_a_hook() -> None:
    def rule(text: str) -> list[WrittenRule]:
        return [WrittenRule(text, "deny", None, "--deny")]

    # MCP tools are named mcp__SERVER__TOOL; the hook accepts that shape (and globs of it)
    assert rule_tool_problems(rule("mcp__github__create_issue"), ["shell"]) == []
    assert rule_tool_problems(rule("mcp__gh__*(*x*)"), ["shell"]) == []
    assert len(rule_tool_problems(rule("mcp__github"), ["shell"])) == 1
    # a caller can narrow the hook (e.g. to the configured servers)
    only_gh = lambda name: name.startswith("mcp__gh__")  # noqa: E731
    assert len(rule_tool_problems(rule("mcp__github__x"), ["shell"], accept=only_gh)) == 1
