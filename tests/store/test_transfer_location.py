"""Export/import between stores (every backend pair) and where a workspace's store lives."""

from __future__ import annotations

import hashlib
import json
import os
import socket
from pathlib import Path

import pytest

from mentra.errors import AgentBusyError, StoreError, UsageError
from mentra.messages import Message, ToolUseBlock, Usage
from mentra.store.base import AgentRecord, AuditRecord, LeaseHolder, RunRecord, Store
from mentra.store.in_memory import InMemoryStore
from mentra.store.location import (
    agent_files_dir,
    default_store_path,
    open_store,
    resolve_store_path,
)
from mentra.store.sqlite import SQLiteStore
from mentra.store.transfer import EXPORT_VERSION, export_agent, import_agent


def _populate(store: Store) -> None:
    store.create_agent(
        AgentRecord(
            id="agent-1",
            name="reviewer",
            model="openai:gpt-5.4-mini",
            workspace="/ci/runner-1/repo",
            config={"name": "reviewer", "system": "Review."},
        )
    )
    store.begin_run(RunRecord(id="run-1", agent_id="agent-1", prompt="review"))
    done = RunRecord(id="run-1", agent_id="agent-1", prompt="review", status="success")
    done.usage = Usage(input_tokens=120, output_tokens=30)
    done.cost_usd, done.rounds, done.tool_calls = 0.01, 2, 1
    store.commit_round(
        "agent-1",
        "run-1",
        [
            Message.user_text("review"),
            Message(role="assistant", content=[ToolUseBlock(id="c1", name="shell")]),
        ],
        done,
    )
    store.append_audit(AuditRecord("agent-1", "run-1", "c1", "shell", "git diff", "allow", "rule"))
    store.finish_run(done)
    failed = RunRecord(id="run-2", agent_id="agent-1", prompt="more")
    store.begin_run(failed)
    store.commit_round("agent-1", "run-2", [Message.user_text("more")], failed)
    failed.status, failed.error = "provider_error", "HTTP 529"
    store.finish_run(failed)


@pytest.mark.parametrize("target_kind", ["sqlite", "memory"])
def test_export_import_round_trip(store: Store, tmp_path: Path, target_kind: str) -> None:
    _populate(store)
    data = export_agent(store, "agent")  # a unique prefix will do
    text = json.dumps(data)  # JSON-safe
    assert data["format"] == "mentra-agent" and data["version"] == EXPORT_VERSION
    target: Store = (
        SQLiteStore(tmp_path / "target.sqlite") if target_kind == "sqlite" else InMemoryStore()
    )
    try:
        imported = import_agent(target, json.loads(text), workspace="/ci/runner-2/repo")
        assert imported.id == "agent-1" and imported.workspace == "/ci/runner-2/repo"
        assert (imported.items, imported.turns, imported.status) == (3, 2, "failed")
        original = store.get_agent("agent-1")
        assert original is not None and imported.created_at == original.created_at
        assert [i.message for i in target.load_transcript("agent-1")] == [
            i.message for i in store.load_transcript("agent-1")
        ]
        assert [i.run_id for i in target.load_transcript("agent-1")] == ["run-1", "run-1", "run-2"]
        assert target.list_runs("agent-1") == store.list_runs("agent-1")
        assert [a.call_id for a in target.list_audit("agent-1")] == ["c1"]
        # What was exported from the copy matches, apart from the workspace and export time.
        again = export_agent(target, "agent-1")
        for doc in (again, data):
            doc.pop("exported_at")
            doc["agent"].pop("workspace")
            doc["agent"].pop("updated_at")
        assert again == data
    finally:
        target.close()


def test_import_refuses_an_existing_id_unless_replacing(store: Store) -> None:
    _populate(store)
    data = export_agent(store, "agent-1")
    with pytest.raises(UsageError, match="already exists"):
        import_agent(store, data, workspace="/ws")
    store.acquire_lease("agent-1", LeaseHolder(os.getpid(), socket.gethostname(), "x"), 60)
    with pytest.raises(AgentBusyError):
        import_agent(store, data, workspace="/ws", replace=True)
    store.release_lease("agent-1", LeaseHolder(os.getpid(), socket.gethostname(), "x"))
    replaced = import_agent(store, data, workspace="/ws", replace=True)
    assert replaced.workspace == "/ws" and replaced.items == 3


