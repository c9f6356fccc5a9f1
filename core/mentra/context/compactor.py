"""`Compactor`: the ``before_request`` entry that keeps each request within the context window.

Per request: micro-compaction (old long tool results abbreviated, in the request only); past
the threshold (or when the ``compact`` tool asked), auto-compaction: the older history is
summarized by one request without tools, a marker holding the summary and the new context is
committed (every message stays in the store), and the agent's `ContextView` moves to it. A
summary that cannot be made is reported (``compaction_failed``) and the run goes on with
micro-compaction only. A request the estimate puts over the window is never sent: the run ends
with a provider error (exit 3).
"""

from __future__ import annotations

import asyncio
import dataclasses
import random
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any, Protocol

from mentra.context import summarize
from mentra.context.config import ContextConfig
from mentra.context.estimate import TokenEstimator
from mentra.context.micro import MicroCompactor
from mentra.context.view import ContextView
from mentra.errors import MentraError, ProviderError
from mentra.messages import Message, Usage

if TYPE_CHECKING:
    from mentra.providers.base import ModelRequest, Provider
    from mentra.providers.settings import Retries
    from mentra.store.base import CompactionMarker

SUMMARY_ATTEMPTS = 3  # attempts in all on transient faults (the reference's)


class Owner(Protocol):
    """What the compactor reads and moves: the agent's history and its view."""

    history: list[Message]
    context: ContextView | None


class MarkerLog(Protocol):
    async def commit_compaction(self, marker: CompactionMarker) -> None: ...


class Emitter(Protocol):
    def emit(self, cls: Any, **fields: Any) -> Any: ...


class Charges(Protocol):
    def charge_usage(self, usage: Usage, cost: float | None) -> None: ...


