"""The agent loop, driven by the shipped scripted provider: event sequences and outcomes."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Any, ClassVar

import pytest
from pydantic import BaseModel

from mentra.agent.hooks import HookPipeline
from mentra.agent.loop import Agent, AgentSetup, Limits
from mentra.events import Event, RunFinished
from mentra.messages import TextBlock, ToolResultBlock
from mentra.permissions.policy import RuntimePolicy
from mentra.providers.base import ToolSpec
from mentra.providers.registry import Retries
from mentra.providers.scripted import ScriptedProvider
from mentra.store.async_store import AsyncStore
from mentra.store.in_memory import InMemoryStore
from mentra.store.testing import make_agent as agent_record
from mentra.tools.base import ArgsTool, Tool, ToolContext, ToolResult


class EchoArgs(BaseModel):
    text: str
    delay: float = 0.0


class EchoTool(ArgsTool[EchoArgs]):
    name: ClassVar[str] = "echo"
    description: ClassVar[str] = "Echo text back."
    Args = EchoArgs

    def __init__(self) -> None:
        self.calls: list[tuple[str, float, float]] = []

    async def run(self, args: EchoArgs, ctx: ToolContext) -> ToolResult:
        start = time.monotonic()
        await asyncio.sleep(args.delay)
        self.calls.append((args.text, start, time.monotonic()))
        ctx.progress(f"echoing {args.text}", "stdout")
        return ToolResult(args.text)


class WriteTool(EchoTool):
    name: ClassVar[str] = "write"
    description: ClassVar[str] = "Pretend to write."
    mutates: ClassVar[bool] = True


class CrashTool(EchoTool):
    name: ClassVar[str] = "crash"
    description: ClassVar[str] = "Always raises."

    async def run(self, args: EchoArgs, ctx: ToolContext) -> ToolResult:
        raise RuntimeError("boom")


def make_agent(
    script: Path, tmp_path: Path, *, tools: list[Tool] | None = None, **setup: Any
) -> tuple[Agent, list[Event]]:
    events: list[Event] = []
    tool_list = tools if tools is not None else [EchoTool(), WriteTool(), CrashTool()]
    tool_map = {t.name: t for t in tool_list}
    policy = RuntimePolicy(working_dir=tmp_path)
    store = InMemoryStore()  # the agent's record: a run is recorded as it goes
    store.create_agent(agent_record("agent1"))

    agent = Agent(
        AgentSetup(
            agent_id="agent1",
            name="test",
            provider=ScriptedProvider(),
            provider_name="scripted",
            model=str(script),
            system="be brief",
            tools=tool_map,
            policy=policy,
            tool_specs=[ToolSpec(t.name, t.description, t.input_schema) for t in tool_list],
            permission_mode="bypass",
            cwd=str(tmp_path),
            store=AsyncStore(store),
            retries=Retries(max_attempts=3, base_delay=0.01, max_delay=0.02),
            **setup,
        )
    )
    return agent, events


def run(agent: Agent, events: list[Event], prompt: str | None = "hi") -> RunFinished:
    asyncio.run(agent.run(prompt, run_id="run1", sink=events.append))
    last = events[-1]
    assert isinstance(last, RunFinished)
    return last


def types(events: list[Event]) -> list[str]:
    return [e.type for e in events]


def test_text_only_reply(write_script: Any, tmp_path: Path) -> None:
    agent, events = make_agent(write_script('turns:\n  - text: "Hello there."\n'), tmp_path)
    finished = run(agent, events)
    assert types(events) == [
        "session_started",
        "user_message",
        "assistant_message_completed",
        "run_finished",
    ]
    assert finished.status == "success" and finished.exit_code == 0
    assert finished.final_text == "Hello there."
    assert [e.seq for e in events] == [1, 2, 3, 4]
    assert finished.rounds == 1 and finished.tool_calls == 0


def test_tool_round_then_answer(write_script: Any, tmp_path: Path) -> None:
    script = write_script(
        """
turns:
  - text: "Let me echo."
    tool_calls:
      - {name: echo, input: {text: ping}}
  - text: "Done."
    usage: {input_tokens: 10, output_tokens: 2}
