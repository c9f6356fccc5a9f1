"""Compaction end to end: real `mentra` processes, a real SQLite store, and a Chat Completions
server on 127.0.0.1 whose request bodies are the evidence."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from tests.context.conftest import ContextChat, text_reply, tool_call_reply


def _of(events: list[dict[str, Any]], kind: str) -> list[dict[str, Any]]:
    return [e for e in events if e["type"] == kind]


def _write_logs(ws: Path, sizes: dict[int, int]) -> None:
    for n, size in sizes.items():
        (ws / f"log{n}.txt").write_text(f"LOG{n}-MARK " + "x" * size, encoding="utf-8")


def _cat(n: int) -> bytes:
    return tool_call_reply("shell", {"command": f"cat log{n}.txt"}, call_id=f"call_{n}")


def _tool_contents(body: dict[str, Any]) -> list[str]:
    return [m["content"] for m in body["messages"] if m["role"] == "tool"]


RUN = ("--allow", "shell", "-m", "fakechat:fake-1")


def test_auto_compaction_summarizes_and_resume_starts_from_the_summary(
    mentra: Any, ws: Path, chat: ContextChat
) -> None:
    _write_logs(ws, {1: 4000, 2: 4000, 3: 4000})
    (ws / "agent.yaml").write_text(
        # auto-recall off: the memory episode of the first run would bring its results back
        chat.config(
            "context:\n  compact_threshold_tokens: 2500\n", "memory: {auto_recall: false}\n"
        ),
        encoding="utf-8",
    )
    chat.replies = [_cat(1), _cat(2), _cat(3), text_reply("all three read")]
    res = mentra("run", "-c", "agent.yaml", *RUN, "read the logs FIRST-PROMPT", cwd=ws)
    assert res.code == 0, res.stderr
    events = res.events
    assert events[-1]["type"] == "run_finished" and events[-1]["status"] == "success"
    assert events[-1]["final_text"] == "all three read"
    (started,) = _of(events, "compaction_started")
    (completed,) = _of(events, "compaction_completed")
    assert started["trigger"] == "auto" and started["tokens_before"] > 2500
    assert completed["tokens_before"] == started["tokens_before"]
    assert completed["tokens_after"] < completed["tokens_before"]
    assert completed["summary"].startswith("[Compaction summary]\nGoal: read the three logs")
    assert "path: log1.txt" in completed["summary"]  # the extracted facts are kept
    types = res.types
    assert types.index("compaction_started") < types.index("compaction_completed")
    # memory is on by default: the summary is kept as a `summary` record
    assert any(e["kind"] == "summary" for e in _of(events, "memory_updated"))

    # the summary request: no tools, strict JSON asked, the facts block first
    (ask,) = chat.summary_requests
    assert "tools" not in ask and ask.get("max_tokens", ask.get("max_completion_tokens")) == 2000
    text = json.dumps(ask)
    assert "EXTRACTED FACTS (must preserve verbatim)" in text and "open_questions" in text
    assert "LOG1-MARK" in text and "LOG2-MARK" in text

    # the request after the compaction carries the summary, not the old results, and is smaller
    assert len(chat.requests) == 4
    before, after = chat.requests[2], chat.requests[3]
    assert "LOG1-MARK" in json.dumps(before)
    sent = json.dumps(after)
    assert "[Compaction summary]" in sent and "FIRST-PROMPT" in sent  # the user turn is kept
    assert "LOG1-MARK" not in sent and "LOG2-MARK" not in sent
    assert "LOG3-MARK" in sent  # the tail: the last call with its result
    assert len(sent) < len(json.dumps(before))

    # nothing is lost: `mentra show` prints every message, and the marker
    agent_id = events[0]["agent_id"]
    shown = mentra("show", agent_id, cwd=ws)
    assert shown.code == 0, shown.stderr
    lines = [json.loads(line) for line in shown.stdout.splitlines()]
    assert "FIRST-PROMPT" in json.dumps(lines[0])
    assert all(f"LOG{n}-MARK" in shown.stdout for n in (1, 2, 3))
    (marker,) = [line for line in lines if "compaction" in line]
    assert marker["compaction"]["trigger"] == "auto"
    assert marker["compaction"]["summary"]["goal"] == "read the three logs"
    assert marker["content"][0]["text"] == completed["summary"]
    assert lines[-1]["content"][0]["text"] == "all three read"

    # a new process resumes from the latest summary, not the old history
    chat.replies = [text_reply("resumed")]
    again = mentra("resume", agent_id, "what next? SECOND-PROMPT", *RUN, cwd=ws)
    assert again.code == 0, again.stderr
    assert again.events[-1]["final_text"] == "resumed"
    resumed = json.dumps(chat.requests[-1])
    assert "[Compaction summary]" in resumed and "SECOND-PROMPT" in resumed
    assert "LOG1-MARK" not in resumed and "LOG2-MARK" not in resumed
    assert "LOG3-MARK" in resumed and "all three read" in resumed


def test_micro_compaction_sends_the_last_three_results_whole(
    mentra: Any, ws: Path, chat: ContextChat
) -> None:
    _write_logs(ws, {1: 300, 2: 10, 3: 300, 4: 300, 5: 300, 6: 300})  # log2's result is short
    (ws / "agent.yaml").write_text(chat.config(), encoding="utf-8")
    chat.replies = [*(_cat(n) for n in range(1, 7)), text_reply("done")]
    res = mentra("run", "-c", "agent.yaml", *RUN, "--ephemeral", "read six logs", cwd=ws)
    assert res.code == 0, res.stderr
    assert not _of(res.events, "compaction_started")  # under the threshold: micro only
    sixth, seventh = _tool_contents(chat.requests[5]), _tool_contents(chat.requests[6])
    assert len(sixth) == 5 and len(seventh) == 6
    assert sixth[0] == "[Previous: used shell]"
    assert "LOG2-MARK" in sixth[1]  # short: kept
    assert all(f"LOG{n}-MARK" in sixth[n - 1] for n in (3, 4, 5))
    assert seventh[0] == seventh[2] == "[Previous: used shell]"
    assert "LOG2-MARK" in seventh[1]
    assert all(f"LOG{n}-MARK" in seventh[n - 1] for n in (4, 5, 6))


def test_micro_compaction_is_request_only_and_can_be_turned_off(
    mentra: Any, ws: Path, chat: ContextChat
) -> None:
    _write_logs(ws, dict.fromkeys(range(1, 6), 300))
    (ws / "agent.yaml").write_text(
        chat.config("context:\n  keep_recent_tool_results: 0\n"), encoding="utf-8"
    )
    chat.replies = [*(_cat(n) for n in range(1, 6)), text_reply("done")]
    res = mentra("run", "-c", "agent.yaml", *RUN, "read", cwd=ws)
    assert res.code == 0, res.stderr
    last = _tool_contents(chat.requests[-1])
    assert all(f"LOG{n}-MARK" in last[n - 1] for n in range(1, 6))
    shown = mentra("show", res.events[0]["agent_id"], cwd=ws)
    assert all(f"LOG{n}-MARK" in shown.stdout for n in range(1, 6))


def test_a_failed_summary_is_reported_and_the_run_goes_on(
    mentra: Any, ws: Path, chat: ContextChat
) -> None:
    _write_logs(ws, {1: 4000, 2: 4000, 3: 4000})
    (ws / "agent.yaml").write_text(
        chat.config("context:\n  compact_threshold_tokens: 1500\n"), encoding="utf-8"
    )
    chat.summary_replies = [(400, b'{"error": {"message": "summary refused", "type": "x"}}')]
    chat.replies = [_cat(1), _cat(2), _cat(3), text_reply("done anyway")]
    res = mentra(
        "run", "-c", "agent.yaml", *RUN, "--ephemeral", "--verbose", "read the logs", cwd=ws
    )  # fmt: skip
    assert res.code == 0, res.stderr
    assert "compaction failed: " in res.stderr and "summary refused" in res.stderr
    events = res.events
    (failed,) = _of(events, "compaction_failed")  # once: auto-compaction stops trying
    assert failed["trigger"] == "auto" and "summary refused" in failed["error"]
    assert not _of(events, "compaction_completed")
    assert len(chat.summary_requests) == 1
    assert "LOG1-MARK" in json.dumps(chat.requests[-1])  # the whole history, micro-compacted
    assert events[-1]["type"] == "run_finished" and events[-1]["final_text"] == "done anyway"


def test_a_transient_summary_failure_is_retried(mentra: Any, ws: Path, chat: ContextChat) -> None:
    _write_logs(ws, {1: 4000, 2: 4000})
    (ws / "agent.yaml").write_text(
        chat.config("context:\n  compact_threshold_tokens: 1500\n"), encoding="utf-8"
    )
    busy = (503, b'{"error": {"message": "overloaded", "type": "x"}}')
    chat.summary_replies = [busy, (200, text_reply("not JSON: read log1 so far"))]
    chat.replies = [_cat(1), _cat(2), text_reply("done")]
    res = mentra("run", "-c", "agent.yaml", *RUN, "--ephemeral", "--verbose", "read", cwd=ws)
    assert res.code == 0, res.stderr
    assert "context compacted: ~" in res.stderr
    assert len(chat.summary_requests) == 2
    (completed,) = _of(res.events, "compaction_completed")
    # a reply that is not JSON becomes the progress
    assert "Progress: not JSON: read log1 so far" in completed["summary"]


def test_compact_at_flag_sets_the_threshold(mentra: Any, ws: Path, chat: ContextChat) -> None:
    _write_logs(ws, {1: 4000, 2: 4000})
    (ws / "agent.yaml").write_text(chat.config(), encoding="utf-8")
    chat.replies = [_cat(1), _cat(2), text_reply("done")]
    res = mentra(
        "run", "-c", "agent.yaml", *RUN, "--ephemeral", "--compact-at", "1500", "read", cwd=ws
    )  # fmt: skip
    assert res.code == 0, res.stderr
    assert _of(res.events, "compaction_completed")
    for value in ("-1", "1.5", "nan", "inf"):
        bad = mentra(
            "run", "-c", "agent.yaml", *RUN, "--ephemeral", f"--compact-at={value}", "x", cwd=ws
        )
        assert bad.code == 2, (value, bad.stderr)
        assert bad.stderr.count("\n") == 1 and "--compact-at" in bad.stderr
        assert "Traceback" not in bad.stderr


def test_a_request_over_the_window_is_never_sent(mentra: Any, ws: Path, chat: ContextChat) -> None:
    _write_logs(ws, {1: 12000})
    (ws / "agent.yaml").write_text(
        chat.config("context:\n  window_tokens: 2000\n  auto_compact: false\n"),
        encoding="utf-8",
    )
    chat.replies = [_cat(1), text_reply("never")]
    res = mentra("run", "-c", "agent.yaml", *RUN, "--ephemeral", "read", cwd=ws)
    assert res.code == 3
    assert len(chat.requests) == 1  # the second request was not sent
    assert res.events[-1]["type"] == "run_finished"
    assert res.events[-1]["status"] == "provider_error"
    assert "2000-token context window" in res.events[-1]["errors"][0]
    assert res.stderr.count("\n") == 1 and "auto_compact is false" in res.stderr


def test_the_compact_tool_compacts_on_demand(mentra: Any, ws: Path, chat: ContextChat) -> None:
    _write_logs(ws, {1: 300})
    (ws / "agent.yaml").write_text(chat.config(), encoding="utf-8")
    chat.replies = [_cat(1), tool_call_reply("compact", {}, call_id="call_c"), text_reply("ok")]
    res = mentra("run", "-c", "agent.yaml", *RUN, "--ephemeral", "phase one", cwd=ws)
    assert res.code == 0, res.stderr
    assert "compact" in res.events[0]["tools"]
    (started,) = _of(res.events, "compaction_started")
    assert started["trigger"] == "manual"
    assert _of(res.events, "compaction_completed")
    last = json.dumps(chat.requests[-1])
    assert "[Compaction summary]" in last and "LOG1-MARK" not in last
    assert "Compaction scheduled" in last  # the tool's result is in the tail


def test_a_tail_too_large_for_the_window_ends_the_run_with_a_provider_error(
    mentra: Any, ws: Path, chat: ContextChat
) -> None:
    _write_logs(ws, {1: 12000})
    (ws / "agent.yaml").write_text(
        chat.config("context:\n  window_tokens: 2000\n"), encoding="utf-8"
    )
    chat.replies = [_cat(1), text_reply("never")]
    res = mentra("run", "-c", "agent.yaml", *RUN, "--ephemeral", "read", cwd=ws)
    assert res.code == 3, res.stderr
    assert _of(res.events, "compaction_completed")  # it tried, and the last exchange is too big
    assert len(chat.requests) == 1
    assert "too large" in res.stderr and res.stderr.count("\n") == 1
    assert res.events[-1]["type"] == "run_finished"


def test_pre_compact_hooks_say_what_the_summary_must_keep(
    mentra: Any, ws: Path, chat: ContextChat
) -> None:
    from tests.hooks.conftest import write_hook

    write_hook(ws, "keep.py", "print(json.dumps({'additional_context': 'KEEP-ME: port 8080'}))")
    _write_logs(ws, {1: 4000, 2: 4000})
    (ws / "agent.yaml").write_text(
        chat.config(
            "context:\n  compact_threshold_tokens: 1500\n",
            "hooks:\n  pre_compact:\n    - command: [./keep.py]\n",
        ),
        encoding="utf-8",
    )
    chat.replies = [_cat(1), _cat(2), text_reply("done")]
    res = mentra("run", "-c", "agent.yaml", *RUN, "--ephemeral", "read", cwd=ws)
    assert res.code == 0, res.stderr
    assert "keep: KEEP-ME: port 8080" in json.dumps(chat.summary_requests[0])
    (completed,) = _of(res.events, "compaction_completed")
    assert "KEEP-ME: port 8080" in completed["summary"]
    assert any(e.get("hook") == "pre_compact" for e in _of(res.events, "hook_completed"))


SCRIPT = """\
turns:
  - tool_calls: [{name: shell, input: {command: cat log1.txt}}]
  - tool_calls: [{name: shell, input: {command: cat log2.txt}}]
  - tool_calls: [{name: shell, input: {command: cat log3.txt}}]
  - text: first run done
  - text: second run done
