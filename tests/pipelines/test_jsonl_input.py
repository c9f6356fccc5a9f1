"""`--input-format jsonl` (#20 item 1): one process answers a stream of turns on stdin, each
a run with its own run_id and run_finished, one session_started, through real `mentra`
processes against a fake Chat Completions server on 127.0.0.1."""

from __future__ import annotations

import base64
import contextlib
import json
from pathlib import Path
from typing import Any

from tests.pipelines.fakeserver import RuleServer


def _setup(tmp_path: Path, rules: RuleServer, extra: str = "") -> tuple[str, str]:
    config = tmp_path / "agent.yaml"
    config.write_text(rules.config(extra=extra), encoding="utf-8")
    return str(config), str(tmp_path / "s.sqlite")


def _lines(*turns: object) -> str:
    return "".join((t if isinstance(t, str) else json.dumps(t)) + "\n" for t in turns)


def test_three_turns_in_one_process(mentra: Any, rules: RuleServer, tmp_path: Path) -> None:
    config, store = _setup(tmp_path, rules)
    stdin = _lines(
        {"type": "user", "text": "first"},
        {"type": "user", "message": {"role": "user", "content": "second"}},
        "",  # a blank line is no turn
        {"type": "user", "message": {"role": "user", "content": [{"type": "text", "text": "3"}]}},
    )  # fmt: skip
    done = mentra("run", "-c", config, "--input-format", "jsonl", "--store", store, input=stdin)
    assert done.code == 0, done.stderr
    events = done.events
    assert [e["type"] for e in events].count("session_started") == 1
    assert events[0]["type"] == "session_started" and events[-1]["type"] == "run_finished"
    finished = [e for e in events if e["type"] == "run_finished"]
    assert [f["final_text"] for f in finished] == ["answer 1", "answer 2", "answer 3"]
    assert [f["status"] for f in finished] == ["success"] * 3
    assert len({f["run_id"] for f in finished}) == 3
    assert len({e["agent_id"] for e in events}) == 1
    for run_id in {f["run_id"] for f in finished}:  # each run's events end with its run_finished
        own = [e for e in events if e["run_id"] == run_id]
        assert own[-1]["type"] == "run_finished"
    third = [(m["role"], m["content"]) for m in rules.requests[2]["messages"]]
    assert third == [
        ("system", "be brief"), ("user", "first"), ("assistant", "answer 1"),
        ("user", "second"), ("assistant", "answer 2"), ("user", "3"),
    ]  # fmt: skip
    agent = events[0]["agent_id"]
    again = mentra("resume", agent, "fourth", "--store", store)  # all three turns were stored
    assert again.code == 0, again.stderr
    assert len(rules.requests[3]["messages"]) == 8


def test_a_broken_line_ends_the_stream_with_exit_2(
    mentra: Any, rules: RuleServer, tmp_path: Path
) -> None:
    config, store = _setup(tmp_path, rules)
    stdin = _lines(
        {"type": "user", "text": "one"}, '{"type": "user", "text": ', {"type": "user", "text": "x"}
    )
    done = mentra("run", "-c", config, "--input-format", "jsonl", "--store", store, input=stdin)
    assert done.code == 2
    assert (
        done.stderr.strip().splitlines() == [done.stderr.strip().splitlines()[0]]
        and "stdin line 2: not valid JSON" in done.stderr
    )
    types = done.types
    assert types.count("run_finished") == 1 and types[-1] == "error"
    assert "line 2" in done.events[-1]["message"]
    assert len(rules.requests) == 1  # the third line was never sent


def test_a_line_of_unknown_shape_names_its_line(
    mentra: Any, rules: RuleServer, tmp_path: Path
) -> None:
    config, store = _setup(tmp_path, rules)
    stdin = _lines({"type": "assistant", "text": "no"})
    done = mentra("run", "-c", config, "--input-format", "jsonl", "--store", store, input=stdin)
    assert done.code == 2
    assert done.types == ["error"] and "stdin line 1" in done.events[0]["message"]
    assert done.stderr.count("\n") == 1 and "Traceback" not in done.stderr
    assert rules.requests == []
    listed = mentra("list-agents", "--store", store, "-o", "json", cwd=tmp_path)
    assert json.loads(listed.stdout) == []  # a first line that is no turn leaves no agent