"""
    )
    agent, events = make_agent(script, tmp_path)
    finished = run(agent, events)
    assert types(events) == [
        "session_started",
        "user_message",
        "assistant_message_completed",
        "tool_queued",
        "tool_started",
        "tool_progress",
        "tool_completed",
        "assistant_message_completed",
        "run_finished",
    ]
    assert finished.final_text == "Done."
    assert finished.tool_calls == 1 and finished.rounds == 2
    assert finished.usage.input_tokens == 10
    # the tool result went back to the model in the second request
    result = agent.history[2].content[0]
    assert isinstance(result, ToolResultBlock) and result.content == "ping"


def test_every_call_gets_a_result(write_script: Any, tmp_path: Path) -> None:
    script = write_script(
        """
turns:
  - tool_calls:
      - {name: echo, input_raw: '{"text": "unterminated'}
      - {name: nosuch, input: {}}
      - {name: echo, input: {wrong: 1}}
      - {name: crash, input: {text: x}}
      - {name: echo, input: {text: ok}}
  - text: "Recovered."
"""
    )
    agent, events = make_agent(script, tmp_path)
    finished = run(agent, events)
    assert finished.status == "success"
    results = agent.history[2].content
    assert len(results) == 5
    assert all(isinstance(r, ToolResultBlock) for r in results)
    texts = [r.content for r in results if isinstance(r, ToolResultBlock)]
    errors = [r.is_error for r in results if isinstance(r, ToolResultBlock)]
    assert errors == [True, True, True, True, False]
    assert "not valid JSON" in texts[0]
    assert "Unknown tool `nosuch`" in texts[1] and "echo" in texts[1]
    assert "text" in texts[2] and "Field required" in texts[2]
    assert "boom" in texts[3]
    assert texts[4] == "ok"


def test_read_only_calls_run_concurrently_and_mutating_in_order(
    write_script: Any, tmp_path: Path
) -> None:
    script = write_script(
        """
turns:
  - tool_calls:
      - {name: echo, input: {text: a, delay: 0.3}}
      - {name: echo, input: {text: b, delay: 0.3}}
      - {name: echo, input: {text: c, delay: 0.3}}
      - {name: write, input: {text: w1, delay: 0.1}}
      - {name: write, input: {text: w2, delay: 0.0}}
  - text: "ok"
"""
    )
    echo, write = EchoTool(), WriteTool()
    agent, events = make_agent(script, tmp_path, tools=[echo, write])
    run(agent, events)
    starts = sorted(start for _t, start, _e in echo.calls)
    assert starts[-1] - starts[0] < 0.1  # all three started together
    assert [t for t, _s, _e in write.calls] == ["w1", "w2"]
    w1_end = write.calls[0][2]
    assert write.calls[1][1] >= w1_end  # w2 started after w1 finished
    assert min(s for _t, s, _e in write.calls) >= max(e for _t, _s, e in echo.calls)
    results = [r.tool_use_id for r in agent.history[2].content if isinstance(r, ToolResultBlock)]
    assert results == ["call_1_1", "call_1_2", "call_1_3", "call_1_4", "call_1_5"]


def test_max_rounds_reached(write_script: Any, tmp_path: Path) -> None:
    script = write_script(
        """
turns:
  - tool_calls: [{name: echo, input: {text: a}}]
  - tool_calls: [{name: echo, input: {text: b}}]
  - text: never
"""
    )
    agent, events = make_agent(script, tmp_path, limits=Limits(max_rounds=2))
    finished = run(agent, events)
    assert finished.status == "limit_reached" and finished.exit_code == 4
    assert "max_rounds" in finished.errors[0]
    assert types(events)[-2:] == ["error", "run_finished"]


def test_max_tool_calls_answers_every_call(write_script: Any, tmp_path: Path) -> None:
    script = write_script(
        "turns:\n  - tool_calls: [{name: echo, input: {text: a}}, {name: echo, input: {text: b}}]\n"
    )
    agent, events = make_agent(script, tmp_path, limits=Limits(max_tool_calls=1))
    finished = run(agent, events)
    assert finished.exit_code == 4
    results = agent.history[-1].content
    assert len(results) == 2 and all(isinstance(r, ToolResultBlock) for r in results)


def test_max_tokens(write_script: Any, tmp_path: Path) -> None:
    script = write_script(
        """
turns:
  - tool_calls: [{name: echo, input: {text: a}}]
    usage: {input_tokens: 900, output_tokens: 200}
  - text: never
