"""User hooks through real `mentra` processes, real hook scripts and the scripted provider
(issue 19's done-when list), plus the edges: failures, refusal, trust, the audit log."""

from __future__ import annotations

import json
import sqlite3
import time
from pathlib import Path
from typing import Any

from tests.hooks.conftest import ToolChat, pid_alive, text_reply, tool_call_reply, write_hook

GUARD = """
command = event["tool"]["input"].get("command", "")
if "rm" in command.split():
    sys.stderr.write(f"no rm here ({os.environ['MENTRA_HOOK']}): {command}")
    sys.exit(2)
"""


def _script(ws: Path, *turns: str) -> None:
    (ws / "script.yaml").write_text("turns:\n" + "".join(turns), encoding="utf-8")


def _shell_turn(command: str) -> str:
    return (
        f"  - tool_calls:\n      - name: shell\n        input: {{command: {json.dumps(command)}}}\n"
    )


def _text_turn(text: str) -> str:
    return f"  - text: {json.dumps(text)}\n"


def _config(ws: Path, hooks_yaml: str, extra: str = "") -> Path:
    path = ws / "agent.yaml"
    path.write_text(f"hooks:\n{hooks_yaml}{extra}", encoding="utf-8")
    return path


def _of(events: list[dict[str, Any]], kind: str) -> list[dict[str, Any]]:
    return [e for e in events if e["type"] == kind]


def _run(mentra: Any, ws: Path, *args: str, prompt: str = "go") -> Any:
    return mentra("run", "-c", "agent.yaml", "-m", "scripted:script.yaml", *args, prompt, cwd=ws)


def test_pre_tool_hook_denies_rm_over_an_allow_rule_with_its_reason(mentra: Any, ws: Path) -> None:
    write_hook(ws, "guard.py", GUARD)
    _config(
        ws, "  pre_tool:\n    - match: shell\n      command: [./guard.py]\n      timeout: 10s\n"
    )
    (ws / "keep.txt").write_text("x")
    _script(ws, _shell_turn("rm keep.txt"), _text_turn("ok"))
    res = _run(mentra, ws, "--allow", "shell", "--ephemeral")
    assert res.code == 0, res.stderr
    events = res.events
    assert (ws / "keep.txt").exists()  # the call did not run
    done = _of(events, "tool_completed")[0]
    assert done["is_error"] and "no rm here (pre_tool): rm keep.txt" in done["output"]
    hook = _of(events, "hook_completed")[0]
    assert hook["hook"] == "pre_tool" and hook["command"] == "./guard.py"
    assert hook["exit_code"] == 2 and hook["decision"] == "block" and hook["tool"] == "shell"
    assert isinstance(hook["duration_ms"], int)
    denial = events[-1]["permission_denials"][0]
    assert denial["decided_by"] == "hook" and "no rm here" in denial["reason"]
    assert events[-1]["type"] == "run_finished"


def test_pre_tool_hook_lets_a_command_without_rm_run(mentra: Any, ws: Path) -> None:
    write_hook(ws, "guard.py", GUARD)
    _config(ws, "  pre_tool:\n    - command: [./guard.py]\n")
    _script(ws, _shell_turn("echo fine"), _text_turn("ok"))
    res = _run(mentra, ws, "--allow", "shell", "--ephemeral")
    done = _of(res.events, "tool_completed")[0]
    assert not done["is_error"] and "fine" in done["output"]
    assert _of(res.events, "hook_completed")[0]["decision"] == "none"
    assert res.events[-1]["permission_denials"] == []


def test_a_rewritten_input_changes_what_runs(mentra: Any, ws: Path) -> None:
    write_hook(
        ws,
        "rewrite.py",
        'if event["tool"]["input"] == {"command": "ls"}:\n'
        '    print(json.dumps({"input": {"command": "ls -la"}}))',
    )
    (ws / "visible.txt").write_text("x")
    _config(ws, "  pre_tool:\n    - command: ./rewrite.py\n")
    _script(ws, _shell_turn("ls"), _text_turn("ok"))
    res = _run(mentra, ws, "--allow", "shell", "--ephemeral")
    assert res.code == 0, res.stderr
    output = _of(res.events, "tool_completed")[0]["output"]
    assert "visible.txt" in output
    assert "total" in output and " .." in output  # what `ls -la` prints and `ls` does not
    assert _of(res.events, "hook_completed")[0]["decision"] == "rewrite"


