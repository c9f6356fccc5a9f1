"""How the memory tools are scheduled within one round, through a real `mentra` process:
`memory_search` (read-only) runs beside the other read-only calls of its round; `memory_pin`
(and `memory_forget`, both mutating) waits for the calls before it and runs alone, and the calls
after it wait for it. A slow read-only custom tool (a real `sleep`) sits beside them; the event
stream, written as each call starts and ends, shows the overlap."""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from tests.memory.test_memory_process import Workspace

FACT = "The nightly build runs at 02:00 UTC"
SLOW = (
    "tools:\n"
    "  custom:\n"
    "    - name: slow_look\n"
    "      description: Looks at something slowly\n"
    '      command: ["sh", "-c", "sleep 1.5; echo looked"]\n'
    "      input_schema: {type: object, properties: {tag: {type: string}}}\n"
    "      mutates: false\n"
)


def _at(events: list[dict[str, Any]], kind: str, call_id: str) -> int:
    """The position in the stream of ``call_id``'s ``kind`` event."""
    (index,) = [i for i, e in enumerate(events) if e["type"] == kind and e["call_id"] == call_id]
    return index


def test_memory_search_runs_beside_read_only_calls_and_memory_pin_runs_alone(
    tmp_path: Path,
) -> None:
    ws = Workspace(tmp_path / "ws", extra=SLOW)
    script = ws.script(
        "round",
        [
            {
                "tool_calls": [
                    {"name": "slow_look", "input": {"tag": "1"}},
                    {"name": "memory_search", "input": {"query": "nightly build"}},
                    {"name": "slow_look", "input": {"tag": "2"}},
                    {"name": "memory_pin", "input": {"content": FACT}},
                    {"name": "slow_look", "input": {"tag": "3"}},
                    {"name": "memory_search", "input": {"query": "nightly build"}},
                ]
            },
            {"text": "Done."},
        ],
    )
    # every call allowed by a rule, so that only scheduling can tell the calls apart
    allow = ("--allow", "slow_look", "--allow", "memory_search")
    events = ws.run(script, "Look around and remember the build time.", *allow)
    assert events[-1]["status"] == "success", events[-1]
    reply = next(e for e in events if e["type"] == "assistant_message_completed")
    slow1, search1, slow2, pin, slow3, search2 = (c["id"] for c in reply["tool_calls"])

    def started(call: str) -> int:
        return _at(events, "tool_started", call)

    def completed(call: str) -> int:
        return _at(events, "tool_completed", call)

    # the first three are read-only: they run together, the search while the sleeps sleep
    assert max(started(slow1), started(search1), started(slow2)) < completed(slow1)
    assert completed(search1) < min(completed(slow1), completed(slow2))
    # the pin waits for all of them, and runs alone: the next read-only pair waits for it
    assert started(pin) > max(completed(slow1), completed(search1), completed(slow2))
    assert completed(pin) < min(started(slow3), started(search2))
    # then the last two run together again
    assert started(search2) < completed(slow3) and completed(search2) < completed(slow3)

    # what each search saw follows from that order: the pin lies between them
    outputs = {e["call_id"]: e["output"] for e in events if e["type"] == "tool_completed"}
    assert FACT not in outputs[search1]
    assert [hit["content"] for hit in json.loads(outputs[search2])] == [FACT]
    # and the sleeps of the first batch overlapped in time (not 3 s, one after the other)
    ts = {(e["type"], e.get("call_id")): datetime.fromisoformat(e["ts"]) for e in events}
    first_batch = ts[("tool_completed", slow2)] - ts[("tool_started", slow1)]
    assert timedelta(seconds=1.4) < first_batch < timedelta(seconds=2.9), first_batch

    # memory_forget is mutating too: in a later run, it waits for the read-only call before
    # it and the one after it waits for it
    record_id = json.loads(outputs[search2])[0]["id"]
    script = ws.script(
        "forget",
        [
            {
                "tool_calls": [
                    {"name": "slow_look", "input": {"tag": "4"}},
                    {"name": "memory_forget", "input": {"record_id": record_id}},
                    {"name": "slow_look", "input": {"tag": "5"}},
                    {"name": "memory_search", "input": {"query": "nightly build"}},
                ]
            },
            {"text": "Forgot it."},
        ],
    )
    events = ws.run(script, "Forget the build time.", *allow)
    assert events[-1]["status"] == "success", events[-1]
    reply = next(e for e in events if e["type"] == "assistant_message_completed")
    slow4, forget, slow5, search3 = (c["id"] for c in reply["tool_calls"])
    assert started(forget) > completed(slow4)
    assert completed(forget) < min(started(slow5), started(search3))
    assert started(search3) < completed(slow5)
    outputs = {e["call_id"]: e["output"] for e in events if e["type"] == "tool_completed"}
    assert outputs[forget] == f"Forgot memory {record_id}."
    # the fact is gone (the first run's episode, which quotes it, stays)
    assert [h["id"] for h in json.loads(outputs[search3])].count(record_id) == 0
    assert record_id.startswith("fact:")