"""
    )
    agent, events = make_agent(script, tmp_path, limits=Limits(max_tokens=1000))
    finished = run(agent, events)
    assert finished.status == "limit_reached" and "max_tokens" in finished.errors[0]


def test_timeout(write_script: Any, tmp_path: Path) -> None:
    script = write_script("turns:\n  - text: slow\n    delay_ms: 2000\n")
    agent, events = make_agent(script, tmp_path, limits=Limits(timeout=0.2))
    finished = run(agent, events)
    assert finished.status == "timeout" and finished.exit_code == 5


def test_transient_errors_are_retried(write_script: Any, tmp_path: Path) -> None:
    script = write_script(
        """
turns:
  - error: {status: 429, retry_after: 0.01, times: 2}
  - text: "after retries"
"""
    )
    agent, events = make_agent(script, tmp_path)
    finished = run(agent, events)
    assert finished.status == "success" and finished.final_text == "after retries"
    retries = [e for e in events if e.type == "retry_attempt"]
    assert [r.attempt for r in retries] == [2, 3]  # type: ignore[union-attr]
    assert all(r.status_code == 429 for r in retries)  # type: ignore[union-attr]


def test_retries_exhausted_is_a_provider_error(write_script: Any, tmp_path: Path) -> None:
    script = write_script("turns:\n  - error: {status: 503, times: 5}\n  - text: never\n")
    agent, events = make_agent(script, tmp_path)
    finished = run(agent, events)
    assert finished.status == "provider_error" and finished.exit_code == 3
    assert "gave up after 3 attempts" in finished.errors[0]


def test_non_transient_error_is_not_retried(write_script: Any, tmp_path: Path) -> None:
    script = write_script("turns:\n  - error: {status: 401, message: bad key}\n  - text: x\n")
    agent, events = make_agent(script, tmp_path)
    finished = run(agent, events)
    assert finished.exit_code == 3 and "retry_attempt" not in types(events)


def test_script_exhausted(write_script: Any, tmp_path: Path) -> None:
    script = write_script("turns:\n  - tool_calls: [{name: echo, input: {text: a}}]\n")
    agent, events = make_agent(script, tmp_path)
    finished = run(agent, events)
    assert finished.status == "provider_error"
    assert "no reply #2" in finished.errors[0]


def test_json_schema_retry_then_success(write_script: Any, tmp_path: Path) -> None:
    script = write_script(
        """
turns:
  - text: "not json"
  - text: '{"answer": 42}'
"""
    )
    schema = {
        "type": "object",
        "required": ["answer"],
        "properties": {"answer": {"type": "integer"}},
    }
    agent, events = make_agent(script, tmp_path, json_schema=schema)
    finished = run(agent, events)
    assert finished.status == "success"
    assert finished.structured_output == {"answer": 42}


def test_json_schema_gives_up(write_script: Any, tmp_path: Path) -> None:
    script = write_script("turns:\n  - text: a\n  - text: b\n  - text: c\n")
    agent, events = make_agent(script, tmp_path, json_schema={"type": "object"})
    finished = run(agent, events)
    assert finished.status == "invalid_output" and finished.exit_code == 7


def test_cancellation_answers_pending_calls(write_script: Any, tmp_path: Path) -> None:
    script = write_script(
        "turns:\n  - tool_calls: [{name: echo, input: {text: slow, delay: 5}}]\n  - text: x\n"
    )
    agent, events = make_agent(script, tmp_path)

    async def main() -> Any:
        task = asyncio.ensure_future(
            agent.run("hi", run_id="r", sink=events.append, signal_holder=[2])
        )
        await asyncio.sleep(0.3)
        task.cancel()
        return await task

    outcome = asyncio.run(main())
    assert outcome.status == "interrupted" and outcome.exit_code == 130
    last = agent.history[-1]
    assert last.role == "user"
    assert isinstance(last.content[0], ToolResultBlock) and last.content[0].is_error
    assert events[-1].type == "run_finished"


def test_resume_repairs_dangling_calls(write_script: Any, tmp_path: Path) -> None:
    script = write_script(
        "turns:\n  - tool_calls: [{name: echo, input: {text: a}}]\n  - text: continued\n"
    )
    agent, events = make_agent(script, tmp_path)
    from mentra.messages import Message, ToolUseBlock

    history = [
        Message.user_text("hi"),
        Message(role="assistant", content=[ToolUseBlock(id="call_1_1", name="echo", input={})]),
    ]
    agent.history = history
    finished = run(agent, events, prompt=None)
    assert finished.status == "success" and finished.final_text == "continued"
    repaired = agent.history[2].content[0]
    assert isinstance(repaired, ToolResultBlock) and "interrupted" in repaired.content


@pytest.mark.parametrize("prompt", [None])
def test_nothing_to_continue(write_script: Any, tmp_path: Path, prompt: str | None) -> None:
    agent, events = make_agent(write_script("turns:\n  - text: x\n"), tmp_path)
    finished = run(agent, events, prompt=prompt)
    assert finished.exit_code == 2


def test_max_cost(write_script: Any, tmp_path: Path) -> None:
    script = write_script(
        """
