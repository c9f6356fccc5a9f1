"""`mentra run` as a real process: stdout is JSONL, exit codes follow DESIGN §6."""

from __future__ import annotations

import json
import signal
import sqlite3
import subprocess
import time
from pathlib import Path
from typing import Any

from tests.cli.conftest import MENTRA, REPO


def test_demo_runs_offline_and_uses_a_tool(mentra: Any, tmp_path: Path) -> None:
    r = mentra(
        "run",
        "-c",
        "examples/agents/demo.yaml",
        "What is this project?",
        "--store",
        str(tmp_path / "s.sqlite"),
    )
    assert r.code == 0, r.stderr
    types = r.types
    assert types[0] == "session_started" and types[-1] == "run_finished"
    assert "tool_completed" in types
    done = r.events[-1]
    assert done["status"] == "success" and done["exit_code"] == 0
    assert "agent runtime" in done["final_text"]
    tool = next(e for e in r.events if e["type"] == "tool_completed")
    assert tool["is_error"] is False and "README.md" in tool["output"]
    seqs = [e["seq"] for e in r.events]
    assert seqs == list(range(1, len(seqs) + 1))
    assert r.events[0]["schema_version"] == 1


def test_output_json_and_text(mentra: Any, tmp_path: Path) -> None:
    r = mentra("run", "-c", "examples/agents/demo.yaml", "hi", "--ephemeral", "--output", "json")
    assert r.code == 0
    obj = json.loads(r.stdout)
    assert obj["type"] == "run_finished" and obj["status"] == "success"
    out = tmp_path / "last.txt"
    r = mentra(
        "run",
        "-c",
        "examples/agents/demo.yaml",
        "hi",
        "--ephemeral",
        "--output",
        "text",
        "--output-last-message",
        str(out),
    )
    assert r.code == 0 and r.stdout.startswith("mentra is an agent runtime")
    assert out.read_text().startswith("mentra is an agent runtime")


def test_include_deltas(mentra: Any) -> None:
    r = mentra("run", "-c", "examples/agents/demo.yaml", "hi", "--ephemeral", "--include-deltas")
    deltas = [e for e in r.events if e["type"] == "assistant_token_delta"]
    assert deltas and "full_text" not in deltas[0]
    assert "".join(d["delta"] for d in deltas).startswith("Let me look")


def test_max_rounds_exits_4(mentra: Any) -> None:
    r = mentra("run", "-c", "examples/agents/demo.yaml", "hi", "--ephemeral", "--max-rounds", "1")
    assert r.code == 4
    assert r.types[-1] == "run_finished" and r.events[-1]["status"] == "limit_reached"


def test_timeout_exits_5(mentra: Any, tmp_path: Path) -> None:
    script = tmp_path / "slow.yaml"
    script.write_text("turns:\n  - text: late\n    delay_ms: 5000\n")
    r = mentra("run", "-m", f"scripted:{script}", "hi", "--ephemeral", "--timeout", "300ms")
    assert r.code == 5
    assert r.events[-1]["type"] == "run_finished" and r.events[-1]["status"] == "timeout"


def test_sigint_exits_130_with_run_finished(tmp_path: Path) -> None:
    script = tmp_path / "slow.yaml"
    script.write_text("turns:\n  - text: late\n    delay_ms: 20000\n")
    proc = subprocess.Popen(
        [MENTRA, "run", "-m", f"scripted:{script}", "hi", "--store", str(tmp_path / "s.sqlite")],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        stdin=subprocess.DEVNULL,
        text=True,
        cwd=REPO,
    )
    assert proc.stdout is not None
    first = proc.stdout.readline()  # session_started: the run has begun
    assert json.loads(first)["type"] == "session_started"
    time.sleep(0.2)
    proc.send_signal(signal.SIGINT)
    rest, err = proc.communicate(timeout=20)
    assert proc.returncode == 130, err
    last = json.loads(rest.splitlines()[-1])
    assert last["type"] == "run_finished" and last["status"] == "interrupted"
    assert last["exit_code"] == 130