class Compactor:
    """One agent's context management; `begin_run` binds it to a run (events, store, budget)."""

    def __init__(
        self,
        config: ContextConfig,
        *,
        provider: Provider,
        provider_name: str,
        model: str,
        retries: Retries,
        estimator: TokenEstimator | None = None,
        compact_at: float | None = None,
        cost_fn: Callable[[str, str, Usage], float | None] | None = None,
        memory: Any = None,
        user_hooks: Any = None,
    ) -> None:
        self.config = config
        self.provider = provider
        self.provider_name = provider_name
        self.model = model
        self.retries = retries
        self.estimator = estimator if estimator is not None else TokenEstimator()
        self.window = config.window(model)
        # a threshold past the window would let a request reach it uncompacted
        self.threshold = min(config.threshold(model, compact_at), self.window)
        self.cost_fn = cost_fn
        self.memory = memory
        self.user_hooks = user_hooks
        self._micro = MicroCompactor(config.keep_recent_tool_results)
        self._owner: Owner | None = None
        self._log: MarkerLog | None = None
        self._emitter: Emitter | None = None
        self._charges: Charges | None = None
        self._manual = False
        self._auto_failed = False
        # a compaction that could not get under the threshold (the kept turns and the last
        # exchange are that big) is not repeated every round: the next waits for this estimate
        self._again_above = 0

    # -- the run ------------------------------------------------------------------------------

    def begin_run(
        self, *, owner: Owner, log: MarkerLog, emitter: Emitter, charges: Charges
    ) -> None:
        self._owner, self._log, self._emitter, self._charges = owner, log, emitter, charges
        self._manual = False
        self._auto_failed = False

    def request_manual(self) -> None:
        """The ``compact`` tool: compact before the next request, whatever its size."""
        self._manual = True

    def estimate(self, messages: Sequence[Message], system: str | None) -> int:
        return self.estimator.estimate(messages, system)

    def micro(self, messages: list[Message]) -> list[Message]:
        return self._micro(messages)

    async def __call__(self, request: ModelRequest) -> ModelRequest:
        messages = self.micro(request.messages)
        tokens = self.estimate(messages, request.system)
        trigger: str | None = None
        if self._manual:
            trigger = "manual"
        elif (
            self.config.auto_compact
            and not self._auto_failed
            and tokens > self.threshold
            and (tokens > self._again_above or tokens > self.window)
        ):
            trigger = "auto"
        why: str | None = None  # why a request over the window could not be made smaller
        if not self.config.auto_compact:
            why = "context.auto_compact is false"
        elif self._auto_failed:
            why = "compaction failed earlier in this run"
        if trigger is not None and self._owner is not None:
            self._manual = False
            outcome = await self.compact(trigger, request, tokens)
            if isinstance(outcome, ContextView):
                messages = self.micro(outcome.messages(self._owner.history))
                tokens = self.estimate(messages, request.system)
                request = dataclasses.replace(request, folded_turns=outcome.folded_turns)
                why = "the kept turns and the last exchange alone are too large"
            else:
                why = outcome
        if tokens > self.window:
            raise ProviderError(
                f"the next request would be about {tokens} estimated tokens, over the "
                f"{self.window}-token context window of {self.model} "
                f"({why or 'there is nothing older to compact'}); "
                "raise context.window_tokens or start a new agent",
                provider=self.provider_name,
            )
        if messages is request.messages:
            return request
        return dataclasses.replace(request, messages=messages)

    # -- auto-compaction ------------------------------------------------------------------------

    async def compact(
        self, trigger: str, request: ModelRequest, tokens: int
    ) -> ContextView | str | None:
        """Summarize the older part of ``request``'s conversation and move the view; the new
        view, or why there is none (None: nothing to fold, said by no event for ``auto``)."""
        owner, log, emitter = self._owner, self._log, self._emitter
        assert owner is not None and log is not None and emitter is not None
        from mentra.events import CompactionCompleted, CompactionFailed, CompactionStarted

        view = owner.context
        # the stored conversation (not the request: memory's recall rides on it, unstored)
        current = view.messages(owner.history) if view is not None else list(owner.history)
        cut = summarize.split_tail(current)
        older, tail = current[:cut], current[cut:]
        since_marker = len(owner.history) - (view.start if view is not None else 0)
        if not older or since_marker <= len(tail):  # nothing new since the last marker
            if trigger == "manual":
                emitter.emit(
                    CompactionFailed,
                    trigger=trigger,
                    error="nothing to compact: the conversation is only its last exchange",
                )
            return None
        emitter.emit(CompactionStarted, items=len(current), trigger=trigger, tokens_before=tokens)
        kept: list[str] = []
        if self.user_hooks is not None:  # pre_compact hooks: what they ask to keep
            from mentra.user_hooks import gates

            kept = await gates.before_compact(
                self.user_hooks, emitter, trigger=trigger, items=len(current)
            )
        facts = summarize.extract_facts(older, kept)
        try:
            text = await self._summarize(older, facts, request)
        except MentraError as exc:
            emitter.emit(CompactionFailed, trigger=trigger, error=exc.message)
            if trigger == "auto":
                self._auto_failed = True  # the reference: micro-compaction only from now on
            return f"compaction failed: {exc.message}"
        fields = summarize.parse_summary(text)
        rendered = summarize.render_summary(fields, facts)
        turns = summarize.recent_user_turns(older, lambda ms: self.estimate(ms, None))
        context = [*turns, Message.user_text(rendered), *tail]
        folded = (
            (view.folded_turns if view is not None else 0)
            + _assistant_turns(current)
            - _assistant_turns(context)
        )
        after = self.estimate(self.micro(context), request.system)
        from mentra.store.base import CompactionMarker

        await log.commit_compaction(
            CompactionMarker(
                summary=rendered,
                context=context,
                fields=fields,
                trigger=trigger,
                tokens_before=tokens,
                tokens_after=after,
                folded_turns=folded,
            )
        )
        new_view = ContextView(context, len(owner.history), folded)
        # still over the threshold: compact again only halfway from here to the window
        self._again_above = after + (self.window - after) // 2 if after > self.threshold else 0
        owner.context = new_view
        self._keep_in_memory(rendered, len(owner.history), emitter)
        emitter.emit(
            CompactionCompleted,
            items_before=len(current),
            items_after=len(context),
            tokens_before=tokens,
            tokens_after=after,
            summary=rendered,
        )
        return new_view

    async def _summarize(
        self, older: Sequence[Message], facts: Sequence[str], request: ModelRequest
    ) -> str:
        """The model's summary of ``older``: one request without tools, retried on transient
        faults up to `SUMMARY_ATTEMPTS` times; its usage is charged to the run."""
        from mentra.providers.base import ModelOptions, ModelRequest, ReplyBuilder

        # the summary request must fit a small window too: its input is cut to fit
        room = (self.window - summarize.MAX_SUMMARY_TOKENS) * 3
        prompt = summarize.summary_prompt(older, facts, max(4_000, room))
        ask = ModelRequest(
            model=self.model,
            messages=[Message.user_text(prompt)],
            system=summarize.SUMMARY_SYSTEM,
            options=ModelOptions(
                max_output_tokens=summarize.MAX_SUMMARY_TOKENS,
                # a reasoning model must not spend the 2,000 tokens thinking
                reasoning_effort="low" if request.options.reasoning_effort else None,
                # a one-off prompt: a cache write (1.25x on Anthropic) would never be read
                prompt_cache=False,
            ),
            purpose="compaction",
            folded_turns=request.folded_turns,
        )
        attempt = 1
        while True:
            reply = ReplyBuilder(self.provider_name)
            try:
                async for event in self.provider.stream(ask):
                    reply.feed(event)
                break
            except ProviderError as exc:
                if not exc.transient or attempt >= SUMMARY_ATTEMPTS:
                    raise
                await asyncio.sleep(self._delay(attempt, exc.retry_after))
                attempt += 1
        usage = reply.usage
        if self._charges is not None:
            cost = self.cost_fn(self.provider_name, self.model, usage) if self.cost_fn else None
            self._charges.charge_usage(usage, cost)
        text = reply.message().text.strip()
        if not text:
            raise ProviderError("the summary reply was empty", provider=self.provider_name)
        return text

    def _delay(self, attempt: int, retry_after: float | None) -> float:
        r = self.retries
        if retry_after is not None:
            return min(retry_after, r.max_retry_after)
        delay = min(r.base_delay * 2.0 ** (attempt - 1), r.max_delay)
        return delay * (0.5 + random.random() / 2)

    def _keep_in_memory(self, rendered: str, revision: int, emitter: Emitter) -> None:
        memory = self.memory
        if memory is None or not memory.config.enabled:
            return
        try:
            memory.add_summary(rendered, revision=revision)
        except MentraError as exc:
            from mentra.events import Notice

            emitter.emit(Notice, level="warning", message=f"memory: {exc.message}")


def _assistant_turns(messages: Sequence[Message]) -> int:
    return sum(1 for m in messages if m.role == "assistant")
