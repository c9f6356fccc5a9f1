"""The store contract as a reusable test suite: what every `Store` backend must pass.

A backend's tests subclass `StoreContract` and say how to make a fresh, empty store::

    from mentra.store.testing import StoreContract

    class TestPostgresStore(StoreContract):
        def make_store(self, tmp_path: Path) -> Store:
            return PostgresStore(dsn)  # an empty database per test

pytest then runs every ``test_*`` method against it; the store is closed after each test.
A backend that several processes share also implements `second_handle` (another connection
to the same data, as a second process would open), which the fencing tests need.
This module needs pytest (a test dependency, not one of mentra's).
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from mentra.errors import AgentBusyError, StoreError, UsageError
from mentra.messages import (
    ImageBlock,
    Message,
    ReasoningBlock,
    TextBlock,
    ToolResultBlock,
    ToolUseBlock,
    Usage,
)
from mentra.store.base import (
    AgentRecord,
    AuditRecord,
    CompactionMarker,
    JobRecord,
    LeaseHolder,
    PermissionRuleRecord,
    RunRecord,
    Store,
    StoredRunStatus,
)
from mentra.store.fencing import LeaseLostError

HOST = socket.gethostname()


def make_agent(agent_id: str = "a1b2c3", *, workspace: str = "/ws") -> AgentRecord:
    return AgentRecord(
        id=agent_id,
        name="reviewer",
        model="scripted:demo.yaml",
        workspace=workspace,
        config={"name": "reviewer", "limits": {"max_rounds": 3}, "tags": ["a", "é"]},
    )


def make_run(run_id: str = "r1", agent_id: str = "a1b2c3", prompt: str | None = "hi") -> RunRecord:
    return RunRecord(id=run_id, agent_id=agent_id, prompt=prompt)


def assistant(text: str) -> Message:
    return Message(role="assistant", content=[TextBlock(text=text)])


def make_marker() -> CompactionMarker:
    return CompactionMarker(
        summary="[Compaction summary]\nGoal: ship it",
        context=[
            Message.user_text("[Compaction summary]\nGoal: ship it"),
            Message(
                role="assistant",
                content=[ToolUseBlock(id="c9", name="shell", input={"command": "ls é"})],
            ),
        ],
        fields={"goal": "ship it", "next_steps": ["test", "release"]},
        trigger="manual",
        tokens_before=9000,
        tokens_after=1200,
        folded_turns=3,
    )


def dead_pid() -> int:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


class StoreContract:
    """The contract suite; subclass it (named ``Test...``) and implement `make_store`."""

    def make_store(self, tmp_path: Path) -> Store:
        """A new, empty store of the backend under test."""
        raise NotImplementedError

    def second_handle(self, tmp_path: Path) -> Store | None:
        """Another handle on the store `make_store` made (what a second process would open),
        or None for a backend that lives in one process only."""
        return None

    @pytest.fixture
    def other(self, seeded: Store, tmp_path: Path) -> Iterator[Store]:
        s = self.second_handle(tmp_path)
        if s is None:
            pytest.skip("the backend has no second handle (it lives in one process)")
        try:
            yield s
        finally:
            s.close()

    @pytest.fixture
    def store(self, tmp_path: Path) -> Iterator[Store]:
        s = self.make_store(tmp_path)
        try:
            yield s
        finally:
            s.close()

    @pytest.fixture
    def seeded(self, store: Store) -> Store:
        store.create_agent(make_agent())
        store.begin_run(make_run())
        return store

    # -- agents -----------------------------------------------------------------------------------
    def test_create_and_get_agent_round_trips(self, store: Store) -> None:
        store.create_agent(make_agent())
        got = store.get_agent("a1b2c3")
        assert got is not None
        assert (got.id, got.name, got.model, got.workspace) == (
            "a1b2c3",
            "reviewer",
            "scripted:demo.yaml",
            "/ws",
        )
        assert got.config == make_agent().config
        assert got.status == "idle"
        assert (got.items, got.turns) == (0, 0)
        assert got.created_at is not None and got.created_at.tzinfo is not None
        assert got.updated_at is not None and got.updated_at >= got.created_at

    def test_records_returned_are_copies(self, store: Store) -> None:
        store.create_agent(make_agent())
        got = store.get_agent("a1b2c3")
        assert got is not None
        got.config["limits"]["max_rounds"] = 99
        got.name = "changed"
        again = store.get_agent("a1b2c3")
        assert again is not None
        assert again.name == "reviewer"
        assert again.config["limits"]["max_rounds"] == 3

    def test_create_agent_keeps_given_timestamps(self, store: Store) -> None:
        created = datetime(2025, 1, 2, 3, 4, 5, 600000, tzinfo=UTC)
        record = make_agent()
        record.created_at = created
        store.create_agent(record)
        got = store.get_agent("a1b2c3")
        assert got is not None
        assert got.created_at == created

    def test_duplicate_agent_id_is_refused(self, store: Store) -> None:
        store.create_agent(make_agent())
        with pytest.raises(StoreError, match="already exists"):
            store.create_agent(make_agent())

    def test_get_agent_unknown_or_empty_is_none(self, store: Store) -> None:
        store.create_agent(make_agent())
        assert store.get_agent("zzz") is None
        assert store.get_agent("") is None

    def test_get_agent_by_unique_prefix(self, store: Store) -> None:
        store.create_agent(make_agent("abc111"))
        store.create_agent(make_agent("abd222"))
        got = store.get_agent("abc")
        assert got is not None and got.id == "abc111"
        with pytest.raises(UsageError, match="ambiguous") as info:
            store.get_agent("ab")
        assert "abc111" in info.value.message and "abd222" in info.value.message
        assert info.value.exit_code == 2

    def test_exact_id_wins_over_prefix(self, store: Store) -> None:
        store.create_agent(make_agent("abc"))
        store.create_agent(make_agent("abcdef"))
        got = store.get_agent("abc")
        assert got is not None and got.id == "abc"

    def test_list_agents_by_workspace_most_recent_first(self, store: Store) -> None:
        store.create_agent(make_agent("one", workspace="/ws"))
        store.create_agent(make_agent("two", workspace="/ws"))
        store.create_agent(make_agent("other", workspace="/elsewhere"))
        assert [a.id for a in store.list_agents("/ws")] == ["two", "one"]
        store.begin_run(make_run("r1", "one"))  # activity moves "one" to the front
        assert [a.id for a in store.list_agents("/ws")] == ["one", "two"]
        assert [a.id for a in store.list_agents(None)] == ["one", "other", "two"]
        assert store.list_agents("/nowhere") == []

    def test_latest_agent(self, store: Store) -> None:
        assert store.latest_agent("/ws") is None
        store.create_agent(make_agent("one"))
        store.create_agent(make_agent("two"))
        store.create_agent(make_agent("far", workspace="/elsewhere"))
        latest = store.latest_agent("/ws")
        assert latest is not None and latest.id == "two"
        store.set_agent_status("one", "failed")
        latest = store.latest_agent("/ws")
        assert latest is not None and latest.id == "one"

    def test_set_agent_status(self, store: Store) -> None:
        store.create_agent(make_agent())
        store.set_agent_status("a1b2c3", "interrupted")
        got = store.get_agent("a1b2c3")
        assert got is not None and got.status == "interrupted"
        with pytest.raises(StoreError):
            store.set_agent_status("nope", "idle")

    def test_delete_agent_removes_everything(self, seeded: Store) -> None:
        s = seeded
        s.commit_round("a1b2c3", "r1", [Message.user_text("hi")], make_run())
        s.append_audit(AuditRecord("a1b2c3", "r1", "c1", "shell", "ls", "allow", "rule"))
        s.create_job(JobRecord(id="j1", agent_id="a1b2c3", command="sleep 1"))
        s.acquire_lease("a1b2c3", LeaseHolder(dead_pid(), HOST, "r1"), 60)
        s.delete_agent("a1b2c3")
        assert s.get_agent("a1b2c3") is None
        assert s.get_run("r1") is None
        assert s.load_transcript("a1b2c3") == []
        assert s.list_audit("a1b2c3") == []
        assert s.get_job("j1") is None
        assert s.get_lease("a1b2c3") is None
        s.create_agent(make_agent())  # the id is free again
        with pytest.raises(StoreError):
            s.delete_agent("nope")

    def test_delete_agent_refused_while_leased(self, seeded: Store) -> None:
        seeded.acquire_lease("a1b2c3", LeaseHolder(os.getpid(), HOST, "r1"), 60)
        with pytest.raises(AgentBusyError):
            seeded.delete_agent("a1b2c3")
        assert seeded.get_agent("a1b2c3") is not None

    # -- runs and transcript ----------------------------------------------------------------------
    def test_begin_run_counts_turns_and_marks_running(self, store: Store) -> None:
        store.create_agent(make_agent())
        store.begin_run(make_run("r1"))
        store.begin_run(make_run("r2", prompt=None))
        got = store.get_agent("a1b2c3")
        assert got is not None and got.turns == 2 and got.status == "running"
        run = store.get_run("r2")
        assert run is not None
        assert (run.status, run.prompt, run.agent_id) == ("running", None, "a1b2c3")
        assert run.started_at is not None and run.finished_at is None

    def test_begin_run_refuses_duplicates_and_unknown_agents(self, seeded: Store) -> None:
        with pytest.raises(StoreError, match="already exists"):
            seeded.begin_run(make_run("r1"))
        with pytest.raises(StoreError, match="no agent"):
            seeded.begin_run(make_run("r9", agent_id="ghost"))

    def test_commit_round_appends_in_order_with_every_block_kind(self, seeded: Store) -> None:
        first = [Message.user_text("read README")]
        second = [
            Message(
                role="assistant",
                content=[
                    ReasoningBlock(text="think", signature="sig", provider="anthropic"),
                    TextBlock(text="Let me read it."),
                    ToolUseBlock(id="c1", name="files", input={"operations": [{"op": "read"}]}),
                    ToolUseBlock(id="c2", name="shell", raw_input='{"command": "ls'),
                ],
            ),
            Message(
                role="user",
                content=[
                    ToolResultBlock(tool_use_id="c1", content="# mentra"),
                    ToolResultBlock(tool_use_id="c2", content="bad json", is_error=True),
                    ImageBlock(data="aGk="),
                ],
            ),
        ]
        run = make_run()
        run.rounds, run.tool_calls, run.cost_usd = 1, 2, 0.25
        run.usage = Usage(input_tokens=100, output_tokens=7, cached_input_tokens=3)
        seeded.commit_round("a1b2c3", "r1", first, run)
        seeded.commit_round("a1b2c3", "r1", second, run)
        items = seeded.load_transcript("a1b2c3")
        assert [i.seq for i in items] == [1, 2, 3]
        assert {i.run_id for i in items} == {"r1"}
        assert [i.message for i in items] == first + second
        stored = seeded.get_run("r1")
        assert stored is not None
        assert (stored.rounds, stored.tool_calls, stored.cost_usd) == (1, 2, 0.25)
        assert stored.usage == Usage(input_tokens=100, output_tokens=7, cached_input_tokens=3)
        got = seeded.get_agent("a1b2c3")
        assert got is not None and got.items == 3

    def test_commit_round_snapshots_the_run(self, seeded: Store) -> None:
        run = make_run()
        seeded.commit_round("a1b2c3", "r1", [Message.user_text("x")], run)
        run.usage.add(Usage(input_tokens=5))  # the caller keeps mutating its record
        stored = seeded.get_run("r1")
        assert stored is not None and stored.usage.input_tokens == 0

    def test_commit_round_to_unknown_run_writes_nothing(self, seeded: Store) -> None:
        with pytest.raises(StoreError):
            seeded.commit_round("a1b2c3", "nope", [Message.user_text("x")], make_run("nope"))
        with pytest.raises(StoreError):
            seeded.commit_round("ghost", "r1", [Message.user_text("x")], make_run())
        assert seeded.load_transcript("a1b2c3") == []
        got = seeded.get_agent("a1b2c3")
        assert got is not None and got.items == 0

    def test_transcripts_are_per_agent_and_span_runs(self, seeded: Store) -> None:
        s = seeded
        s.create_agent(make_agent("other"))
        s.begin_run(make_run("o1", "other"))
        s.commit_round("a1b2c3", "r1", [Message.user_text("a"), assistant("b")], make_run())
        s.commit_round("other", "o1", [Message.user_text("z")], make_run("o1", "other"))
        s.finish_run(RunRecord(id="r1", agent_id="a1b2c3", prompt="hi", status="success"))
        s.begin_run(make_run("r2"))
        s.commit_round("a1b2c3", "r2", [Message.user_text("c")], make_run("r2"))
        items = s.load_transcript("a1b2c3")
        assert [(i.seq, i.run_id, i.message.text) for i in items] == [
            (1, "r1", "a"),
            (2, "r1", "b"),
            (3, "r2", "c"),
        ]
        assert [i.message.text for i in s.load_transcript("other")] == ["z"]
        assert s.load_transcript("ghost") == []

    def test_compaction_marker_is_an_item_after_the_messages_it_summarizes(
        self, seeded: Store
    ) -> None:
        s = seeded
        s.commit_round("a1b2c3", "r1", [Message.user_text("a"), assistant("b")], make_run())
        run = make_run()
        run.rounds = 2
        s.commit_compaction("a1b2c3", "r1", make_marker(), run)
        stored = s.get_run("r1")
        assert stored is not None and stored.rounds == 2  # the run's counters go with it
        s.commit_round("a1b2c3", "r1", [assistant("c")], make_run())
        items = s.load_transcript("a1b2c3")
        assert [(i.seq, i.message.text, i.compaction is not None) for i in items] == [
            (1, "a", False),
            (2, "b", False),
            (3, "[Compaction summary]\nGoal: ship it", True),
            (4, "c", False),
        ]
        marker = items[2].compaction
        assert marker is not None
        assert marker == make_marker()  # every field round-trips, the context's blocks too
        agent = s.get_agent("a1b2c3")
        assert agent is not None and agent.items == 4
        marker.context.clear()  # a copy: the stored marker is unchanged
        again = s.load_transcript("a1b2c3")[2].compaction
        assert again is not None and len(again.context) == 2

    def test_compaction_to_unknown_run_writes_nothing(self, seeded: Store) -> None:
        with pytest.raises(StoreError):
            seeded.commit_compaction("a1b2c3", "nope", make_marker(), make_run("nope"))
        assert seeded.load_transcript("a1b2c3") == []

    def test_commit_round_with_no_messages_updates_counters(self, seeded: Store) -> None:
        run = make_run()
        run.rounds = 4
        seeded.commit_round("a1b2c3", "r1", [], run)
        stored = seeded.get_run("r1")
        assert stored is not None and stored.rounds == 4
        assert seeded.load_transcript("a1b2c3") == []

    @pytest.mark.parametrize(
        ("status", "agent_status"),
        [
            ("success", "idle"),
            ("interrupted", "interrupted"),
            ("provider_error", "failed"),
            ("limit_reached", "failed"),
            ("timeout", "failed"),
            ("error", "failed"),
        ],
    )
    def test_finish_run_stores_final_state(
        self, seeded: Store, status: StoredRunStatus, agent_status: str
    ) -> None:
        run = make_run()
        run.status = status
        run.error = None if status == "success" else "it went wrong"
        run.usage = Usage(input_tokens=10, output_tokens=2, reasoning_tokens=1)
        run.cost_usd = None
        run.rounds, run.tool_calls = 2, 1
        seeded.finish_run(run)
        stored = seeded.get_run("r1")
        assert stored is not None
        assert (stored.status, stored.error, stored.rounds, stored.tool_calls) == (
            status,
            run.error,
            2,
            1,
        )
        assert stored.usage == run.usage and stored.cost_usd is None
        assert stored.finished_at is not None and stored.started_at is not None
        assert stored.finished_at >= stored.started_at
        got = seeded.get_agent("a1b2c3")
        assert got is not None and got.status == agent_status

    def test_finish_unknown_run_is_an_error(self, seeded: Store) -> None:
        with pytest.raises(StoreError):
            seeded.finish_run(make_run("nope"))

    def test_interrupt_stale_runs(self, seeded: Store) -> None:
        done = make_run("r0")
        seeded.begin_run(done)
        done.status = "success"
        seeded.finish_run(done)
        seeded.begin_run(make_run("r2"))
        stale = seeded.interrupt_stale_runs("a1b2c3", reason="its process died")
        assert [(r.id, r.status, r.error) for r in stale] == [
            ("r1", "interrupted", "its process died"),
            ("r2", "interrupted", "its process died"),
        ]
        assert all(r.finished_at is not None for r in stale)
        stored = seeded.get_run("r1")
        assert stored is not None and (stored.status, stored.error) == (
            "interrupted",
            "its process died",
        )
        r0 = seeded.get_run("r0")
        assert r0 is not None and r0.status == "success"
        assert seeded.interrupt_stale_runs("a1b2c3", reason="again") == []

    def test_runs_listed_oldest_first_and_last_run(self, store: Store) -> None:
        store.create_agent(make_agent())
        assert store.last_run("a1b2c3") is None
        assert store.list_runs("a1b2c3") == []
        for rid in ("r-b", "r-a", "r-c"):  # insertion order, not id order
            store.begin_run(make_run(rid))
        assert [r.id for r in store.list_runs("a1b2c3")] == ["r-b", "r-a", "r-c"]
        last = store.last_run("a1b2c3")
        assert last is not None and last.id == "r-c"
        assert store.get_run("missing") is None

    # -- leases -----------------------------------------------------------------------------------
    def test_lease_is_exclusive_and_names_the_holder(self, seeded: Store) -> None:
        me = LeaseHolder(os.getpid(), HOST, "r1")
        seeded.acquire_lease("a1b2c3", me, 60)
        with pytest.raises(AgentBusyError) as info:
            seeded.acquire_lease("a1b2c3", LeaseHolder(os.getpid(), HOST, "r2"), 60)
        assert f"{os.getpid()}@{HOST}" in info.value.message
        assert info.value.exit_code == 6
        lease = seeded.get_lease("a1b2c3")
        assert lease is not None and lease.holder == me
        assert lease.expires_at > datetime.now(UTC) + timedelta(seconds=50)

    def test_same_holder_may_acquire_again(self, seeded: Store) -> None:
        me = LeaseHolder(os.getpid(), HOST, "r1")
        seeded.acquire_lease("a1b2c3", me, 60)
        seeded.acquire_lease("a1b2c3", me, 60)

    def test_expired_lease_is_taken_over(self, seeded: Store) -> None:
        remote = LeaseHolder(1, "another-host.example", "r0")  # cannot be probed from here
        seeded.acquire_lease("a1b2c3", remote, -1)  # already expired
        me = LeaseHolder(os.getpid(), HOST, "r1")
        seeded.acquire_lease("a1b2c3", me, 60)
        lease = seeded.get_lease("a1b2c3")
        assert lease is not None and lease.holder == me

    def test_live_remote_lease_is_respected(self, seeded: Store) -> None:
        seeded.acquire_lease("a1b2c3", LeaseHolder(1, "another-host.example", "r0"), 60)
        with pytest.raises(AgentBusyError, match=r"another-host\.example"):
            seeded.acquire_lease("a1b2c3", LeaseHolder(os.getpid(), HOST, "r1"), 60)

    def test_lease_of_a_dead_local_process_is_taken_over(self, seeded: Store) -> None:
        seeded.acquire_lease("a1b2c3", LeaseHolder(dead_pid(), HOST, "r0"), 3600)
        me = LeaseHolder(os.getpid(), HOST, "r1")
        seeded.acquire_lease("a1b2c3", me, 60)
        lease = seeded.get_lease("a1b2c3")
        assert lease is not None and lease.holder == me

    def test_renew_extends_and_detects_a_lost_lease(self, seeded: Store) -> None:
        me = LeaseHolder(os.getpid(), HOST, "r1")
        seeded.acquire_lease("a1b2c3", me, 1)
        before = seeded.get_lease("a1b2c3")
        seeded.renew_lease("a1b2c3", me, 120)
        after = seeded.get_lease("a1b2c3")
        assert before is not None and after is not None
        assert after.expires_at > before.expires_at
        assert after.heartbeat_at >= before.heartbeat_at
        seeded.release_lease("a1b2c3", me)
        seeded.acquire_lease("a1b2c3", LeaseHolder(os.getpid(), HOST, "r2"), 60)
        with pytest.raises(AgentBusyError, match="lost its lease"):
            seeded.renew_lease("a1b2c3", me, 60)

    def test_release_only_by_the_holder(self, seeded: Store) -> None:
        me = LeaseHolder(os.getpid(), HOST, "r1")
        seeded.acquire_lease("a1b2c3", me, 60)
        seeded.release_lease("a1b2c3", LeaseHolder(os.getpid(), HOST, "r2"))
        assert seeded.get_lease("a1b2c3") is not None
        seeded.release_lease("a1b2c3", me)
        assert seeded.get_lease("a1b2c3") is None
        seeded.release_lease("a1b2c3", me)  # twice is harmless

    def test_lease_on_unknown_agent_is_an_error(self, store: Store) -> None:
        with pytest.raises(StoreError):
            store.acquire_lease("ghost", LeaseHolder(os.getpid(), HOST, "r1"), 60)

    # -- fencing (#14.1) --------------------------------------------------------------------------
    def test_lease_generation_grows_on_every_new_acquisition(self, seeded: Store) -> None:
        first = LeaseHolder(1, "another-host.example", "r0")
        g1 = seeded.acquire_lease("a1b2c3", first, -1)  # expires at once
        assert seeded.acquire_lease("a1b2c3", first, -1) == g1  # the same holder: a renewal
        me = LeaseHolder(os.getpid(), HOST, "r1")
        g2 = seeded.acquire_lease("a1b2c3", me, 60)  # a takeover
        assert g2 > g1
        seeded.renew_lease("a1b2c3", me, 60)
        lease = seeded.get_lease("a1b2c3")
        assert lease is not None and lease.generation == g2
        seeded.release_lease("a1b2c3", me)
        g3 = seeded.acquire_lease("a1b2c3", me, 60)  # after a release: still greater
        assert g3 > g2

    def test_writes_fenced_by_a_lost_lease_are_refused_and_change_nothing(
        self, seeded: Store
    ) -> None:
        s = seeded
        stale = s.acquire_lease("a1b2c3", LeaseHolder(1, "another-host.example", "r1"), -1)
        taker = s.acquire_lease("a1b2c3", LeaseHolder(os.getpid(), HOST, "r2"), 60)
        s.begin_run(make_run("r2"), fence=taker)
        s.commit_round("a1b2c3", "r2", [Message.user_text("B")], make_run("r2"), fence=taker)
        result = ToolResultBlock(tool_use_id="c1", content="done")
        audit = AuditRecord("a1b2c3", "r1", "c1", "shell", "ls", "allow", "rule")
        s.create_job(JobRecord(id="j0", agent_id="a1b2c3", command="true"), fence=taker)
        late = make_run("r1")
        late.status = "success"
        writes: list[Callable[[], None]] = [
            lambda: s.commit_round("a1b2c3", "r1", [assistant("A")], make_run(), fence=stale),
            lambda: s.commit_tool_result("a1b2c3", "r1", "c1", result, fence=stale),
            lambda: s.commit_compaction("a1b2c3", "r1", make_marker(), make_run(), fence=stale),
            lambda: s.finish_run(late, fence=stale),
            lambda: s.begin_run(make_run("r3"), fence=stale),
            lambda: s.append_audit(audit, fence=stale),
            lambda: s.create_job(JobRecord(id="j1", agent_id="a1b2c3", command="x"), fence=stale),
            lambda: s.finish_job("j0", status="exited", exit_code=0, fence=stale),
        ]
        for write in writes:
            with pytest.raises(LeaseLostError, match="lost its lease") as info:
                write()
            assert isinstance(info.value, AgentBusyError)
            assert (info.value.exit_code, info.value.status) == (6, "busy")
        assert [(i.run_id, i.message.text) for i in s.load_transcript("a1b2c3")] == [("r2", "B")]
        assert s.pending_tool_results("a1b2c3") == {}
        r1 = s.get_run("r1")
        assert r1 is not None and r1.status == "running"
        assert s.get_run("r3") is None and s.get_job("j1") is None
        j0 = s.get_job("j0")
        assert j0 is not None and j0.status == "running"
        assert s.list_audit("a1b2c3") == []
        s.commit_round("a1b2c3", "r2", [assistant("B!")], make_run("r2"), fence=taker)
        assert len(s.load_transcript("a1b2c3")) == 2

    def test_a_fence_outlives_the_takers_release(self, seeded: Store) -> None:
        me = LeaseHolder(os.getpid(), HOST, "r1")
        mine = seeded.acquire_lease("a1b2c3", me, 60)
        seeded.release_lease("a1b2c3", me)
        with pytest.raises(LeaseLostError):
            seeded.commit_round("a1b2c3", "r1", [assistant("x")], make_run(), fence=mine)

    def test_a_holder_taken_over_by_another_process_writes_nothing_more(
        self, seeded: Store, other: Store
    ) -> None:
        stale = LeaseHolder(os.getpid(), HOST, "r1")
        seeded.acquire_lease("a1b2c3", stale, -1)  # its lease runs out (a paused process)
        seeded.commit_round("a1b2c3", "r1", [Message.user_text("A")], make_run())
        taker = LeaseHolder(os.getpid(), HOST, "r2")
        other.acquire_lease("a1b2c3", taker, 60)
        interrupted = other.interrupt_stale_runs("a1b2c3", reason="taken over")
        assert [r.id for r in interrupted] == ["r1"]
        other.begin_run(make_run("r2"))
        other.commit_round("a1b2c3", "r2", [Message.user_text("B"), assistant("b")], make_run("r2"))
        # the paused holder wakes up: every write of its run is refused, its heartbeat too
        with pytest.raises(LeaseLostError):
            seeded.renew_lease("a1b2c3", stale, 60)
        with pytest.raises(LeaseLostError):
            seeded.commit_round("a1b2c3", "r1", [assistant("a")], make_run())
        with pytest.raises(LeaseLostError):
            seeded.commit_tool_result(
                "a1b2c3", "r1", "c1", ToolResultBlock(tool_use_id="c1", content="x")
            )
        with pytest.raises(LeaseLostError):
            seeded.append_audit(AuditRecord("a1b2c3", "r1", "c1", "shell", "ls", "allow", "rule"))
        done = make_run("r1")
        done.status = "success"
        with pytest.raises(LeaseLostError):
            seeded.finish_run(done)
        other.release_lease("a1b2c3", taker)  # the taker finishes: a released lease fences too
        with pytest.raises(LeaseLostError):
            seeded.commit_round("a1b2c3", "r1", [assistant("a")], make_run())
        with pytest.raises(LeaseLostError):
            seeded.renew_lease("a1b2c3", stale, 60)
        assert other.get_lease("a1b2c3") is None  # the heartbeat did not take it back
        seeded.release_lease("a1b2c3", stale)
        assert [i.message.text for i in other.load_transcript("a1b2c3")] == ["A", "B", "b"]
        r1 = other.get_run("r1")
        assert r1 is not None and (r1.status, r1.error) == ("interrupted", "taken over")

    # -- per-call results (#14.2) -----------------------------------------------------------------
    def test_tool_results_are_pending_until_their_round_commits(self, seeded: Store) -> None:
        s = seeded
        uses = [ToolUseBlock(id=c, name="shell", input={"command": "ls"}) for c in ("c1", "c2")]
        s.commit_round("a1b2c3", "r1", [Message(role="assistant", content=list(uses))], make_run())
        first = ToolResultBlock(tool_use_id="c2", content="second call done")
        run = make_run()
        run.tool_calls = 1
        s.commit_tool_result("a1b2c3", "r1", "c2", first, run)
        stored = s.get_run("r1")
        assert stored is not None and stored.tool_calls == 1
        again = ToolResultBlock(tool_use_id="c2", content="replaced", is_error=True)
        s.commit_tool_result("a1b2c3", "r1", "c2", again)
        s.commit_tool_result("a1b2c3", "r1", "c1", ToolResultBlock(tool_use_id="c1", content="1"))
        assert s.pending_tool_results("a1b2c3") == {
            "c2": again,
            "c1": ToolResultBlock(tool_use_id="c1", content="1"),
        }
        assert list(s.pending_tool_results("a1b2c3")) == ["c2", "c1"]  # commit order
        assert len(s.load_transcript("a1b2c3")) == 1  # the transcript is unchanged
        blocks = [ToolResultBlock(tool_use_id="c1", content="1"), again]
        s.commit_round("a1b2c3", "r1", [Message(role="user", content=list(blocks))], make_run())
        assert s.pending_tool_results("a1b2c3") == {}
        assert s.pending_tool_results("ghost") == {}
        with pytest.raises(StoreError):
            s.commit_tool_result("ghost", "r1", "c1", first)

    def test_delete_agent_removes_pending_results(self, seeded: Store) -> None:
        seeded.commit_tool_result(
            "a1b2c3", "r1", "c1", ToolResultBlock(tool_use_id="c1", content="x")
        )
        seeded.delete_agent("a1b2c3")
        seeded.create_agent(make_agent())
        assert seeded.pending_tool_results("a1b2c3") == {}

    # -- audit, rules, jobs -----------------------------------------------------------------------
    def test_audit_in_append_order(self, seeded: Store) -> None:
        first = AuditRecord(
            "a1b2c3", "r1", "c1", "shell", "git status", "allow", "rule", "shell(git *)"
        )
        second = AuditRecord("a1b2c3", "r2", "c2", "files", "write:src/x.py", "deny", "mode")
        seeded.append_audit(first)
        seeded.append_audit(second)
        records = seeded.list_audit("a1b2c3")
        assert [(r.call_id, r.outcome, r.rule) for r in records] == [
            ("c1", "allow", "shell(git *)"),
            ("c2", "deny", None),
        ]
        assert all(r.at is not None for r in records)
        assert [r.call_id for r in seeded.list_audit("a1b2c3", "r2")] == ["c2"]
        assert seeded.list_audit("other") == []

    def test_permission_rules_remembered_once(self, store: Store) -> None:
        store.add_permission_rule(PermissionRuleRecord("project", "shell(git diff *)"))
        store.add_permission_rule(PermissionRuleRecord("project", "shell(git diff *)"))
        store.add_permission_rule(PermissionRuleRecord("global", "files(read:**)"))
        store.add_permission_rule(PermissionRuleRecord("project", "shell(rm *)", "deny"))
        rules = store.list_permission_rules()
        assert [(r.scope, r.rule, r.decision) for r in rules] == [
            ("project", "shell(git diff *)", "allow"),
            ("global", "files(read:**)", "allow"),
            ("project", "shell(rm *)", "deny"),
        ]
        assert all(r.created_at is not None for r in rules)
        assert [r.rule for r in store.list_permission_rules("global")] == ["files(read:**)"]
        assert store.remove_permission_rule(PermissionRuleRecord("global", "files(read:**)"))
        assert not store.remove_permission_rule(PermissionRuleRecord("global", "files(read:**)"))
        assert store.list_permission_rules("global") == []

    def test_background_jobs(self, seeded: Store) -> None:
        job = JobRecord(id="j1", agent_id="a1b2c3", command="make test", output_path="/tmp/j1.log")
        job.pid = 4242
        seeded.create_job(job)
        seeded.create_job(JobRecord(id="j0", agent_id="a1b2c3", command="sleep 5"))
        got = seeded.get_job("j1")
        assert got is not None
        assert (got.status, got.exit_code, got.pid, got.output_path) == (
            "running",
            None,
            4242,
            "/tmp/j1.log",
        )
        assert got.started_at is not None and got.finished_at is None
        seeded.finish_job("j1", status="exited", exit_code=3)
        got = seeded.get_job("j1")
        assert got is not None and (got.status, got.exit_code) == ("exited", 3)
        assert got.finished_at is not None
        assert [j.id for j in seeded.list_jobs("a1b2c3")] == ["j1", "j0"]
        ended = datetime(2026, 1, 2, 3, 4, 5, 678000, tzinfo=UTC)
        seeded.finish_job("j0", status="timeout", exit_code=None, finished_at=ended)
        got = seeded.get_job("j0")
        assert got is not None and (got.status, got.exit_code, got.finished_at) == (
            "timeout",
            None,
            ended,
        )
        assert seeded.get_job("nope") is None
        with pytest.raises(StoreError):
            seeded.finish_job("nope", status="lost", exit_code=None)
        with pytest.raises(StoreError, match="already exists"):
            seeded.create_job(job)
        with pytest.raises(StoreError):
            seeded.create_job(JobRecord(id="j9", agent_id="ghost", command="x"))

    # -- lifecycle --------------------------------------------------------------------------------
    def test_closed_store_refuses_work(self, store: Store) -> None:
        store.close()
        store.close()
        with pytest.raises(StoreError, match="closed"):
            store.list_agents(None)


__all__ = ["StoreContract", "make_agent", "make_run"]