def test_a_failing_turn_stops_the_stream_with_its_code(
    mentra: Any, rules: RuleServer, tmp_path: Path
) -> None:
    config, store = _setup(tmp_path, rules)
    stdin = _lines(*({"type": "user", "text": t} for t in ("one", "PLEASE FAIL", "three")))
    done = mentra("run", "-c", config, "--input-format", "jsonl", "--store", store, input=stdin)
    assert done.code == 3, done.stderr
    finished = [e for e in done.events if e["type"] == "run_finished"]
    assert [f["status"] for f in finished] == ["success", "provider_error"]
    assert done.types[-1] == "run_finished"
    assert len(rules.requests) == 2  # the third turn is not sent
    assert _leases(store) == []  # the failed turn ended the stream and let the agent go


def _leases(store: str) -> list[tuple[str, ...]]:
    import sqlite3

    with contextlib.closing(sqlite3.connect(store)) as conn:
        return [tuple(r) for r in conn.execute("SELECT agent_id, run_id FROM leases")]


def test_output_text_and_json_per_turn(mentra: Any, rules: RuleServer, tmp_path: Path) -> None:
    config, _store = _setup(tmp_path, rules)
    stdin = _lines({"type": "user", "text": "a"}, {"type": "user", "text": "b"})
    text = mentra(
        "run", "-c", config, "--input-format", "jsonl", "--ephemeral", "-o", "text", input=stdin
    )
    assert text.code == 0, text.stderr
    assert text.stdout == "answer 1\nanswer 2\n"
    as_json = mentra(
        "run", "-c", config, "--input-format", "jsonl", "--ephemeral", "-o", "json", input=stdin
    )
    assert as_json.code == 0, as_json.stderr
    decoder, rest, objects = json.JSONDecoder(), as_json.stdout.strip(), []
    while rest:
        obj, end = decoder.raw_decode(rest)
        objects.append(obj)
        rest = rest[end:].strip()
    assert [o["final_text"] for o in objects] == ["answer 3", "answer 4"]


def test_budget_scope_turn_and_session(mentra: Any, rules: RuleServer, tmp_path: Path) -> None:
    config, _store = _setup(tmp_path, rules)
    stdin = _lines(*({"type": "user", "text": t} for t in ("a", "b", "c")))
    per_turn = mentra(
        "run", "-c", config, "--input-format", "jsonl", "--ephemeral", "--max-rounds", "1",
        input=stdin,
    )  # fmt: skip
    assert per_turn.code == 0, per_turn.stderr
    assert per_turn.types.count("run_finished") == 3
    whole = mentra(
        "run", "-c", config, "--input-format", "jsonl", "--ephemeral", "--max-rounds", "2",
        "--budget-scope", "session", input=stdin,
    )  # fmt: skip
    assert whole.code == 4, whole.stderr  # the third turn finds the stream's rounds used up
    finished = [e for e in whole.events if e["type"] == "run_finished"]
    assert [f["status"] for f in finished] == ["success", "success", "limit_reached"]


def test_resume_takes_a_stream_and_images_ride_along(
    mentra: Any, rules: RuleServer, tmp_path: Path
) -> None:
    config, store = _setup(tmp_path, rules)
    first = mentra("run", "-c", config, "hi", "--agent-id", "pipe", "--store", store)
    assert first.code == 0, first.stderr
    png = b"\x89PNG\r\n\x1a\n" + b"\x00" * 16
    (tmp_path / "shot.png").write_bytes(png)
    stdin = _lines(
        {"type": "user", "text": "look", "images": [str(tmp_path / "shot.png")]},
        {"type": "user", "message": {"role": "user", "content": [
            {"type": "text", "text": "and this"},
            {"type": "image", "source": {"type": "base64", "media_type": "image/png",
                                         "data": base64.b64encode(png).decode()}},
        ]}},
    )  # fmt: skip
    done = mentra("resume", "pipe", "--input-format", "jsonl", "--store", store, input=stdin)
    assert done.code == 0, done.stderr
    assert done.events[0]["resumed"] is True
    assert [e["images"] for e in done.events if e["type"] == "user_message"] == [1, 1]
    last = rules.requests[-1]["messages"][-1]["content"]
    assert [part["type"] for part in last] == ["text", "image_url"]


