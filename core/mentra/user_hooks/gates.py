"""Where the hooks meet a run: one function per point of the loop, each called by one line.

Precedence at ``pre_tool`` (`authorize_call`): deny rules, the policy and the mode's denials
come first and the hook does not even run for such a call; a hook's ``deny`` (or exit 2, or a
failure: fail closed) beats an allow rule; a hook's ``allow`` turns an ``ask`` into an allow,
nothing more; a hook's ``ask`` turns an allow into an ``ask`` for the approver. A rewritten
``input`` is validated against the tool's schema again and decided by the rules again.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any

from mentra.errors import UsageError
from mentra.user_hooks.runner import HookRun, UserHooks

CONTINUE_PROMPT = "Continue: a stop hook asked you to go on before finishing."


class PromptRefusedError(UsageError):
    """A ``user_prompt`` hook refused the prompt (exit 2): the run ends ``config_error``."""


# -- pre_tool / post_tool (the tool runner) ------------------------------------------------------


@dataclasses.dataclass(slots=True)
class PreToolVerdict:
    """What the ``pre_tool`` hooks of one call said, all together."""

    decision: str | None = None  # deny | ask | allow, or None: no hook decided
    by: HookRun | None = None  # the hook that decided
    input: dict[str, Any] | None = None  # the input as the hooks left it
    rewriter: HookRun | None = None  # the last hook that changed it


async def run_pre_tool(
    hooks: UserHooks, emitter: Any, *, name: str, call_id: str, input: dict[str, Any]
) -> PreToolVerdict:
    """Run the matching ``pre_tool`` hooks in order: the first deny (or block, or failure)
    ends it; each hook sees the input as the ones before it left it; ask beats allow."""
    verdict = PreToolVerdict(input=dict(input))
    for entry in hooks.matching("pre_tool", name):
        current = verdict.input
        tool = {"name": name, "call_id": call_id, "input": current}
        run = await hooks.run_one(
            entry, "pre_tool", hooks.payload("pre_tool", emitter, tool=tool), emitter
        )
        answer = run.answer or {}
        if run.failure or run.blocked or answer.get("decision") == "deny":
            verdict.decision, verdict.by = "deny", run
            return verdict
        if isinstance(answer.get("input"), dict) and answer["input"] != current:
            verdict.input, verdict.rewriter = answer["input"], run
        said = answer.get("decision")
        if said == "ask" or (said == "allow" and verdict.decision is None):
            verdict.decision, verdict.by = str(said), run
    return verdict


async def authorize_call(
    hooks: UserHooks,
    emitter: Any,
    item: Any,
    request: Any,
    decision: Any,
    *,
    make_request: Callable[[Any, Any, Any, bool], Any],
    authorizer: Any,
) -> tuple[Any, Any]:
    """Run the ``pre_tool`` hooks of one planned call; returns the (request, decision) to use.
    ``make_request`` and ``authorizer`` decide a rewritten input again.

    May replace ``item.use``/``item.args`` when a hook rewrites the input."""
    if decision.outcome == "deny" or not hooks.matching("pre_tool", item.use.name):
        return request, decision
    verdict = await run_pre_tool(
        hooks, emitter, name=item.use.name, call_id=item.use.id, input=item.use.input
    )
    if verdict.decision == "deny" and verdict.by is not None:
        return request, _by_hook(decision, "deny", verdict.by)
    rewriter = verdict.rewriter
    if rewriter is not None and verdict.input is not None:
        try:
            args = item.tool.parse_input(verdict.input)
        except Exception as exc:  # ToolInputError: the rewrite is not valid for the tool
            message = getattr(exc, "message", str(exc))
            reason = (
                f"hook `{rewriter.command}` rewrote the input into one the tool refuses: {message}"
            )
            return request, _by_hook(decision, "deny", rewriter, reason=reason)
        item.args = args
        item.mutating = item.tool.is_mutating(args)
        item.use = item.use.model_copy(update={"input": verdict.input})
        request = make_request(item.tool, args, item.use, item.mutating)
        decision = authorizer.evaluate(request)  # the rules see what will run
        if decision.outcome == "deny":
            return request, decision
    if verdict.by is not None and verdict.decision == "allow" and decision.outcome == "ask":
        return request, _by_hook(decision, "allow", verdict.by)
    if verdict.by is not None and verdict.decision == "ask" and decision.outcome == "allow":
        return request, _by_hook(decision, "ask", verdict.by)
    return request, decision


async def after_call(hooks: UserHooks, emitter: Any, item: Any, result: Any) -> Any:
    """Run the ``post_tool`` hooks of a call that ran; returns the result the model gets."""
    entries = hooks.matching("post_tool", item.use.name)
    for entry in entries:
        payload = hooks.payload(
            "post_tool",
            emitter,
            tool={"name": item.use.name, "call_id": item.use.id, "input": item.use.input},
            result={"output": result.content, "is_error": result.is_error},
        )
        run = await hooks.run_one(entry, "post_tool", payload, emitter)
        if run.failure or run.blocked:
            hooks.notice_failure(run, emitter)
            continue
        answer = run.answer or {}
        if isinstance(answer.get("output"), str):
            result = dataclasses.replace(result, content=answer["output"])
        _keep_context(hooks, run)
    return result


# -- session_start / user_prompt / stop / pre_compact (the loop) --------------------------------


async def start_run(
    hooks: UserHooks | None, emitter: Any, prompt: str | None, *, session_start: bool = True
) -> None:
    """``session_start`` then ``user_prompt`` hooks, before the prompt is committed; a later
    turn of a stream (which has no second ``session_started``) passes ``session_start=False``.

    Raises `PromptRefusedError` when a ``user_prompt`` hook exits 2."""
    if hooks is None:
        return
    hooks.continues = 0
    for entry in hooks.matching("session_start") if session_start else ():
        run = await hooks.run_one(
            entry, "session_start", hooks.payload("session_start", emitter), emitter
        )
        if run.failure or run.blocked:
            hooks.notice_failure(run, emitter)
        else:
            _keep_context(hooks, run)
    if prompt is None:
        return
    for entry in hooks.matching("user_prompt"):
        payload = hooks.payload("user_prompt", emitter, prompt=prompt)
        run = await hooks.run_one(entry, "user_prompt", payload, emitter)
        if run.blocked:
            raise PromptRefusedError(f"the prompt was refused by a user_prompt hook: {run.reason}")
        if run.failure:
            hooks.notice_failure(run, emitter)
        else:
            _keep_context(hooks, run)


async def on_stop(hooks: UserHooks | None, emitter: Any, final_text: str) -> str | None:
    """``stop`` hooks on a final answer: the prompt of one more round, or None to finish."""
    if hooks is None:
        return None
    for entry in hooks.matching("stop"):
        payload = hooks.payload("stop", emitter, final_text=final_text)
        run = await hooks.run_one(entry, "stop", payload, emitter)
        if run.failure:
            hooks.notice_failure(run, emitter)
            continue
        answer = run.answer or {}
        if not (run.blocked or answer.get("continue") is True):
            continue
        if hooks.continues >= hooks.config.max_continues:
            from mentra.events import Notice

            emitter.emit(
                Notice,
                level="warning",
                message=(
                    f"stop hook `{run.command}` asked the model to go on, but hooks.max_continues "
                    f"({hooks.config.max_continues}) is reached; the run finishes"
                ),
            )
            return None
        hooks.continues += 1
        if run.blocked:
            return run.reason
        prompt = answer.get("prompt")
        return str(prompt) if isinstance(prompt, str) and prompt.strip() else CONTINUE_PROMPT
    return None


async def before_compact(
    hooks: UserHooks | None, emitter: Any, *, trigger: str, items: int
) -> list[str]:
    """``pre_compact`` hooks (for the compaction to come): what they ask to keep, as text."""
    if hooks is None:
        return []
    kept: list[str] = []
    for entry in hooks.matching("pre_compact"):
        payload = hooks.payload("pre_compact", emitter, trigger=trigger, items=items)
        run = await hooks.run_one(entry, "pre_compact", payload, emitter)
        if run.failure or run.blocked:
            hooks.notice_failure(run, emitter)
            continue
        context = (run.answer or {}).get("additional_context")
        if isinstance(context, str) and context:
            kept.append(context)
    return kept


def with_context(
    hooks: UserHooks | None, notices: Callable[[], list[str]] | None
) -> Callable[[], list[str]] | None:
    """The loop's ``pending_notices`` with the hooks' ``additional_context`` in front."""
    if hooks is None:
        return notices

    def pending() -> list[str]:
        return hooks.take_context() + (notices() if notices is not None else [])

    return pending


def _keep_context(hooks: UserHooks, run: HookRun) -> None:
    context = (run.answer or {}).get("additional_context")
    if isinstance(context, str) and context.strip():
        hooks.pending_context.append(f"[{run.hook} hook `{run.command}`]\n{context}")


def _by_hook(decision: Any, outcome: str, run: HookRun, *, reason: str | None = None) -> Any:
    return dataclasses.replace(
        decision,
        outcome=outcome,
        decided_by="hook",
        rule=run.command,
        reason=reason or run.reason,
        scope=None,
        source=None,
    )
