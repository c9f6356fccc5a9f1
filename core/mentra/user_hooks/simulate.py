"""`mentra hooks test`: run the configured hooks of one point for a synthetic event, no model.

Lets CI test its guards: the answer says what the hooks decided, with each command's
``hook_completed`` report, without running a tool or an agent."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from mentra.errors import UsageError
from mentra.tools.base import ToolResult
from mentra.user_hooks import gates
from mentra.user_hooks.config import HOOK_NAMES, TOOL_HOOKS, HooksConfig
from mentra.user_hooks.runner import UserHooks

TEST_ID = "hooks-test"


class _Collector:
    """An emitter that keeps the events instead of writing them."""

    def __init__(self) -> None:
        self.agent_id = TEST_ID
        self.run_id = TEST_ID
        self.events: list[Any] = []
        self.seq = 0

    def emit(self, cls: type[Any], **fields: Any) -> Any:
        self.seq += 1
        event = cls(seq=self.seq, ts="", agent_id=self.agent_id, run_id=self.run_id, **fields)
        self.events.append(event)
        return event


async def simulate(hooks: UserHooks | None, hook: str, event: dict[str, Any]) -> dict[str, Any]:
    """What the hooks of ``hook`` decide for ``event`` (the fields of its stdin object)."""
    if hook not in HOOK_NAMES:
        raise UsageError(f"unknown hook {hook!r} (one of {', '.join(HOOK_NAMES)})")
    tool = event.get("tool")
    if hook in TOOL_HOOKS and not (isinstance(tool, dict) and isinstance(tool.get("name"), str)):
        raise UsageError(f'--input for {hook} needs "tool": {{"name": ..., "input": {{...}}}}')
    out: dict[str, Any] = {"hook": hook}
    emitter = _Collector()
    if hooks is None:
        hooks = UserHooks(HooksConfig(), cwd=Path(str(event.get("cwd", "."))), env=dict)
    if hook == "pre_tool":
        assert isinstance(tool, dict)
        raw_input = tool.get("input") or {}
        if not isinstance(raw_input, dict):
            raise UsageError("tool.input must be a JSON object")
        verdict = await gates.run_pre_tool(
            hooks,
            emitter,
            name=tool["name"],
            call_id=str(tool.get("call_id", "call_test")),
            input=raw_input,
        )
        out["decision"] = verdict.decision or "none"
        out["reason"] = verdict.by.reason if verdict.by is not None else None
        out["input"] = verdict.input
        out["input_changed"] = verdict.rewriter is not None
    elif hook == "post_tool":
        assert isinstance(tool, dict)
        result = event.get("result") or {}
        item = _Item(tool)
        done = await gates.after_call(
            hooks,
            emitter,
            item,
            ToolResult(str(result.get("output", "")), bool(result.get("is_error", False))),
        )
        out["output"] = done.content
        out["additional_context"] = hooks.take_context()
    elif hook in ("session_start", "user_prompt"):
        hooks.config = hooks.config.model_copy(
            update={"session_start" if hook == "user_prompt" else "user_prompt": []}
        )
        prompt = str(event.get("prompt", "")) if hook == "user_prompt" else None
        try:
            await gates.start_run(hooks, emitter, prompt)
            out["decision"] = "continue"
            out["reason"] = None
        except gates.PromptRefusedError as exc:
            out["decision"] = "refuse"
            out["reason"] = exc.message
        out["additional_context"] = hooks.take_context()
    elif hook == "stop":
        prompt = await gates.on_stop(hooks, emitter, str(event.get("final_text", "")))
        out["continue"] = prompt is not None
        out["prompt"] = prompt
    else:
        out["additional_context"] = await gates.before_compact(
            hooks, emitter, trigger=str(event.get("trigger", "manual")), items=0
        )
    out["hooks"] = [
        e.model_dump(exclude={"seq", "ts", "agent_id", "run_id"}) for e in emitter.events
    ]
    return out


class _Item:
    def __init__(self, tool: dict[str, Any]) -> None:
        from mentra.messages import ToolUseBlock

        self.use = ToolUseBlock(
            id=str(tool.get("call_id", "call_test")),
            name=tool["name"],
            input=tool.get("input") or {},
        )