turns:
  - tool_calls: [{name: echo, input: {text: a}}]
    usage: {input_tokens: 1000, output_tokens: 100}
  - text: never
"""
    )
    agent, events = make_agent(
        script,
        tmp_path,
        limits=Limits(max_cost_usd=0.01),
        cost_fn=lambda _provider, _model, usage: usage.input_tokens * 0.00002,
    )
    finished = run(agent, events)
    assert finished.status == "limit_reached" and "max_cost_usd" in finished.errors[0]
    assert finished.cost_usd == pytest.approx(0.02)


def test_unknown_price_makes_the_total_unknown(write_script: Any, tmp_path: Path) -> None:
    agent, events = make_agent(
        write_script("turns:\n  - text: hi\n"), tmp_path, cost_fn=lambda *_: None
    )
    finished = run(agent, events)
    assert finished.status == "success" and finished.cost_usd is None


def test_pending_notices_reach_the_next_request(write_script: Any, tmp_path: Path) -> None:
    notice = "Background job job_1 finished.\nexit code: 0"
    queue = [notice]

    def pending() -> list[str]:
        out = list(queue)
        queue.clear()
        return out

    agent, events = make_agent(
        write_script("turns:\n  - text: noted\n"),
        tmp_path,
        hooks=HookPipeline(after_round=[pending]),
    )
    finished = run(agent, events, prompt="what happened?")
    assert finished.status == "success"
    first = agent.history[0]
    texts = [b.text for b in first.content if isinstance(b, TextBlock)]
    assert texts == ["what happened?", notice]  # delivered with the prompt, once
    assert queue == []


def test_timeout_mid_tool_commits_results_for_every_call(write_script: Any, tmp_path: Path) -> None:
    script = write_script(
        "turns:\n  - tool_calls: [{name: echo, input: {text: slow, delay: 5}}]\n  - text: x\n"
    )
    agent, events = make_agent(script, tmp_path, limits=Limits(timeout=0.3))
    finished = run(agent, events)
    assert finished.status == "timeout" and finished.exit_code == 5
    last = agent.history[-1]
    assert last.role == "user"
    result = last.content[0]
    assert isinstance(result, ToolResultBlock) and result.is_error
    assert "interrupted" in result.content


# -- Budget: the seam a subagent will draw on ---------------------------------------------------


def test_child_budget_charges_its_parent_and_each_level_checks_its_own_limits() -> None:
    from mentra.agent.budget import Budget
    from mentra.errors import LimitReachedError
    from mentra.messages import Usage

    parent = Budget(Limits(max_rounds=3, max_tokens=100))
    child = parent.child(Limits(max_rounds=10))
    child.charge_round(Usage(input_tokens=40, output_tokens=20), 0.5)
    child.charge_tool_calls(2)
    assert (child.rounds, child.tool_calls, child.usage.total_tokens) == (1, 2, 60)
    assert (parent.rounds, parent.tool_calls, parent.usage.total_tokens) == (1, 2, 60)
    assert parent.cost == 0.5 and child.cost == 0.5
    child.charge_round(Usage(input_tokens=30, output_tokens=20), None)
    assert parent.cost is None  # one unknown price makes the total unknown
    with pytest.raises(LimitReachedError, match="max_tokens reached \\(110 of 100\\)"):
        child.check_spend()  # the parent's limit holds over the child
    child.charge_round(Usage(), 0.0)
    # a limit once used up stays the reason: every later check of the chain raises it
    with pytest.raises(LimitReachedError, match="max_tokens reached \\(110 of 100\\)"):
        child.check_rounds()
    assert parent.limit_hit is not None and child.limit_hit is None
    parent = Budget(Limits(max_rounds=3))
    child = parent.child(Limits(max_rounds=10))
    for _ in range(3):
        child.charge_round(Usage(), 0.0)
    with pytest.raises(LimitReachedError, match="max_rounds reached \\(3\\)"):
        child.check_rounds()
    assert (parent.own_rounds, child.own_rounds) == (0, 3)
    assert parent.tool_calls_exceeded(1) is None
    assert Budget(Limits(max_tool_calls=2)).child().tool_calls_exceeded(3) == 2


def test_cancelling_a_parent_budget_cancels_its_children_with_the_signal() -> None:
    from mentra.agent.budget import Budget

    parent = Budget()
    child = parent.child()
    grandchild = child.child()
    seen: list[int] = []
    grandchild.cancel_token.on_cancel(seen.append)
    parent.cancel_token.cancel(15)
    assert child.cancel_token.signum == 15 and grandchild.cancel_token.cancelled
    assert seen == [15]
    late = parent.child()  # a child made after the cancel starts cancelled
    assert late.cancel_token.signum == 15


def test_child_budget_inherits_the_parent_deadline() -> None:
    from mentra.agent.budget import Budget

    parent = Budget(Limits(timeout=5.0))
    child = parent.child(Limits(timeout=60.0))
    assert child.deadline == parent.deadline
    left = child.remaining_time()
    assert left is not None and 4.0 < left <= 5.0
    assert Budget().child().remaining_time() is None


def test_a_run_on_a_child_budget_counts_against_the_parent(
    write_script: Any, tmp_path: Path
) -> None:
    from mentra.agent.budget import Budget

    parent = Budget(Limits(max_rounds=1))
    agent, events = make_agent(
        write_script('turns:\n  - tool_calls: [{name: echo, input: {text: a}}]\n  - text: "x"\n'),
        tmp_path,
    )
    asyncio.run(agent.run("hi", run_id="r", sink=events.append, budget=parent.child()))
    finished = events[-1]
    assert isinstance(finished, RunFinished)
    assert finished.status == "limit_reached" and "max_rounds reached (1)" in finished.errors[0]
    assert parent.rounds == 1 and parent.tool_calls == 1


def test_cancel_token_interrupts_a_run_with_its_signal_number(
    write_script: Any, tmp_path: Path
) -> None:
    from mentra.agent.budget import Budget

    agent, events = make_agent(
        write_script("turns:\n  - tool_calls: [{name: echo, input: {text: a, delay: 5}}]\n"),
        tmp_path,
    )
    budget = Budget()

    async def main() -> None:
        task = asyncio.ensure_future(agent.run("hi", run_id="r", sink=events.append, budget=budget))
        budget.cancel_token.on_cancel(lambda _signum: task.cancel())
        while "tool_started" not in types(events):
            await asyncio.sleep(0.01)
        budget.cancel_token.cancel(15)
        await task

    asyncio.run(main())
    finished = events[-1]
    assert isinstance(finished, RunFinished)
    assert finished.status == "interrupted" and finished.exit_code == 143


# -- HookPipeline: built-in behaviour as entries, user entries beside them ------------------------


def test_a_before_tool_entry_can_answer_a_call_instead_of_the_tool(
    write_script: Any, tmp_path: Path
) -> None:
    from mentra.agent.hooks import ToolCall

    echo = EchoTool()
    seen: list[str] = []

    async def block_secrets(call: ToolCall) -> None:
        seen.append(call.use.name)
        if "secret" in call.args.text:
            call.result = ToolResult("blocked by a hook", is_error=True)

    def after(call: ToolCall, result: ToolResult) -> ToolResult:
        return ToolResult(result.content.upper(), result.is_error)

    script = write_script(
        "turns:\n  - tool_calls: [{name: echo, input: {text: secret}}, "
        "{name: echo, input: {text: fine}}]\n  - text: done\n"
    )
    agent, events = make_agent(
        script,
        tmp_path,
        tools=[echo],
        hooks=HookPipeline(before_tool=[block_secrets], after_tool=[after]),
    )
    finished = run(agent, events)
    assert finished.status == "success"
    outputs = [(e.output, e.is_error) for e in events if e.type == "tool_completed"]  # type: ignore[union-attr]
    assert outputs == [("blocked by a hook", True), ("FINE", False)]
    assert [c[0] for c in echo.calls] == ["fine"] and seen == ["echo", "echo"]