def test_sigterm_exits_143(tmp_path: Path) -> None:
    script = tmp_path / "slow.yaml"
    script.write_text("turns:\n  - text: late\n    delay_ms: 20000\n")
    proc = subprocess.Popen(
        [MENTRA, "run", "-m", f"scripted:{script}", "hi", "--ephemeral"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        stdin=subprocess.DEVNULL,
        text=True,
    )
    assert proc.stdout is not None
    proc.stdout.readline()
    proc.send_signal(signal.SIGTERM)
    rest, _ = proc.communicate(timeout=20)
    assert proc.returncode == 143
    assert json.loads(rest.splitlines()[-1])["status"] == "interrupted"


def test_prompt_from_stdin(mentra: Any) -> None:
    r = mentra("run", "-c", "examples/agents/demo.yaml", "--ephemeral", input="What is it?\n")
    assert r.code == 0
    assert r.events[1]["type"] == "user_message" and r.events[1]["text"] == "What is it?\n"


def test_prompt_plus_piped_context(mentra: Any) -> None:
    r = mentra(
        "run", "-c", "examples/agents/demo.yaml", "--ephemeral", "Summarise:", input="some context"
    )
    assert r.events[1]["text"] == "Summarise:\n\nsome context"


def test_empty_prompt_is_a_usage_error(mentra: Any) -> None:
    r = mentra("run", "-c", "examples/agents/demo.yaml", "--ephemeral", "   ")
    assert r.code == 2 and r.stdout == ""
    assert r.stderr.strip() == "mentra: error: the prompt is empty"


def test_unknown_config_key_names_file_line_col(mentra: Any, tmp_path: Path) -> None:
    cfg = tmp_path / "bad.yaml"
    cfg.write_text("name: x\nmodel: scripted:s.yaml\nlimits:\n  max_rounds: 3\n  max_round: 4\n")
    r = mentra("run", "-c", str(cfg), "hi", "--ephemeral")
    assert r.code == 2 and r.stdout == ""
    assert r.stderr.count("\n") == 1 and "Traceback" not in r.stderr
    assert f"{cfg}:5:3: unknown key 'max_round'" in r.stderr


def test_unknown_tool_in_only(mentra: Any, tmp_path: Path) -> None:
    cfg = tmp_path / "bad.yaml"
    cfg.write_text("model: scripted:s.yaml\ntools:\n  only: [files, nosuch]\n")
    r = mentra("run", "-c", str(cfg), "hi", "--ephemeral")
    assert r.code == 2
    assert f"{cfg}:3:17: unknown tool 'nosuch'" in r.stderr


def test_invalid_yaml(mentra: Any, tmp_path: Path) -> None:
    cfg = tmp_path / "bad.yaml"
    cfg.write_text("name: [unclosed\n")
    r = mentra("run", "-c", str(cfg), "hi", "--ephemeral")
    assert r.code == 2 and "invalid YAML" in r.stderr and "Traceback" not in r.stderr


def test_missing_config_file(mentra: Any) -> None:
    r = mentra("run", "-c", "/nonexistent/x.yaml", "hi")
    assert r.code == 2 and "config file not found" in r.stderr


def test_bad_flag_is_one_line_exit_2(mentra: Any) -> None:
    r = mentra("run", "--no-such-flag", "hi")
    assert r.code == 2
    assert len(r.stderr.strip().splitlines()) == 1 and "no-such-flag" in r.stderr


def test_malformed_script_after_start(mentra: Any, tmp_path: Path) -> None:
    script = tmp_path / "s.yaml"
    script.write_text("turns:\n  - text: hi\n    bogus: 1\n")
    r = mentra("run", "-m", f"scripted:{script}", "hi", "--ephemeral")
    assert r.code == 2
    assert r.types[-1] == "run_finished"
    assert f"{script}:3:5: unknown key 'bogus'" in r.events[-1]["errors"][0]


def test_every_stdout_line_is_json(mentra: Any) -> None:
    r = mentra(
        "run",
        "-c",
        "examples/agents/demo.yaml",
        "hi",
        "--ephemeral",
        "--verbose",
        "--include-deltas",
    )
    assert r.code == 0
    for line in r.stdout.splitlines():
        assert isinstance(json.loads(line), dict)
    assert "tool_completed" not in r.stderr  # people's view is text, not events
    assert "files" in r.stderr


def test_version_is_fast_path(mentra: Any) -> None:
    r = mentra("--version")
    assert r.code == 0 and r.stdout.startswith("mentra ")


def test_env_interpolation_and_vars(mentra: Any, tmp_path: Path) -> None:
    script = tmp_path / "s.yaml"
    script.write_text("turns:\n  - text: ok\n")
    cfg = tmp_path / "a.yaml"
    cfg.write_text(f"model: ${{M:-scripted:{script}}}\nsystem: 'Hello {{{{who}}}}'\n")
    r = mentra("run", "-c", str(cfg), "hi", "--ephemeral", "--var", "who=world")
    assert r.code == 0, r.stderr
    r = mentra("run", "-c", str(cfg), "hi", "--ephemeral")
    assert r.code == 2 and "{{who}}" in r.stderr and "--var who=" in r.stderr


def test_closed_stdin_never_crashes(tmp_path: Path) -> None:
    """CI steps may start mentra with stdin closed: the prompt argument alone must do."""
    import os

    def close_stdin() -> None:
        os.close(0)

    args = [MENTRA, "run", "-c", "examples/agents/demo.yaml", "--ephemeral", "--output", "text"]
    done = subprocess.run(
        [*args, "hi"], capture_output=True, text=True, cwd=REPO, preexec_fn=close_stdin, timeout=60
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("mentra is an agent runtime")
    done = subprocess.run(
        args, capture_output=True, text=True, cwd=REPO, preexec_fn=close_stdin, timeout=60
    )
    assert done.returncode == 2 and "Traceback" not in done.stderr
    assert done.stderr.strip() == (
        "mentra: error: no prompt: give one as an argument, or pipe it on stdin"
    )


def test_a_reader_that_goes_away_stops_the_run_like_sigpipe(mentra: Any, tmp_path: Path) -> None:
    """`mentra run ... | head -1`: no traceback, no tokens spent for nobody; exit 141, what was
    committed is kept, and the run can be resumed."""
    script = tmp_path / "s.yaml"
    script.write_text(
        "turns:\n"
        "  - tool_calls: [{name: shell, input: {command: 'echo one'}}]\n"
        "  - text: never read\n    delay_ms: 1500\n"
        "  - text: resumed\n"
    )
    store = tmp_path / "s.sqlite"
    cmd = [MENTRA, "run", "-m", f"scripted:{script}", "hi", "--store", str(store)]
    proc = subprocess.Popen(
        [*cmd, "--permission-mode", "bypass"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        stdin=subprocess.DEVNULL,
        cwd=tmp_path,
    )
    assert proc.stdout is not None and proc.stderr is not None
    agent_id = json.loads(proc.stdout.readline())["agent_id"]
    proc.stdout.close()  # the reader is gone; the next event has nowhere to go
    proc.wait(timeout=30)
    err = proc.stderr.read().decode()
    proc.stderr.close()
    assert proc.returncode == 141, err
    assert err == "mentra: interrupted: interrupted by signal 13 (SIGPIPE)\n"
    con = sqlite3.connect(store)
    (status,) = con.execute("SELECT status FROM runs WHERE agent_id = ?", (agent_id,)).fetchone()
    con.close()
    assert status == "interrupted"
    r = mentra("resume", agent_id, "go on", "--store", str(store), cwd=tmp_path)
    assert r.code == 0, r.stderr
    assert r.events[-1]["status"] == "success"


def test_untrusted_project_notice_comes_right_after_session_started_on_a_text_only_run(
    mentra: Any, tmp_path: Path
) -> None:
    """A run that never calls a tool still says its project's allow rules were ignored."""
    ws = tmp_path / "ws"
    (ws / ".mentra").mkdir(parents=True)
    (ws / ".mentra" / "policy.yaml").write_text("allow: [shell]\n")
    script = ws / "s.yaml"
    script.write_text('turns:\n  - text: "hello"\n')
    r = mentra(
        "run",
        "-m",
        "scripted:s.yaml",
        "-C",
        str(ws),
        "hi",
        "--ephemeral",
        "--no-user-config",
        cwd=ws,
    )
    assert r.code == 0, r.stderr
    assert r.types[:2] == ["session_started", "notice"], r.types
    notice = r.events[1]
    assert notice["level"] == "warning" and "untrusted" in notice["message"]
    assert r.types[-1] == "run_finished"
    assert r.types.count("notice") == 1


def test_a_relative_script_path_is_resolved_against_the_workspace(
    mentra: Any, tmp_path: Path
) -> None:
    """`-m scripted:REL` names a script in the workspace (`-C`), wherever mentra starts."""
    ws = tmp_path / "ws"
    ws.mkdir()
    (ws / "s.yaml").write_text('turns:\n  - text: "from the workspace"\n')
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    r = mentra("run", "-m", "scripted:s.yaml", "-C", str(ws), "hi", "--ephemeral", cwd=elsewhere)
    assert r.code == 0, r.stderr
    assert r.events[-1]["final_text"] == "from the workspace"