def test_a_prompt_with_jsonl_is_refused(mentra: Any, rules: RuleServer, tmp_path: Path) -> None:
    config, _store = _setup(tmp_path, rules)
    done = mentra("run", "-c", config, "hi", "--input-format", "jsonl", "--ephemeral", input="")
    assert done.code == 2 and "give no PROMPT" in done.stderr
    empty = mentra("run", "-c", config, "--input-format", "jsonl", "--ephemeral", input="\n")
    assert empty.code == 2 and "no turns on stdin" in empty.stderr and empty.stdout == ""
    bad = mentra("run", "-c", config, "--input-format", "xml", "--ephemeral", input="")
    assert bad.code == 2 and "--input-format must be text or jsonl" in bad.stderr


def test_a_signal_while_waiting_for_the_next_turn(rules: RuleServer, tmp_path: Path) -> None:
    import signal
    import subprocess

    from tests.cli.conftest import MENTRA

    config, store = _setup(tmp_path, rules)
    proc = subprocess.Popen(
        [MENTRA, "run", "-c", config, "--input-format", "jsonl", "--store", store],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    assert proc.stdin is not None and proc.stdout is not None
    proc.stdin.write(_lines({"type": "user", "text": "one"}))
    proc.stdin.flush()
    seen = []
    while not seen or seen[-1]["type"] != "run_finished":  # the first turn is answered
        seen.append(json.loads(proc.stdout.readline()))
    proc.send_signal(signal.SIGINT)  # stdin still open: mentra waits for the next turn
    proc.wait(timeout=30)  # stdin stays open: EOF must not be what ends it
    assert proc.stderr is not None
    with proc.stdin, proc.stdout, proc.stderr:
        out, err = proc.stdout.read(), proc.stderr.read()
    assert proc.returncode == 130, err
    assert out == "" and "interrupted by signal 2" in err
    assert len(rules.requests) == 1


def test_the_agent_stays_leased_between_turns(
    mentra: Any, rules: RuleServer, tmp_path: Path
) -> None:
    """A stream holds the agent's history in memory from turn to turn: another process that
    resumed the agent between two turns would put its own turn into the transcript behind
    the stream's back. So the lease is held from the first turn to the end of the stream."""
    import signal
    import subprocess

    from tests.cli.conftest import MENTRA

    config, store = _setup(tmp_path, rules)
    proc = subprocess.Popen(
        [MENTRA, "run", "-c", config, "--input-format", "jsonl", "--store", store],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    assert proc.stdin is not None and proc.stdout is not None and proc.stderr is not None
    try:
        proc.stdin.write(_lines({"type": "user", "text": "one"}))
        proc.stdin.flush()
        seen = [json.loads(proc.stdout.readline())]
        while seen[-1]["type"] != "run_finished":
            seen.append(json.loads(proc.stdout.readline()))
        agent = seen[0]["agent_id"]
        other = mentra("resume", agent, "from elsewhere", "--store", store)  # between turns
        assert other.code == 6, other.stderr  # busy: the stream holds the agent
        assert "busy" in other.stderr or "lease" in other.stderr, other.stderr
        proc.stdin.write(_lines({"type": "user", "text": "two"}))
        proc.stdin.close()
        rest = [json.loads(line) for line in proc.stdout.read().splitlines()]
        assert proc.wait(timeout=30) == 0, proc.stderr.read()
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGKILL)
            proc.wait()
        proc.stdout.close()
        proc.stderr.close()
    assert [e["final_text"] for e in rest if e["type"] == "run_finished"] == ["answer 2"]
    assert len(rules.requests) == 2  # the other process never reached the model
    second = [(m["role"], m["content"]) for m in rules.requests[1]["messages"]]
    assert second[1:] == [("user", "one"), ("assistant", "answer 1"), ("user", "two")]
    assert _leases(store) == []  # released at the end of the stream, not left to expire
    after = mentra("resume", agent, "three", "--store", store)
    assert after.code == 0, after.stderr
