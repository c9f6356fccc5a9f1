"""The shell corpus (issue #12.1): every line at the decide() level, a sample through real
`mentra permissions check` processes, and the repros through a real `mentra run`."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from mentra.config import AgentConfig, LoadedConfig
from mentra.runtime import RunOverrides, Runtime
from mentra.tools.builtin.shell import ShellTool
from tests.permissions.shell_corpus import CORPUS

MENTRA = str(Path(sys.executable).parent / "mentra")
FLAGS: dict[str, list[str]] = {
    "A": ["--permission-mode", "bypass", "--deny", "shell(rm *)"],
    "B": ["--allow", "shell(git *)", "--allow", "shell(echo *)"],
}
OVERRIDES: dict[str, dict[str, Any]] = {
    "A": {"permission_mode": "bypass", "deny": ["shell(rm *)"]},
    "B": {"allow": ["shell(git *)", "shell(echo *)"]},
}


def test_corpus_is_large_and_distinct() -> None:
    commands = [row[0] for row in CORPUS]
    assert len(commands) >= 150 and len(set(commands)) == len(commands)
    assert {row[1] for row in CORPUS} | {row[2] for row in CORPUS} == {"allow", "deny"}


def _decider(tmp_path: Path, which: str) -> Any:
    """The authorizer and the requests a run would use (through the public `Runtime`)."""
    runtime = Runtime(workspace=tmp_path, store=None, no_user_config=True)
    loaded = LoadedConfig(AgentConfig(), file=None, marks={})
    overrides = RunOverrides(**OVERRIDES[which])
    authorizer, _notices = runtime.permission_engine(loaded, overrides)
    tool = ShellTool()

    def decide(command: str) -> tuple[str, str]:
        request = runtime.permission_request(tool, {"command": command}, loaded, call_id="c1")
        evaluated = authorizer.evaluate(request)
        final = asyncio.run(authorizer.resolve(request, evaluated))
        return evaluated.outcome, final.outcome

    return decide


@pytest.mark.parametrize("which", ["A", "B"])
def test_every_corpus_line_at_the_decide_level(tmp_path: Path, which: str) -> None:
    decide = _decider(tmp_path, which)
    column = 1 if which == "A" else 2
    wrong = [
        (row[0], row[column], got) for row in CORPUS if (got := decide(row[0])[1]) != row[column]
    ]
    assert wrong == []


SAMPLE = [
    "echo f2 | xargs rm",
    "timeout 5 rm f3",
    "R=rm; $R f4",
    "find . -name f5 -delete",
    "time rm f6",
    "case x in x) rm g1;; esac",
    "echo ${x:-$(rm g2)}",
    "watch rm x",
    "busybox rm x",
    "[[ -f x ]] && rm x",
    "git -c alias.x='!rm y' x",
    "git --exec-path=/tmp status",
    "git status && git diff",
    "echo hi > ../outside.txt",
    "ls",
]


def _check_processes(tmp_path: Path, jobs: list[tuple[str, str]]) -> list[dict[str, Any]]:
    """Run `mentra permissions check` for each (which, command), a few processes at a time."""
    env = {**os.environ, "MENTRA_STORE": str(tmp_path / "none.sqlite")}
    out: list[dict[str, Any]] = []
    for start in range(0, len(jobs), 4):
        procs = []
        for which, command in jobs[start : start + 4]:
            argv = [MENTRA, "permissions", "check", "shell", json.dumps({"command": command})]
            argv += [*FLAGS[which], "--no-user-config", "-C", str(tmp_path)]
            procs.append(
                subprocess.Popen(
                    argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env
                )
            )
        for proc in procs:
            stdout, stderr = proc.communicate(timeout=60)
            assert proc.returncode == 0, stderr
            out.append(json.loads(stdout))
    return out


def test_permissions_check_processes_say_what_a_run_decides(tmp_path: Path) -> None:
    rows = {row[0]: row for row in CORPUS}
    jobs = [(which, command) for command in SAMPLE for which in ("A", "B")]
    results = _check_processes(tmp_path, jobs)
    deciders = {w: _decider(tmp_path, w) for w in ("A", "B")}
    for (which, command), result in zip(jobs, results, strict=True):
        evaluated, final = deciders[which](command)
        assert result["decision"] == evaluated, (which, command)
        expected = rows[command][1 if which == "A" else 2]
        assert (final, "deny" if evaluated == "ask" else evaluated) == (expected, expected)


REPROS = [
    "echo f2 | xargs rm",
    "timeout 5 rm f3",
    "R=rm; $R f4",
    "find . -name f5 -delete",
    "time rm f6",
    "case x in x) rm g1;; esac",
    "echo ${x:-$(rm g2)}",
]


def test_run_under_bypass_and_deny_deletes_nothing(tmp_path: Path) -> None:
    ws = tmp_path / "ws"
    ws.mkdir()
    names = ["f2", "f3", "f4", "f5", "f6", "g1", "g2"]
    for name in names:
        (ws / name).write_text("keep\n")
    calls = "".join(
        f"      - {{name: shell, input: {{command: {json.dumps(cmd)}}}}}\n" for cmd in REPROS
    )
    script = tmp_path / "s.yaml"
    script.write_text(f"turns:\n  - text: deleting\n    tool_calls:\n{calls}  - text: done\n")
    proc = subprocess.run(
        [MENTRA, "run", "-m", f"scripted:{script}", "go", "--ephemeral", "--no-user-config"]
        + FLAGS["A"],
        cwd=ws,
        capture_output=True,
        text=True,
        timeout=60,
        stdin=subprocess.DEVNULL,
    )
    events = [json.loads(line) for line in proc.stdout.splitlines()]
    assert events[-1]["type"] == "run_finished", proc.stderr
    resolved = [e for e in events if e["type"] == "permission_resolved"]
    assert [e["outcome"] for e in resolved] == ["deny"] * len(REPROS)
    assert sorted(p.name for p in ws.iterdir()) == sorted(names)
