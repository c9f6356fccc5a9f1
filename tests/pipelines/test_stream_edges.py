"""A JSONL stream of turns used as a script or CI step would (#20 item 1, its edges): the
stream's budgets and deadline under ``--budget-scope session``, ``seq`` across turns,
``--output-last-message`` after a failed turn, a reader that goes away. Real `mentra`
processes against the fake Chat Completions server of `fakeserver.py`."""

from __future__ import annotations

import base64
import json
import subprocess
import time
from pathlib import Path
from typing import Any

import pytest

from tests.cli.conftest import MENTRA
from tests.pipelines.fakeserver import RuleServer

# USD per million tokens: a turn's 10 input tokens cost $1.00
PRICED = "    prices:\n      model-a: {input: 100000.0, output: 0.0}\n"


def _config(tmp_path: Path, rules: RuleServer, extra: str = "") -> str:
    config = tmp_path / "agent.yaml"
    config.write_text(rules.config(extra=extra), encoding="utf-8")
    return str(config)


def _lines(*texts: str) -> str:
    return "".join(json.dumps({"type": "user", "text": t}) + "\n" for t in texts)


def _finished(events: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [e for e in events if e["type"] == "run_finished"]


@pytest.mark.parametrize(
    ("limit", "message"),
    [(["--max-tokens", "20"], "max_tokens reached (24 of 20)"),
     (["--max-cost", "1.5"], "max_cost_usd reached ($2.0000 of $1.5000)")],
)  # fmt: skip
def test_a_session_budget_spent_by_answers_stops_the_next_turn(
    mentra: Any, rules: RuleServer, tmp_path: Path, limit: list[str], message: str
) -> None:
    """Turns without tool calls spend tokens and money too: once the stream's budget is used
    up, the next turn is refused before its request (exit 4), not sent forever."""
    config = _config(tmp_path, rules, PRICED)
    done = mentra(
        "run", "-c", config, "--input-format", "jsonl", "--ephemeral", "--budget-scope",
        "session", *limit, input=_lines("a", "b", "c", "d"),
    )  # fmt: skip
    assert done.code == 4, done.stderr
    finished = _finished(done.events)
    assert [f["status"] for f in finished] == ["success", "success", "limit_reached"]
    assert message in finished[-1]["errors"][0]
    assert done.types[-1] == "run_finished"
    assert len(rules.requests) == 2  # the third turn never reached the model
    per_turn = mentra(
        "run", "-c", config, "--input-format", "jsonl", "--ephemeral", *limit,
        input=_lines("a", "b", "c"),
    )  # fmt: skip
    assert per_turn.code == 0, per_turn.stderr  # per turn, each turn's one answer fits
    assert [f["status"] for f in _finished(per_turn.events)] == ["success"] * 3


def test_seq_counts_the_whole_stream(mentra: Any, rules: RuleServer, tmp_path: Path) -> None:
    """One stdout, one count: a consumer that orders or de-duplicates by ``seq`` must not
    see it go back to 1 at each turn (as a subagent's events share their parent's count)."""
    config = _config(tmp_path, rules)
    done = mentra(
        "run", "-c", config, "--input-format", "jsonl", "--ephemeral",
        input=_lines("a", "b") + "{broken\n",
    )  # fmt: skip
    assert done.code == 2, done.stderr
    events = done.events
    assert [e["seq"] for e in events] == list(range(1, len(events) + 1))
    assert events[-1]["type"] == "error" and "stdin line 3" in events[-1]["message"]


def test_last_message_follows_the_turn_that_ended_the_stream(
    mentra: Any, rules: RuleServer, tmp_path: Path
) -> None:
    """After a stream, ``--output-last-message`` holds what its last turn answered: a failed
    turn without an answer leaves it empty, not holding an earlier turn's text."""
    config, target = _config(tmp_path, rules), tmp_path / "last.txt"
    ok = mentra(
        "run", "-c", config, "--input-format", "jsonl", "--ephemeral", "-o", "text",
        "--output-last-message", str(target), input=_lines("a", "b"),
    )  # fmt: skip
    assert ok.code == 0, ok.stderr
    assert ok.stdout == "answer 1\nanswer 2\n" and target.read_text() == "answer 2"
    failed = mentra(
        "run", "-c", config, "--input-format", "jsonl", "--ephemeral", "-o", "text",
        "--output-last-message", str(target), input=_lines("c", "PLEASE FAIL"),
    )  # fmt: skip
    assert failed.code == 3, failed.stderr
    assert failed.stdout == "answer 3\n"
    assert target.read_text() == ""  # the stream ended with no answer


def test_a_session_timeout_covers_the_wait_for_the_next_line(
    rules: RuleServer, tmp_path: Path
) -> None:
    """``--timeout`` with ``--budget-scope session`` is the stream's wall clock: a producer
    that keeps stdin open and sends nothing more does not keep mentra waiting past it."""
    config = _config(tmp_path, rules)
    proc = subprocess.Popen(
        [MENTRA, "run", "-c", config, "--input-format", "jsonl", "--ephemeral", "--timeout",
         "1.5s", "--budget-scope", "session"],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    assert proc.stdin is not None and proc.stdout is not None and proc.stderr is not None
    started = time.monotonic()
    try:
        proc.stdin.write(_lines("one"))
        proc.stdin.flush()  # and stdin stays open
        code = proc.wait(timeout=20)
        elapsed = time.monotonic() - started
        out, err = proc.stdout.read(), proc.stderr.read()
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        proc.stdin.close()
        proc.stdout.close()
        proc.stderr.close()
    assert code == 5, err
    assert elapsed < 10
    events = [json.loads(line) for line in out.splitlines()]
    assert [f["status"] for f in _finished(events)] == ["success"]
    assert events[-1]["type"] == "error" and events[-1]["status"] == "timeout"
    assert "waiting for the next turn" in events[-1]["message"]
    assert err.strip().splitlines() == [err.strip()] and "timeout" in err
    assert len(rules.requests) == 1


def test_session_start_hooks_run_once_per_stream(
    mentra: Any, rules: RuleServer, tmp_path: Path
) -> None:
    """``session_start`` runs after ``session_started``, which a stream has once; the
    ``user_prompt`` hooks still see every turn."""
    hooks = (
        "hooks:\n"
        f'  session_start:\n    - command: "echo start >> {tmp_path}/hooks.log"\n'
        f'  user_prompt:\n    - command: "echo prompt >> {tmp_path}/hooks.log"\n'
    )
    config = _config(tmp_path, rules, hooks)
    done = mentra(
        "run", "-c", config, "--input-format", "jsonl", "--ephemeral",
        input=_lines("a", "b", "c"),
    )  # fmt: skip
    assert done.code == 0, done.stderr
    assert (tmp_path / "hooks.log").read_text().split() == ["start", "prompt", "prompt", "prompt"]
    hooks_run = [e["hook"] for e in done.events if e["type"] == "hook_completed"]
    assert hooks_run == ["session_start", "user_prompt", "user_prompt", "user_prompt"]


def _image_turn(source: dict[str, str]) -> str:
    block = {"type": "image", "source": source}
    content = [{"type": "text", "text": "look"}, block]
    return json.dumps({"type": "user", "message": {"role": "user", "content": content}}) + "\n"


@pytest.mark.parametrize(
    ("line", "message"),
    [
        (json.dumps({"type": "user", "text": "x", "images": ["gone.png"]}) + "\n",
         "stdin line 2: image gone.png: no such file"),
        (_image_turn({"type": "base64", "media_type": "image/png",
                      "data": base64.b64encode(b"\0" * (20 * 1024 * 1024 + 1)).decode()}),
         "stdin line 2: content block 1: the image is 20971521 bytes, over the 20 MiB limit"),
        (_image_turn({"type": "base64", "media_type": "text/html", "data": "PGgxPg=="}),
         "stdin line 2: content block 1: media_type 'text/html' is not an image type"),
    ],
)  # fmt: skip
def test_a_turn_with_a_bad_image_ends_the_stream_naming_it(
    mentra: Any, rules: RuleServer, tmp_path: Path, line: str, message: str
) -> None:
    """One line on stderr, exit 2, the earlier turn answered; no request for the bad one."""
    config = _config(tmp_path, rules)
    done = mentra(
        "run", "-c", config, "--input-format", "jsonl", "--ephemeral",
        input=_lines("first") + line, cwd=tmp_path,
    )  # fmt: skip
    assert done.code == 2, done.stderr
    assert done.stderr.strip().splitlines() == [done.stderr.strip()]
    assert message in done.stderr and "Traceback" not in done.stderr
    assert done.types[-1] == "error" and message in done.events[-1]["message"]
    assert [f["status"] for f in _finished(done.events)] == ["success"]
    assert len(rules.requests) == 1


def test_a_screenshot_sized_image_is_sent(mentra: Any, rules: RuleServer, tmp_path: Path) -> None:
    """A 1.5 MB PNG is about 2 MB of base64, which is not 500,000 tokens of text: the
    context estimate counts an image as the providers do (about 1,600 tokens at most), so
    the request goes out instead of failing the context-window check (exit 3)."""
    shot = tmp_path / "shot.png"
    shot.write_bytes(b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 6000)
    config = _config(tmp_path, rules)
    one = mentra("run", "-c", config, "look", "--image", str(shot), "--ephemeral", cwd=tmp_path)
    assert one.code == 0, one.stderr
    turn = json.dumps({"type": "user", "text": "and now?", "images": ["shot.png"]}) + "\n"
    stream = mentra(
        "run", "-c", config, "--input-format", "jsonl", "--ephemeral",
        input=_lines("first") + turn + _lines("after"), cwd=tmp_path,
    )  # fmt: skip
    assert stream.code == 0, stream.stderr
    assert len(rules.requests) == 4
    for body in (rules.requests[0], rules.requests[2], rules.requests[3]):
        parts = [p for m in body["messages"] if isinstance(m["content"], list)
                 for p in m["content"]]  # fmt: skip
        assert [p["type"] for p in parts if p["type"] == "image_url"] == ["image_url"]


def test_no_turn_begins_after_the_reader_went_away(tmp_path: Path) -> None:
    """``mentra run --input-format jsonl -o text < turns | head -1``: the turn whose answer
    found stdout gone is the stream's last; the next one is not begun (and left interrupted
    with its prompt lost). Exit 141, as SIGPIPE; the store holds the answered turns."""
    import mentra as api

    script = tmp_path / "slow.yaml"
    script.write_text(
        "turns:\n" + "".join(f"  - text: answer {i}\n    delay_ms: 300\n" for i in range(1, 5)),
        encoding="utf-8",
    )
    store = tmp_path / "s.sqlite"
    proc = subprocess.Popen(
        [MENTRA, "run", "-m", f"scripted:{script}", "--input-format", "jsonl", "-o", "text",
         "--store", str(store), "--agent-id", "piped"],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        cwd=tmp_path,
    )  # fmt: skip
    assert proc.stdin is not None and proc.stdout is not None and proc.stderr is not None
    try:
        proc.stdin.write(_lines("a", "b", "c", "d"))
        proc.stdin.close()
        assert proc.stdout.readline() == "answer 1\n"
        proc.stdout.close()  # the reader goes away while turn 2 is asked
        code = proc.wait(timeout=30)
        err = proc.stderr.read()
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        proc.stderr.close()
    assert code == 141, err
    assert "Traceback" not in err
    s = api.open_store(store)
    try:
        runs = sorted(s.list_runs("piped"), key=lambda r: r.started_at)
        assert [(r.prompt, r.status) for r in runs] == [("a", "success"), ("b", "success")]
    finally:
        s.close()


def test_a_byte_order_mark_before_the_first_line_is_not_an_error(
    mentra: Any, rules: RuleServer, tmp_path: Path
) -> None:
    """Windows tools (PowerShell's ``Out-File``, Notepad) start a UTF-8 file with a BOM; the
    first line is still a turn. A BOM inside the stream is still refused."""
    config = _config(tmp_path, rules)
    done = mentra(
        "run", "-c", config, "--input-format", "jsonl", "--ephemeral", "-o", "text",
        input="\ufeff" + _lines("a", "b"),
    )  # fmt: skip
    assert done.code == 0, done.stderr
    assert done.stdout == "answer 1\nanswer 2\n"
    later = mentra(
        "run", "-c", config, "--input-format", "jsonl", "--ephemeral", "-o", "text",
        input=_lines("a") + "\ufeff" + _lines("b"),
    )  # fmt: skip
    assert later.code == 2 and "stdin line 2: not valid JSON" in later.stderr


@pytest.mark.parametrize(
    ("args", "message"),
    [(["fork", "nobody"], "no agent 'nobody' in this store"),
     (["resume", "nobody", "hi"], "no agent 'nobody' in this store"),
     (["resume", "nobody", "--fork", "--input-format", "jsonl"], "no agent 'nobody' in this store"),
     (["resume", "--last", "hi"], "no agents in this workspace")],
)  # fmt: skip
def test_a_store_that_does_not_exist_is_not_made_by_a_failed_lookup(
    mentra: Any, tmp_path: Path, args: list[str], message: str
) -> None:
    """A mistyped ``--store`` (or a fresh CI runner) has no agents: `fork` and `resume` say so
    in one line (exit 2) and leave no empty store file behind, as `show` does."""
    store = tmp_path / "typo.sqlite"
    done = mentra(*args, "--store", str(store), input=_lines("x"), cwd=tmp_path)
    assert done.code == 2, done.stderr
    assert done.stderr.strip().splitlines() == [done.stderr.strip()] and message in done.stderr
    assert done.stdout == "" and sorted(p.name for p in tmp_path.iterdir()) == []