def test_a_rewrite_is_validated_and_decided_again(mentra: Any, ws: Path) -> None:
    write_hook(
        ws,
        "rewrite.py",
        'cmd = event["tool"]["input"]["command"]\n'
        'new = {"command": 42} if cmd == "bad" else {"command": "rm -rf gone"}\n'
        'print(json.dumps({"decision": "allow", "input": new}))',
    )
    (ws / "gone").mkdir()
    _config(ws, "  pre_tool:\n    - command: [./rewrite.py]\n")
    _script(ws, _shell_turn("bad"), _shell_turn("harmless"), _text_turn("ok"))
    res = _run(mentra, ws, "--allow", "shell", "--deny", "shell(rm *)", "--ephemeral")
    assert res.code == 0, res.stderr
    first, second = _of(res.events, "tool_completed")
    assert first["is_error"] and "rewrote the input into one the tool refuses" in first["output"]
    assert second["is_error"] and "denied by rule shell(rm *)" in second["output"]
    assert (ws / "gone").is_dir()
    by = [d["decided_by"] for d in res.events[-1]["permission_denials"]]
    assert by == ["hook", "rule"]


def test_hook_allow_turns_an_ask_into_allow_but_never_lifts_a_deny(mentra: Any, ws: Path) -> None:
    write_hook(ws, "yes.py", 'print(json.dumps({"decision": "allow", "reason": "ci says yes"}))')
    _config(ws, "  pre_tool:\n    - command: [./yes.py]\n")
    _script(ws, _shell_turn("echo asked"), _shell_turn("rm -rf nothing"), _text_turn("ok"))
    # no allow rule: shell asks in the default mode, and nobody could answer
    res = _run(mentra, ws, "--deny", "shell(rm *)", "--ephemeral")
    first, second = _of(res.events, "tool_completed")
    assert not first["is_error"] and "asked" in first["output"]
    resolved = _of(res.events, "permission_resolved")
    assert resolved[0]["decided_by"] == "hook" and resolved[0]["outcome"] == "allow"
    assert resolved[0]["reason"] == "ci says yes"
    assert second["is_error"] and "denied by rule" in second["output"]
    assert len(_of(res.events, "hook_completed")) == 1  # a denied call never reaches the hook


def test_a_hook_that_times_out_denies_the_call_and_kills_its_group(mentra: Any, ws: Path) -> None:
    write_hook(
        ws,
        "slow.py",
        "import subprocess, time\n"
        "child = subprocess.Popen(['sleep', '60'])\n"
        "open('child.pid', 'w').write(str(child.pid))\n"
        "time.sleep(60)",
    )
    _config(ws, "  pre_tool:\n    - command: [./slow.py]\n      timeout: 500ms\n")
    _script(ws, _shell_turn("echo never"), _text_turn("finished"))
    started = time.monotonic()
    res = _run(mentra, ws, "--allow", "shell", "--ephemeral")
    assert time.monotonic() - started < 20
    assert res.code == 0, res.stderr
    done = _of(res.events, "tool_completed")[0]
    assert done["is_error"] and "timed out after 0.5s" in done["output"]
    hook = _of(res.events, "hook_completed")[0]
    assert hook["decision"] == "error" and hook["exit_code"] is None
    assert res.events[-1]["status"] == "success" and res.events[-1]["final_text"] == "finished"
    assert not pid_alive(int((ws / "child.pid").read_text()))


def test_a_crashing_pre_tool_hook_fails_closed(mentra: Any, ws: Path) -> None:
    write_hook(ws, "crash.py", "raise SystemExit(3)")
    _config(ws, "  pre_tool:\n    - command: [./crash.py]\n    - command: [./missing-hook]\n")
    _script(ws, _shell_turn("echo hi"), _text_turn("ok"))
    res = _run(mentra, ws, "--allow", "shell", "--ephemeral")
    done = _of(res.events, "tool_completed")[0]
    assert done["is_error"] and "failed: exit code 3" in done["output"]
    assert res.events[-1]["permission_denials"][0]["decided_by"] == "hook"


