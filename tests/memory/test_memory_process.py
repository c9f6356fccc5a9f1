"""The done-when scenarios of issue #16, with real `mentra` processes on the scripted provider
(and a fake Chat Completions server on 127.0.0.1 to see what the first request carried)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

MENTRA = str(Path(sys.executable).parent / "mentra")
FACT = "The staging password rotates every Friday"


class Workspace:
    """A workspace directory with its own store, and helpers to run mentra in it."""

    def __init__(self, root: Path, *, scope: str = "workspace", extra: str = "") -> None:
        self.root = root
        root.mkdir(parents=True, exist_ok=True)
        self.store = root / "store.db"
        self.config = root / "agent.yaml"
        self.config.write_text(f"memory:\n  scope: {scope}\n{extra}")

    def mentra(
        self, *args: str, env: dict[str, str] | None = None
    ) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [MENTRA, *args],
            capture_output=True,
            text=True,
            cwd=self.root,
            env={**os.environ, "MENTRA_STORE": str(self.store), **(env or {})},
            stdin=subprocess.DEVNULL,
            timeout=60,
        )

    def script(self, name: str, turns: list[dict[str, Any]]) -> str:
        path = self.root / f"{name}.yaml"
        path.write_text(json.dumps({"turns": turns}))  # JSON is YAML
        return str(path)

    def run(
        self,
        script: str,
        prompt: str,
        *flags: str,
        env: dict[str, str] | None = None,
        allow: bool = True,
    ) -> list[dict[str, Any]]:
        allowed = ["--allow", "memory_pin", "--allow", "memory_forget"] if allow else []
        done = self.mentra(
            "run",
            "-c",
            str(self.config),
            "-m",
            f"scripted:{script}",
            "--no-user-config",
            *allowed,
            *flags,
            prompt,
            env=env,
        )
        events = [json.loads(line) for line in done.stdout.splitlines()]
        assert events and events[-1]["type"] == "run_finished", done.stderr
        return events

    def listing(self, *args: str) -> list[dict[str, Any]]:
        done = self.mentra("memory", *args, "-o", "json")
        assert done.returncode == 0, done.stderr
        rows: list[dict[str, Any]] = json.loads(done.stdout)
        return rows


def tool_output(events: list[dict[str, Any]], name: str) -> str:
    outputs = [e["output"] for e in events if e["type"] == "tool_completed" and e["name"] == name]
    assert len(outputs) == 1, events
    return str(outputs[0])


def pin_script(ws: Workspace) -> str:
    return ws.script(
        "pin",
        [
            {"tool_calls": [{"name": "memory_pin", "input": {"content": FACT}}]},
            {"text": "I will remember that."},
        ],
    )


def search_script(ws: Workspace, query: str = "staging rotates") -> str:
    return ws.script(
        "search",
        [
            {"tool_calls": [{"name": "memory_search", "input": {"query": query}}]},
            {"text": "Found it."},
        ],
    )


def test_workspace_scope_pin_search_cli_and_forget(tmp_path: Path) -> None:
    ws = Workspace(tmp_path / "ws", scope="workspace")
    pinned = ws.run(pin_script(ws), "Remember when the staging password rotates.")
    assert pinned[-1]["status"] == "success"
    out = tool_output(pinned, "memory_pin")
    assert out.startswith("Pinned memory fact:") and out.endswith(".")
    record_id = out.removeprefix("Pinned memory ").removesuffix(".")
    updates = [e for e in pinned if e["type"] == "memory_updated"]
    assert {"action": "pinned", "record_id": record_id, "kind": "fact"}.items() <= updates[
        0
    ].items()
    assert updates[-1]["action"] == "ingested" and updates[-1]["kind"] == "episode"

    # a new agent of the same workspace finds it with memory_search
    found = ws.run(search_script(ws), "What do we know about staging?")
    hits = json.loads(tool_output(found, "memory_search"))
    assert hits[0]["id"] == record_id and hits[0]["content"] == FACT
    assert hits[0]["kind"] == "fact" and "matched staging,rotates" in hits[0]["why_retrieved"]
    assert found[0]["agent_id"] != pinned[0]["agent_id"]

    # the CLI lists it too
    rows = ws.listing("search", "staging")
    assert rows[0]["id"] == record_id  # the fact ranks first; the runs' episodes follow
    assert [r["id"] for r in rows if r["kind"] == "fact"] == [record_id]

    # forgotten: neither finds it
    gone = ws.mentra("memory", "forget", record_id)
    assert gone.returncode == 0, gone.stderr
    assert json.loads(gone.stdout) == {"forgotten": record_id, "kind": "fact"}
    assert [r for r in ws.listing("search", "staging") if r["kind"] == "fact"] == []
    again = ws.run(search_script(ws), "Anything about staging?")
    assert [h for h in json.loads(tool_output(again, "memory_search")) if h["kind"] == "fact"] == []
    # forgetting it twice is a usage error: one line, exit 2
    twice = ws.mentra("memory", "forget", record_id)
    assert twice.returncode == 2 and twice.stderr.count("\n") == 1 and record_id in twice.stderr


def test_agent_scope_isolates_agents(tmp_path: Path) -> None:
    ws = Workspace(tmp_path / "ws", scope="agent")
    pinned = ws.run(pin_script(ws), "Remember when the staging password rotates.")
    assert pinned[-1]["status"] == "success"
    found = ws.run(search_script(ws), "What do we know about staging?")
    assert json.loads(tool_output(found, "memory_search")) == []
    # the fact is there, owned by the first agent
    rows = ws.listing("list", "--agent", pinned[0]["agent_id"], "--kind", "fact")
    assert [r["content"] for r in rows] == [FACT]


def test_episodes_after_two_successful_runs_and_none_for_a_failed_one(tmp_path: Path) -> None:
    ws = Workspace(tmp_path / "ws", scope="workspace")
    first = ws.script("a", [{"text": "The answer is forty-two."}])
    second = ws.script("b", [{"text": "Paris is the capital."}])
    failing = ws.script("c", [{"error": {"status": 400, "message": "bad request"}}, {"text": "x"}])
    assert ws.run(first, "What is the answer?")[-1]["status"] == "success"
    assert ws.run(second, "Capital of France?")[-1]["status"] == "success"
    failed = ws.run(failing, "This run fails.")
    assert failed[-1]["status"] == "provider_error"
    assert not [e for e in failed if e["type"] == "memory_updated"]
    episodes = ws.listing("list", "--kind", "episode")
    assert len(episodes) == 2
    by_prompt = {e["content"].splitlines()[0]: e for e in episodes}
    assert set(by_prompt) == {"user: What is the answer?", "user: Capital of France?"}
    assert (
        "assistant: The answer is forty-two." in by_prompt["user: What is the answer?"]["content"]
    )
    assert "assistant: Paris is the capital." in by_prompt["user: Capital of France?"]["content"]
    for e in episodes:
        assert e["id"].startswith(f"episode:{e['agent_id']}:")
    assert all("fails" not in e["content"] for e in episodes)


def test_episode_lines_tool_use_and_result_and_secrets_redacted(tmp_path: Path) -> None:
    ws = Workspace(tmp_path / "ws", scope="agent")
    secret = "s3cr3t-token-value-987654"
    script = ws.script(
        "t",
        [
            {"tool_calls": [{"name": "memory_search", "input": {"query": "deploy"}}]},
            {"text": f"The token is {secret}"},
        ],
    )
    events = ws.run(script, f"Use {secret} please", env={"DEPLOY_API_TOKEN": secret})
    assert events[-1]["status"] == "success"
    (episode,) = ws.listing("list", "--kind", "episode")
    lines = episode["content"].splitlines()
    assert lines[0] == "user: Use *** please"
    assert lines[1] == 'assistant: tool use memory_search {"query": "deploy"}'
    assert lines[2] == "user: tool result []"
    assert lines[3] == "assistant: The token is ***"
    assert secret not in episode["content"]


def test_export_import_carry_memory_and_delete_agent_removes_it(tmp_path: Path) -> None:
    ws = Workspace(tmp_path / "ws", scope="agent")
    pinned = ws.run(pin_script(ws), "Remember it.")
    agent = pinned[0]["agent_id"]
    exported = ws.mentra("export", agent)
    assert exported.returncode == 0, exported.stderr
    doc = json.loads(exported.stdout)
    assert {r["kind"] for r in doc["memory"]} == {"fact", "episode"}
    deleted = ws.mentra("delete-agent", agent)
    assert deleted.returncode == 0, deleted.stderr
    assert ws.listing("list") == []
    # into another workspace's store (another CI runner)
    other = Workspace(tmp_path / "other", scope="agent")
    (other.root / "a.json").write_text(exported.stdout)
    imported = other.mentra("import", "a.json")
    assert imported.returncode == 0, imported.stderr
    rows = other.listing("list", "--agent", agent, "--kind", "fact")
    assert [r["content"] for r in rows] == [FACT]
    assert rows[0]["workspace"] == str(other.root.resolve())
    # an export whose memory is damaged is refused whole: one line, exit 2, no agent made
    third = Workspace(tmp_path / "third", scope="agent")
    bad = {**doc, "memory": [{"id": "x", "kind": "note", "content": "?"}]}
    (third.root / "bad.json").write_text(json.dumps(bad))
    refused = third.mentra("import", "bad.json")
    assert refused.returncode == 2 and refused.stderr.count("\n") == 1, refused.stderr
    assert "memory" in refused.stderr and "Traceback" not in refused.stderr
    listed = third.mentra("list-agents", "-o", "json")
    assert json.loads(listed.stdout or "[]") == []


def test_fallback_without_fts5_is_noticed_once_and_still_finds(tmp_path: Path) -> None:
    ws = Workspace(tmp_path / "ws", scope="workspace")
    env = {"MENTRA_MEMORY_FTS": "0"}
    ws.run(pin_script(ws), "Remember it.", env=env)
    found = ws.run(search_script(ws), "Search it.", env=env)
    notices = [e for e in found if e["type"] == "notice" and "FTS5" in e["message"]]
    assert len(notices) == 1 and notices[0]["level"] == "warning"
    hits = json.loads(tool_output(found, "memory_search"))
    assert hits[0]["content"] == FACT


@pytest.mark.parametrize(
    ("block", "expected"),
    [
        ("", ["memory_search", "memory_pin", "memory_forget"]),
        ("  write_tools: false\n", ["memory_search"]),
        ("  enabled: false\n", []),
    ],
)
def test_tool_set_follows_the_config(tmp_path: Path, block: str, expected: list[str]) -> None:
    ws = Workspace(tmp_path / "ws", scope="agent", extra=block)
    done = ws.mentra("tools", "-c", str(ws.config), "--no-user-config", "-o", "json")
    assert done.returncode == 0, done.stderr
    tools = {t["name"]: t for t in json.loads(done.stdout)}
    assert [n for n in tools if n.startswith("memory_")] == expected
    if "memory_pin" in tools:
        assert tools["memory_pin"]["mutates"] and tools["memory_forget"]["mutates"]
        assert not tools["memory_search"]["mutates"]


def test_disabled_memory_ingests_nothing(tmp_path: Path) -> None:
    ws = Workspace(tmp_path / "ws", scope="agent", extra="  enabled: false\n")
    events = ws.run(ws.script("a", [{"text": "ok"}]), "hello", allow=False)
    assert events[-1]["status"] == "success"
    assert "memory_search" not in events[0]["tools"]
    assert not [e for e in events if e["type"] == "memory_updated"]
    assert ws.listing("list") == []


def test_cli_errors_are_one_line(tmp_path: Path) -> None:
    ws = Workspace(tmp_path / "ws")
    for args, needle in [
        (["list", "--kind", "note"], "--kind"),
        (["list", "--agent", "x", "--workspace"], "not both"),
        (["search", "x", "--limit", "11"], "--limit"),
        (["pin", "  "], "empty"),
        (["list", "--agent", "ffff"], "no agent"),
    ]:
        done = ws.mentra("memory", *args)
        assert done.returncode == 2, (args, done.stderr)
        assert done.stderr.count("\n") == 1 and needle in done.stderr, done.stderr
        assert "Traceback" not in done.stderr


def test_schema_events_shows_memory_updated() -> None:
    done = subprocess.run(
        [MENTRA, "schema", "events"], capture_output=True, text=True, timeout=60, check=True
    )
    schema = json.loads(done.stdout)
    props = schema["$defs"]["MemoryUpdated"]["properties"]
    assert set(props["action"]["enum"]) == {"pinned", "forgotten", "ingested", "recalled"}
    assert {"record_id", "kind", "key"} <= set(props)


def test_recall_and_the_forget_tool_emit_memory_updated(tmp_path: Path) -> None:
    ws = Workspace(tmp_path)
    pinned = ws.mentra("memory", "pin", FACT)
    assert pinned.returncode == 0, pinned.stderr
    record_id = json.loads(pinned.stdout)["id"]
    forget = ws.script(
        "forget",
        [
            {"tool_calls": [{"name": "memory_forget", "input": {"record_id": record_id}}]},
            {"text": "Forgotten."},
        ],
    )
    events = ws.run(forget, "When does the staging password rotate?")
    assert events[-1]["status"] == "success"
    assert tool_output(events, "memory_forget") == f"Forgot memory {record_id}."
    updates = [
        (e["action"], e["record_id"], e["kind"]) for e in events if e["type"] == "memory_updated"
    ]
    agent = events[0]["agent_id"]
    assert updates[:2] == [("recalled", record_id, "fact"), ("forgotten", record_id, "fact")]
    assert updates[2][0] == "ingested" and updates[2][1].startswith(f"episode:{agent}:")
    assert [r["id"] for r in ws.listing("list", "--kind", "fact")] == []