@pytest.mark.parametrize(
    ("data", "match"),
    [
        ([], "not a mentra agent export"),
        ({"format": "something"}, "not a mentra agent export"),
        ({"format": "mentra-agent", "version": 99}, "newer"),
        ({"format": "mentra-agent", "version": 1}, "agent"),
        (
            {
                "format": "mentra-agent",
                "version": 1,
                "agent": {"id": "x", "name": "n", "model": "m", "workspace": "/", "config": {},
                          "status": "idle"},
                "transcript": [{"seq": 1, "run_id": "ghost",
                                "message": {"role": "user", "content": []}}],
            },
            "unknown run",
        ),
        (  # an id names the agent's directory: a path in it would reach outside the store
            {
                "format": "mentra-agent",
                "version": 1,
                "agent": {"id": "../../home", "name": "n", "model": "m", "workspace": "/",
                          "config": {}, "status": "idle"},
            },
            "agent.id",
        ),
    ],
)  # fmt: skip
def test_import_rejects_bad_documents(data: object, match: str) -> None:
    with InMemoryStore() as store, pytest.raises(UsageError, match=match):
        import_agent(store, data, workspace="/ws")
    with InMemoryStore() as store:
        assert store.list_agents(None) == []


def test_export_unknown_agent(store: Store) -> None:
    with pytest.raises(UsageError, match="no agent"):
        export_agent(store, "nope")


def test_import_conflicting_run_id_leaves_nothing(store: Store) -> None:
    _populate(store)
    data = export_agent(store, "agent-1")
    data["agent"]["id"] = "agent-2"
    with pytest.raises(UsageError, match="run run-1 already exists"):
        import_agent(store, data, workspace="/ws")
    assert store.get_agent("agent-2") is None


# -- location ---------------------------------------------------------------------------------
def test_default_store_path_is_scoped_by_workspace(tmp_path: Path) -> None:
    path = default_store_path(tmp_path)
    key = hashlib.sha256(str(tmp_path.resolve()).encode()).hexdigest()[:16]
    assert path.parts[-4:] == ("mentra", "workspaces", key, "store.sqlite")
    assert str(path).startswith(os.environ["XDG_DATA_HOME"])
    assert default_store_path(tmp_path / "x" / "..") == path  # resolved first
    assert default_store_path(tmp_path / "x") != path


def test_store_flag_beats_env_beats_default(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert resolve_store_path(None, tmp_path) == default_store_path(tmp_path)
    monkeypatch.setenv("MENTRA_STORE", str(tmp_path / "env.sqlite"))
    assert resolve_store_path(None, tmp_path) == tmp_path / "env.sqlite"
    assert resolve_store_path(str(tmp_path / "flag.sqlite"), tmp_path) == tmp_path / "flag.sqlite"
    monkeypatch.setenv("MENTRA_STORE", "")
    assert resolve_store_path(None, tmp_path) == default_store_path(tmp_path)
    monkeypatch.setenv("HOME", str(tmp_path))
    assert resolve_store_path("~/s.sqlite", tmp_path) == tmp_path / "s.sqlite"


def test_open_store(tmp_path: Path) -> None:
    with open_store(None) as memory:  # type: ignore[attr-defined]
        assert isinstance(memory, InMemoryStore)
    store = open_store(tmp_path / "a" / "b" / "store.sqlite")
    try:
        assert isinstance(store, SQLiteStore)
        assert (tmp_path / "a" / "b" / "store.sqlite").exists()
    finally:
        store.close()
    with pytest.raises(StoreError, match="directory"):
        open_store(tmp_path)
    with pytest.raises(StoreError, match="not supported"):
        open_store(resolve_store_path("postgresql://ci-db/mentra", tmp_path))


@pytest.mark.parametrize("bad", ["", ".", "..", "../x", "a/b", "a\\b"])
def test_agent_files_dir_stays_inside_the_store_folder(tmp_path: Path, bad: str) -> None:
    store = tmp_path / "store.sqlite"
    assert agent_files_dir(store, "01a2b3") == tmp_path / "agents" / "01a2b3"
    with pytest.raises(StoreError, match="cannot name a directory"):
        agent_files_dir(store, bad)
