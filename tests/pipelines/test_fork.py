"""`resume ID --fork [--agent-id NEW]`, `mentra fork` and `Runtime.fork_agent` (#20 item 3):
the copy carries the transcript, runs, memory and task board; the original is untouched and
its lease is not needed. Real `mentra` processes, a real SQLite store."""

from __future__ import annotations

import json
import os
import re
import socket
from pathlib import Path
from typing import Any

from tests.pipelines.fakeserver import RuleServer


def _setup(tmp_path: Path, rules: RuleServer) -> tuple[str, str]:
    config = tmp_path / "agent.yaml"
    config.write_text(rules.config(), encoding="utf-8")
    return str(config), str(tmp_path / "s.sqlite")


def _transcript(mentra: Any, store: str, agent_id: str) -> list[str]:
    shown = mentra("show", agent_id, "--store", store)
    assert shown.code == 0, shown.stderr
    return shown.stdout.splitlines()


def test_resume_fork_continues_a_copy(mentra: Any, rules: RuleServer, tmp_path: Path) -> None:
    config, store = _setup(tmp_path, rules)
    first = mentra("run", "-c", config, "hello", "--agent-id", "pr-123", "--store", store)
    assert first.code == 0, first.stderr
    before = _transcript(mentra, store, "pr-123")
    forked = mentra(
        "resume", "pr-123", "go on", "--fork", "--agent-id", "pr-123-b", "--store", store
    )
    assert forked.code == 0, forked.stderr
    assert {e["agent_id"] for e in forked.events} == {"pr-123-b"}
    assert forked.events[0]["resumed"] is True
    contents = [m["content"] for m in rules.requests[1]["messages"]]
    assert contents == ["be brief", "hello", "answer 1", "go on"]
    assert _transcript(mentra, store, "pr-123") == before  # the original is untouched
    assert len(_transcript(mentra, store, "pr-123-b")) == len(before) + 2
    again = mentra("resume", "pr-123", "and the original?", "--store", store)
    assert again.code == 0, again.stderr
    contents = [m["content"] for m in rules.requests[2]["messages"]]
    assert contents == ["be brief", "hello", "answer 1", "and the original?"]
    listed = mentra("list-agents", "--all", "--store", store, "-o", "json")
    assert {a["id"] for a in json.loads(listed.stdout)} == {"pr-123", "pr-123-b"}


def test_fork_command_prints_the_new_id(mentra: Any, rules: RuleServer, tmp_path: Path) -> None:
    config, store = _setup(tmp_path, rules)
    assert mentra("run", "-c", config, "hi", "--agent-id", "base", "--store", store).code == 0
    named = mentra("fork", "base", "--agent-id", "copy-1", "--store", store)
    assert named.code == 0 and named.stdout == "copy-1\n", named.stderr
    fresh = mentra("fork", "base", "--store", store)
    assert fresh.code == 0 and re.fullmatch(r"[0-9a-f]{20}\n", fresh.stdout), fresh.stdout

    def messages(agent: str) -> list[Any]:
        return [json.loads(line)["content"] for line in _transcript(mentra, store, agent)]

    assert messages(fresh.stdout.strip()) == messages("base")
    taken = mentra("fork", "base", "--agent-id", "copy-1", "--store", store)
    assert taken.code == 2 and taken.stderr.strip().splitlines() == [
        "mentra: error: --agent-id 'copy-1': an agent with that id already exists"
    ]
    missing = mentra("fork", "nobody", "--store", store)
    assert missing.code == 2 and "no agent 'nobody'" in missing.stderr
    lonely = mentra("resume", "base", "x", "--agent-id", "y", "--store", store)
    assert lonely.code == 2 and "resume --fork" in lonely.stderr
    assert len(rules.requests) == 1  # none of these asked the model


def test_fork_needs_no_lease(mentra: Any, rules: RuleServer, tmp_path: Path) -> None:
    import mentra as api
    from mentra.store.base import LeaseHolder

    config, store = _setup(tmp_path, rules)
    assert mentra("run", "-c", config, "hi", "--agent-id", "busy", "--store", store).code == 0
    s = api.open_store(Path(store))
    holder = LeaseHolder(pid=os.getpid(), host=socket.gethostname(), run_id="other-run")
    s.acquire_lease("busy", holder, 300)  # a live process holds the agent
    try:
        blocked = mentra("resume", "busy", "x", "--store", store)
        assert blocked.code == 6, blocked.stderr
        forked = mentra("resume", "busy", "x", "--fork", "--agent-id", "free", "--store", store)
        assert forked.code == 0, forked.stderr
        assert forked.events[-1]["final_text"] == "answer 2"
    finally:
        s.release_lease("busy", holder)
        s.close()


SCRIPT = """\
turns:
  - tool_calls:
      - name: task_create
        input: {subject: "write code"}
      - name: memory_pin
        input: {content: "the build uses make"}
  - text: "Planned."
"""


def test_memory_and_board_travel_with_the_copy(mentra: Any, tmp_path: Path) -> None:
    script = tmp_path / "script.yaml"
    script.write_text(SCRIPT, encoding="utf-8")
    store = str(tmp_path / "s.sqlite")
    allow = ["--allow", "task_create", "--allow", "memory_pin"]
    done = mentra(
        "run", "-m", f"scripted:{script}", "plan", "--agent-id", "orig", "--store", store,
        *allow, cwd=tmp_path,
    )  # fmt: skip
    assert done.code == 0, done.stderr
    assert mentra("fork", "orig", "--agent-id", "twin", "--store", store).code == 0

    def board(agent: str) -> list[str]:
        r = mentra("tasks", agent, "--store", store, "-o", "json")
        assert r.code == 0, r.stderr
        return [t["subject"] for t in json.loads(r.stdout)]

    def memory(agent: str) -> list[tuple[str, str]]:
        r = mentra("memory", "list", "--agent", agent, "--store", store, "-o", "json", cwd=tmp_path)
        assert r.code == 0, r.stderr
        return sorted((m["kind"], m["content"][:20]) for m in json.loads(r.stdout))

    assert board("twin") == board("orig") == ["write code"]
    assert memory("twin") == memory("orig") and ("fact", "the build uses make") in memory("orig")


def test_fork_agent_from_python(tmp_path: Path) -> None:
    import asyncio

    import mentra as api

    script = tmp_path / "script.yaml"
    script.write_text("turns:\n  - text: hi there\n", encoding="utf-8")
    store = api.open_store(tmp_path / "s.sqlite")
    runtime = api.Runtime.builder(tmp_path).store(store).build()

    async def main() -> str:
        session = runtime.create_session("helper", f"scripted:{script}")
        async for _event in session.run("hello"):
            pass
        return session.agent_id

    original = asyncio.run(main())
    copy = runtime.fork_agent(original, "the-copy")
    assert copy == "the-copy"
    texts = [i.message.text for i in store.load_transcript(copy)]
    assert (
        texts == [i.message.text for i in store.load_transcript(original)] == ["hello", "hi there"]
    )
    runs = {r.id for r in store.list_runs(copy)} & {r.id for r in store.list_runs(original)}
    assert runs == set()  # the copy's runs have ids of their own
    runtime.close()
