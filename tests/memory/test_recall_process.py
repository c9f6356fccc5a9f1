"""Auto-recall: a new agent's first request carries the pinned fact (seen by a fake Chat
Completions server on 127.0.0.1), added to the request only, never to the stored transcript."""

from __future__ import annotations

import asyncio
import json
import os
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from providers.harness import Reply, TcpHarness

MENTRA = str(Path(sys.executable).parent / "mentra")
FACT = "The staging password rotates every Friday"
ANSWER = "On Fridays."


def chat_answer(text: str) -> bytes:
    def chunk(delta: dict[str, Any], finish: str | None = None) -> str:
        body = {
            "id": "c1",
            "object": "chat.completion.chunk",
            "model": "m",
            "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
        }
        return f"data: {json.dumps(body)}\n\n"

    return (
        chunk({"role": "assistant", "content": text}) + chunk({}, "stop") + "data: [DONE]\n\n"
    ).encode()


@pytest.fixture
async def server() -> AsyncIterator[TcpHarness]:
    tcp = TcpHarness()
    await tcp.start()
    yield tcp
    await tcp.stop()


async def mentra(cwd: Path, *args: str) -> tuple[int, str, str]:
    proc = await asyncio.create_subprocess_exec(
        MENTRA,
        *args,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        stdin=asyncio.subprocess.DEVNULL,
        cwd=cwd,
        env={
            **os.environ,
            "MENTRA_STORE": str(cwd / "store.db"),
            "OPENROUTER_API_KEY": "k-test-123456",
        },
    )
    out, err = await asyncio.wait_for(proc.communicate(), timeout=60)
    assert proc.returncode is not None
    return proc.returncode, out.decode(), err.decode()


def write_config(ws: Path, server: TcpHarness, memory: str) -> Path:
    config = ws / "agent.yaml"
    config.write_text(
        f'providers:\n  openrouter:\n    base_url: "{server.base_url}/api/v1"\nmemory:\n{memory}'
    )
    return config


@pytest.mark.parametrize("auto_recall", [True, False])
async def test_first_request_carries_the_pinned_fact(
    server: TcpHarness, tmp_path: Path, auto_recall: bool
) -> None:
    ws = tmp_path / "ws"
    ws.mkdir()
    config = write_config(
        ws, server, f"  scope: workspace\n  auto_recall: {str(auto_recall).lower()}\n"
    )
    # an earlier run's model pinned the fact
    script = ws / "pin.yaml"
    calls = [{"name": "memory_pin", "input": {"content": FACT}}]
    script.write_text(json.dumps({"turns": [{"tool_calls": calls}, {"text": "Noted."}]}))
    code, out, err = await mentra(
        ws,
        "run",
        "-c",
        str(config),
        "-m",
        f"scripted:{script}",
        "--no-user-config",
        "--allow",
        "memory_pin",
        "Remember the rotation day.",
    )
    assert code == 0, err
    assert '"action":"pinned"' in out.replace(" ", "")
    noise = ["Lunch is at noon", "Builds use make", "Tests run with pytest"]
    for line in noise:
        assert (await mentra(ws, "memory", "pin", line))[0] == 0
    server.queue(Reply(body=chat_answer(ANSWER)))
    code, out, err = await mentra(
        ws,
        "run",
        "-c",
        str(config),
        "-m",
        "openrouter:openai/gpt-4o-mini",
        "--no-user-config",
        "When does the staging password rotate?",
    )
    assert code == 0, err
    events = [json.loads(line) for line in out.splitlines()]
    body = json.loads(server.requests[0].body)
    user = [m for m in body["messages"] if m["role"] == "user"]
    sent = json.dumps(user)
    recalled = [e for e in events if e["type"] == "memory_updated" and e["action"] == "recalled"]
    if not auto_recall:
        assert FACT not in sent and recalled == []
        return
    assert FACT in sent
    for line in noise:  # no other record matched the prompt's words
        assert line not in sent
    # the fact first, then the pin run's episode (it holds the fact too); at most 3
    assert [e["kind"] for e in recalled] == ["fact", "episode"]
    # the recall rode on the request, not on the stored transcript
    agent = events[0]["agent_id"]
    code, shown, err = await mentra(ws, "show", agent)
    assert code == 0, err
    assert "When does the staging password rotate?" in shown
    assert FACT not in shown


async def test_recall_respects_limit_and_chars(server: TcpHarness, tmp_path: Path) -> None:
    ws = tmp_path / "ws"
    ws.mkdir()
    for i in range(6):
        assert (await mentra(ws, "memory", "pin", f"deploy note {i} " + "x" * 30))[0] == 0
    config = write_config(
        ws, server, "  scope: workspace\n  recall_limit: 2\n  recall_chars: 2000\n"
    )
    server.queue(Reply(body=chat_answer(ANSWER)), Reply(body=chat_answer(ANSWER)))
    code, _out, err = await mentra(
        ws, "run", "-c", str(config), "-m", "openrouter:m", "--no-user-config", "deploy?"
    )
    assert code == 0, err
    sent = server.requests[0].body.decode()
    assert sum(f"deploy note {i} " in sent for i in range(6)) == 2
    config = write_config(
        ws, server, "  scope: workspace\n  recall_limit: 5\n  recall_chars: 120\n"
    )
    code, _out, err = await mentra(
        ws, "run", "-c", str(config), "-m", "openrouter:m", "--no-user-config", "deploy?"
    )
    assert code == 0, err
    second = json.loads(server.requests[1].body)
    text = json.dumps([m for m in second["messages"] if m["role"] == "user"])
    assert sum(f"deploy note {i} " in text for i in range(6)) == 1  # 120 characters hold one