def test_post_tool_hook_sees_the_result_and_its_context_reaches_the_next_request(
    mentra: Any, ws: Path, toolchat: ToolChat
) -> None:
    write_hook(
        ws,
        "after.py",
        "open('seen.json', 'w').write(json.dumps({'event': event, 'env': {k: os.environ.get(k) "
        "for k in ('MENTRA_HOOK', 'MENTRA_AGENT_ID', 'MENTRA_RUN_ID', 'SECRET_X')}}))\n"
        "print(json.dumps({'additional_context': 'HOOK-CONTEXT-42: the build is green'}))",
    )
    (ws / "agent.yaml").write_text(
        "hooks:\n  post_tool:\n    - match: 'sh*'\n      command: [./after.py]\n"
        + toolchat.provider_yaml(),
        encoding="utf-8",
    )
    toolchat.replies = [tool_call_reply("shell", {"command": "echo from-the-tool"})]
    res = mentra(
        "run", "-c", "agent.yaml", "-m", "fakechat:fake-1", "--allow", "shell", "--ephemeral",
        "go", cwd=ws, env={"SECRET_X": "leak"},
    )  # fmt: skip
    assert res.code == 0, res.stderr
    seen = json.loads((ws / "seen.json").read_text())
    event = seen["event"]
    assert event["hook"] == "post_tool" and event["cwd"] == str(ws.resolve())
    assert event["tool"]["name"] == "shell" and event["tool"]["call_id"] == "call_a"
    assert event["tool"]["input"] == {"command": "echo from-the-tool"}
    assert "from-the-tool" in event["result"]["output"] and event["result"]["is_error"] is False
    started = res.events[0]
    assert seen["env"] == {
        "MENTRA_HOOK": "post_tool",
        "MENTRA_AGENT_ID": started["agent_id"],
        "MENTRA_RUN_ID": started["run_id"],
        "SECRET_X": None,  # the policy's environment: only env_allow variables
    }
    assert len(toolchat.requests) == 2
    assert "HOOK-CONTEXT-42" not in json.dumps(toolchat.requests[0])
    assert "HOOK-CONTEXT-42: the build is green" in json.dumps(toolchat.requests[1])
    assert _of(res.events, "hook_completed")[0]["decision"] == "context"


def test_post_tool_hook_output_replaces_the_result_and_a_failure_is_a_notice(
    mentra: Any, ws: Path
) -> None:
    write_hook(ws, "redact.py", "print(json.dumps({'output': 'redacted'}))")
    write_hook(ws, "broken.py", "sys.exit(1)")
    _config(ws, "  post_tool:\n    - command: [./broken.py]\n    - command: [./redact.py]\n")
    _script(ws, _shell_turn("echo secret"), _text_turn("ok"))
    res = _run(mentra, ws, "--allow", "shell", "--ephemeral")
    assert res.code == 0
    assert _of(res.events, "tool_completed")[0]["output"] == "redacted"
    notices = [n["message"] for n in _of(res.events, "notice")]
    assert any("post_tool hook `./broken.py` failed: exit code 1" in n for n in notices)


def test_a_stop_hook_that_continues_once_makes_one_more_round(mentra: Any, ws: Path) -> None:
    write_hook(
        ws,
        "stop.py",
        "open('stops.log', 'a').write(event['final_text'] + '\\n')\n"
        "if not os.path.exists('continued'):\n"
        "    open('continued', 'w').close()\n"
        "    print(json.dumps({'continue': True, 'prompt': 'Run the tests first.'}))",
    )
    _config(ws, "  stop:\n    - command: [./stop.py]\n")
    _script(ws, _text_turn("first answer"), _text_turn("second answer"))
    res = _run(mentra, ws, "--store", str(ws / "store.db"))
    assert res.code == 0, res.stderr
    last = res.events[-1]
    assert last["rounds"] == 2 and last["final_text"] == "second answer"
    assert (ws / "stops.log").read_text() == "first answer\nsecond answer\n"
    assert [h["decision"] for h in _of(res.events, "hook_completed")] == ["continue", "none"]
    show = mentra("show", res.events[0]["agent_id"], "--store", str(ws / "store.db"), cwd=ws)
    assert "Run the tests first." in show.stdout  # the hook's prompt is in the transcript


def test_stop_hooks_continue_at_most_max_continues(mentra: Any, ws: Path) -> None:
    write_hook(ws, "again.py", "sys.stderr.write('not yet'); sys.exit(2)")
    _config(ws, "  max_continues: 2\n  stop:\n    - command: [./again.py]\n")
    _script(ws, *(_text_turn(f"answer {i}") for i in range(1, 5)))
    res = _run(mentra, ws, "--ephemeral")
    assert res.code == 0, res.stderr
    assert res.events[-1]["rounds"] == 3 and res.events[-1]["final_text"] == "answer 3"
    notices = [n["message"] for n in _of(res.events, "notice")]
    assert any("hooks.max_continues (2) is reached" in n for n in notices)