compaction:
  - text: '{"goal": "scripted goal", "progress": "two logs read"}'
    usage: {input_tokens: 1000, output_tokens: 50}
"""


def test_a_scripted_run_continues_its_script_across_a_compaction_and_a_resume(
    mentra: Any, ws: Path
) -> None:
    _write_logs(ws, {1: 4000, 2: 4000, 3: 4000})
    (ws / "script.yaml").write_text(SCRIPT, encoding="utf-8")
    (ws / "agent.yaml").write_text(
        "name: s\ncontext:\n  compact_threshold_tokens: 2500\n", encoding="utf-8"
    )
    args = ("-c", "agent.yaml", "-m", "scripted:script.yaml", "--allow", "shell")
    res = mentra("run", *args, "go", cwd=ws)
    assert res.code == 0, res.stderr
    (completed,) = _of(res.events, "compaction_completed")
    assert "Goal: scripted goal" in completed["summary"]
    # the turns the summary stands for still count: the script's 4th reply came, not the 2nd
    assert res.events[-1]["final_text"] == "first run done"
    # the summary request's usage is the run's (the script's turns report none)
    assert res.events[-1]["usage"]["input_tokens"] == 1000
    assert res.events[-1]["usage"]["output_tokens"] == 50
    agent_id = res.events[0]["agent_id"]

    # an export carries the marker; the imported agent resumes from it in another store
    exported = mentra("export", agent_id, cwd=ws)
    assert exported.code == 0, exported.stderr
    doc = json.loads(exported.stdout)
    (marked,) = [i for i in doc["transcript"] if "compaction" in i]
    assert marked["compaction"]["fields"]["goal"] == "scripted goal"
    (ws / "a.json").write_text(exported.stdout, encoding="utf-8")
    other = str(ws / "other.db")
    imported = mentra("import", "a.json", "--store", other, cwd=ws)
    assert imported.code == 0, imported.stderr
    assert (
        json.loads(mentra("export", agent_id, "--store", other, cwd=ws).stdout)["transcript"]
        == doc["transcript"]
    )

    again = mentra("resume", agent_id, "more", *args[2:], "--store", other, cwd=ws)
    assert again.code == 0, again.stderr
    assert again.events[-1]["final_text"] == "second run done"
    again = mentra("resume", agent_id, "more", *args[2:], cwd=ws)
    assert again.code == 0, again.stderr
    assert again.events[-1]["final_text"] == "second run done"


def test_a_script_without_a_compaction_reply_fails_the_compaction_not_the_run(
    mentra: Any, ws: Path
) -> None:
    _write_logs(ws, {1: 4000, 2: 4000})
    (ws / "script.yaml").write_text(
        "turns:\n"
        "  - tool_calls: [{name: shell, input: {command: cat log1.txt}}]\n"
        "  - tool_calls: [{name: shell, input: {command: cat log2.txt}}]\n"
        "  - text: done\n",
        encoding="utf-8",
    )
    (ws / "agent.yaml").write_text(
        "name: s\ncontext:\n  compact_threshold_tokens: 1500\n", encoding="utf-8"
    )
    res = mentra(
        "run", "-c", "agent.yaml", "-m", "scripted:script.yaml", "--allow", "shell",
        "--ephemeral", "go", cwd=ws,
    )  # fmt: skip
    assert res.code == 0, res.stderr
    (failed,) = _of(res.events, "compaction_failed")
    assert "no `compaction` reply" in failed["error"]
    assert res.events[-1]["final_text"] == "done"


def test_a_bad_context_block_is_a_config_error_at_its_line(mentra: Any, ws: Path) -> None:
    (ws / "agent.yaml").write_text(
        "name: x\ncontext:\n  compact_at: 0.5\n  compact_threshold_tokens: 10\n",
        encoding="utf-8",
    )
    res = mentra("run", "-c", "agent.yaml", "-m", "scripted:s.yaml", "--ephemeral", "hi", cwd=ws)
    assert res.code == 2 and res.stdout == ""
    assert res.stderr.count("\n") == 1
    assert "agent.yaml:3:3: context: give compact_at or compact_threshold_tokens" in res.stderr