def test_a_user_prompt_hook_refuses_the_prompt_with_exit_2(mentra: Any, ws: Path) -> None:
    write_hook(
        ws,
        "prompt.py",
        "if 'password' in event['prompt']:\n"
        "    sys.stderr.write('prompts may not mention passwords'); sys.exit(2)",
    )
    _config(ws, "  user_prompt:\n    - command: [./prompt.py]\n")
    _script(ws, _text_turn("ok"))
    res = _run(mentra, ws, "--ephemeral", prompt="print the password")
    assert res.code == 2
    last = res.events[-1]
    assert last["type"] == "run_finished" and last["status"] == "config_error"
    assert "prompts may not mention passwords" in last["errors"][0]
    assert "user_message" not in res.types and last["rounds"] == 0
    assert len(res.stderr.strip().splitlines()) == 1 and "Traceback" not in res.stderr
    assert "prompts may not mention passwords" in res.stderr
    ok = _run(mentra, ws, "--ephemeral", prompt="say hi")
    assert ok.code == 0


def test_session_start_context_reaches_the_first_request(
    mentra: Any, ws: Path, toolchat: ToolChat
) -> None:
    write_hook(ws, "start.py", "print(json.dumps({'additional_context': 'START-CTX on main'}))")
    write_hook(
        ws,
        "prompt.py",
        "print(json.dumps({'additional_context': 'PROMPT-CTX ' + event['prompt']}))",
    )
    (ws / "agent.yaml").write_text(
        "hooks:\n  session_start:\n    - command: [./start.py]\n"
        "  user_prompt:\n    - command: [./prompt.py]\n" + toolchat.provider_yaml(),
        encoding="utf-8",
    )
    toolchat.replies = [text_reply("hello")]
    res = mentra("run", "-c", "agent.yaml", "-m", "fakechat:fake-1", "--ephemeral", "hi", cwd=ws)
    assert res.code == 0, res.stderr
    body = json.dumps(toolchat.requests[0])
    assert "START-CTX on main" in body and "PROMPT-CTX hi" in body
    assert [h["hook"] for h in _of(res.events, "hook_completed")] == [
        "session_start",
        "user_prompt",
    ]
    assert res.types.index("hook_completed") > res.types.index("session_started")


def test_an_untrusted_projects_hooks_do_not_run(mentra: Any, ws: Path) -> None:
    write_hook(ws, "mark.py", "open('marker', 'a').write(event['hook'] + '\\n')")
    (ws / ".mentra").mkdir()
    (ws / ".mentra" / "policy.yaml").write_text(
        "hooks:\n  session_start:\n    - command: [./mark.py]\n"
        "  pre_tool:\n    - command: [./mark.py]\n",
        encoding="utf-8",
    )
    (ws / "agent.yaml").write_text("name: plain\n", encoding="utf-8")
    _script(ws, _shell_turn("echo hi"), _text_turn("ok"))
    res = _run(mentra, ws, "--allow", "shell", "--ephemeral")
    assert res.code == 0, res.stderr
    assert not (ws / "marker").exists()
    assert "hook_completed" not in res.types
    notices = [n["message"] for n in _of(res.events, "notice")]
    assert any("ignored 2 hooks in untrusted project policy" in n for n in notices)
    trusted = _run(mentra, ws, "--allow", "shell", "--ephemeral", "--trust-project")
    assert trusted.code == 0, trusted.stderr
    assert (ws / "marker").read_text() == "session_start\npre_tool\n"


def test_hooks_from_a_policy_file_run_and_decisions_are_audited(mentra: Any, ws: Path) -> None:
    write_hook(ws, "guard.py", GUARD)
    (ws / "policy.yaml").write_text(
        "allow: [shell]\nhooks:\n  pre_tool:\n    - command: ./guard.py\n", encoding="utf-8"
    )
    (ws / "agent.yaml").write_text("name: audited\n", encoding="utf-8")
    _script(ws, _shell_turn("rm -rf x"), _text_turn("ok"))
    store = ws / "store.db"
    res = _run(mentra, ws, "--policy", "policy.yaml", "--store", str(store))
    assert res.code == 0, res.stderr
    with sqlite3.connect(store) as db:
        rows = db.execute("SELECT outcome, decided_by, rule FROM audit").fetchall()
    assert rows == [("deny", "hook", "./guard.py")]


def test_a_bad_hooks_block_is_a_config_error_at_its_line(mentra: Any, ws: Path) -> None:
    _config(ws, "  pre_tool:\n    - command: []\n  post_tol: []\n")
    _script(ws, _text_turn("ok"))
    res = _run(mentra, ws, "--ephemeral")
    assert res.code == 2 and res.stdout == ""
    assert "agent.yaml:3:16: hooks.pre_tool.0.command: a hook command must not be empty" in (
        res.stderr
    )
    assert len(res.stderr.strip().splitlines()) == 1 and "Traceback" not in res.stderr


def test_hooks_test_prints_the_decision(mentra: Any, ws: Path) -> None:
    write_hook(ws, "guard.py", GUARD)
    _config(ws, "  pre_tool:\n    - match: shell\n      command: [./guard.py]\n")
    event = {"tool": {"name": "shell", "input": {"command": "rm -rf /"}}}
    res = mentra(
        "hooks", "test", "pre_tool", "-c", "agent.yaml", "--input", json.dumps(event), cwd=ws
    )
    assert res.code == 0, res.stderr
    answer = json.loads(res.stdout)
    assert answer["decision"] == "deny" and "no rm here (pre_tool): rm -rf /" in answer["reason"]
    assert answer["hooks"][0]["command"] == "./guard.py" and answer["hooks"][0]["exit_code"] == 2
    fine = {"tool": {"name": "shell", "input": {"command": "ls"}}}
    res = mentra(
        "hooks", "test", "pre_tool", "-c", "agent.yaml", "--input", json.dumps(fine), cwd=ws
    )
    assert json.loads(res.stdout)["decision"] == "none"
    other = {"tool": {"name": "files", "input": {}}}  # `match: shell` does not cover it
    res = mentra(
        "hooks", "test", "pre_tool", "-c", "agent.yaml", "--input", json.dumps(other), cwd=ws
    )
    assert json.loads(res.stdout)["hooks"] == []


def test_hooks_test_refuses_bad_input(mentra: Any, ws: Path) -> None:
    _config(ws, "  stop: []\n")
    for args, needle in (
        (["nope"], "unknown hook 'nope'"),
        (["pre_tool", "--input", "{"], "--input is not valid JSON"),
        (["pre_tool", "--input", "{}"], '--input for pre_tool needs "tool"'),
    ):
        res = mentra("hooks", "test", *args, "-c", "agent.yaml", cwd=ws)
        assert res.code == 2 and needle in res.stderr, (args, res.stderr)
        assert len(res.stderr.strip().splitlines()) == 1 and res.stdout == ""


def test_hook_ask_sends_an_allowed_call_to_the_approver(mentra: Any, ws: Path) -> None:
    write_hook(ws, "ask.py", 'print(json.dumps({"decision": "ask", "reason": "a human looks"}))')
    write_hook(ws, "approve.py", "print('deny')")
    _config(ws, "  pre_tool:\n    - command: [./ask.py]\n")
    _script(ws, _shell_turn("echo allowed-by-rule"), _text_turn("ok"))
    res = _run(mentra, ws, "--allow", "shell", "--approval-command", "./approve.py", "--ephemeral")
    assert res.code == 0, res.stderr
    assert "permission_requested" in res.types
    done = _of(res.events, "tool_completed")[0]
    assert done["is_error"] and "allowed-by-rule" not in done["output"]
    assert res.events[-1]["permission_denials"][0]["decided_by"] == "approval_command"


def test_schema_events_has_hook_completed_and_who_denied(mentra: Any, ws: Path) -> None:
    res = mentra("schema", "events", cwd=ws)
    schema = json.loads(res.stdout)["$defs"]
    assert schema["HookCompleted"]["properties"]["type"]["const"] == "hook_completed"
    assert {"hook", "command", "exit_code", "decision", "duration_ms"} <= set(
        schema["HookCompleted"]["properties"]
    )
    assert "decided_by" in schema["PermissionDenial"]["properties"]


def test_user_config_and_user_policy_hooks_run_unless_no_user_config(mentra: Any, ws: Path) -> None:
    import os

    user_dir = Path(os.environ["MENTRA_CONFIG_DIR"])
    user_dir.mkdir(parents=True, exist_ok=True)
    mark = write_hook(ws, "mark.py", "open('marker', 'a').write(sys.argv[1] + '\\n')")
    (user_dir / "config.yaml").write_text(
        f"hooks:\n  session_start:\n    - command: [{mark}, user-config]\n", encoding="utf-8"
    )
    (user_dir / "policy.yaml").write_text(
        f"hooks:\n  session_start:\n    - command: [{mark}, user-policy]\n", encoding="utf-8"
    )
    _script(ws, _text_turn("ok"))
    res = mentra("run", "-m", "scripted:script.yaml", "--ephemeral", "hi", cwd=ws)
    assert res.code == 0, res.stderr
    assert (ws / "marker").read_text() == "user-policy\nuser-config\n"
    (ws / "marker").unlink()
    res = mentra(
        "run", "-m", "scripted:script.yaml", "--ephemeral", "--no-user-config", "hi", cwd=ws
    )
    assert res.code == 0 and not (ws / "marker").exists()
