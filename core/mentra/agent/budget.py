"""A run's budget: its limits, what it has used so far, and the token that cancels it.

A subagent's budget is ``parent.child(limits)``: what the child spends is charged to every
budget up the chain (so the parent's limits hold over all its children), each level checks its
own limits, and cancelling a parent cancels its children with the same signal number.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

from mentra.errors import LimitReachedError
from mentra.messages import Usage


@dataclass(slots=True)
class Limits:
    max_rounds: int | None = None
    max_tool_calls: int | None = None
    max_tokens: int | None = None
    max_cost_usd: float | None = None
    timeout: float | None = None


class CancelToken:
    """Set once, with the number of the signal that asked (SIGINT when not told)."""

    __slots__ = ("_callbacks", "_children", "signum")

    def __init__(self) -> None:
        self.signum: int | None = None
        self._callbacks: list[Callable[[int], None]] = []
        self._children: list[CancelToken] = []

    @property
    def cancelled(self) -> bool:
        return self.signum is not None

    def cancel(self, signum: int = 2) -> None:
        if self.signum is not None:
            return
        self.signum = signum
        for callback in list(self._callbacks):
            callback(signum)
        for child in list(self._children):
            child.cancel(signum)

    def on_cancel(self, callback: Callable[[int], None]) -> None:
        """Call ``callback(signum)`` when cancelled (at once if already)."""
        if self.signum is not None:
            callback(self.signum)
        else:
            self._callbacks.append(callback)

    def child(self) -> CancelToken:
        token = CancelToken()
        if self.signum is not None:
            token.cancel(self.signum)
        else:
            self._children.append(token)
        return token


class Budget:
    """Limits, usage and cost so far, and the cancel token of one run (or one subagent)."""

    __slots__ = (
        "cancel_token",
        "cost",
        "deadline",
        "limit_hit",
        "limits",
        "own_rounds",
        "parent",
        "rounds",
        "tool_calls",
        "usage",
    )

    def __init__(
        self,
        limits: Limits | None = None,
        *,
        parent: Budget | None = None,
        cancel_token: CancelToken | None = None,
    ) -> None:
        self.limits = limits if limits is not None else Limits()
        self.parent = parent
        self.cancel_token = cancel_token if cancel_token is not None else CancelToken()
        self.rounds = 0
        self.tool_calls = 0
        self.usage = Usage()
        self.cost: float | None = 0.0  # one unknown price makes the total unknown
        self.own_rounds = 0  # this agent's rounds alone (`rounds` has its children's too)
        # the limit of THIS budget that a check found used up (by this run or by a child):
        # a child that hits its parent's limit fails, and the parent's next check raises it
        self.limit_hit: LimitReachedError | None = None
        own = time.monotonic() + self.limits.timeout if self.limits.timeout is not None else None
        inherited = parent.deadline if parent is not None else None
        self.deadline: float | None = (
            min(d for d in (own, inherited) if d is not None)
            if own is not None or inherited is not None
            else None
        )

    def child(self, limits: Limits | None = None) -> Budget:
        """A budget that draws on this one and is cancelled with it."""
        return Budget(limits, parent=self, cancel_token=self.cancel_token.child())

    def remaining_time(self) -> float | None:
        """Seconds left before the deadline (this budget's or an ancestor's), or None."""
        return None if self.deadline is None else self.deadline - time.monotonic()

    # -- spending ---------------------------------------------------------------------------

    def charge_round(self, usage: Usage, cost: float | None) -> None:
        self.own_rounds += 1
        budget: Budget | None = self
        while budget is not None:
            budget.rounds += 1
            budget.usage.add(usage)
            if cost is None:
                budget.cost = None
            elif budget.cost is not None:
                budget.cost += cost
            budget = budget.parent

    def charge_usage(self, usage: Usage, cost: float | None) -> None:
        """Usage of a request that is not a round of its own (a compaction's summary)."""
        budget: Budget | None = self
        while budget is not None:
            budget.usage.add(usage)
            if cost is None:
                budget.cost = None
            elif budget.cost is not None:
                budget.cost += cost
            budget = budget.parent

    def charge_tool_calls(self, calls: int) -> None:
        budget: Budget | None = self
        while budget is not None:
            budget.tool_calls += calls
            budget = budget.parent

    # -- checks (each level against its own limits) -----------------------------------------

    def check_rounds(self) -> None:
        """Before a request: raise if no round is left, or if a budget this one draws on (a
        stream's, under ``--budget-scope session``; a subagent's parent's) has no tokens or
        cost left: a turn whose answer spent the stream's budget ends well, the next is not
        sent. This budget's own spend is checked after its tool rounds (`check_spend`)."""
        chain = self._chain()
        for budget in chain:
            if budget.limit_hit is not None:
                raise budget.limit_hit
            limit = budget.limits.max_rounds
            if limit is not None and budget.rounds >= limit:
                raise budget._hit(
                    f"max_rounds reached ({limit}) before a final answer", "max_rounds"
                )
        for budget in chain[1:]:
            budget._check_own_spend()

    def tool_calls_exceeded(self, calls: int) -> int | None:
        """The limit ``calls`` more tool calls would pass, or None if they fit (the caller
        raises; the budget whose limit it is remembers it, see `limit_hit`)."""
        for budget in self._chain():
            limit = budget.limits.max_tool_calls
            if limit is not None and budget.tool_calls + calls > limit:
                budget._hit(f"max_tool_calls reached ({limit})", "max_tool_calls")
                return limit
        return None

    def check_spend(self) -> None:
        """After a tool round: raise if tokens or cost are used up, or if a child used up a
        limit of this budget (or of an ancestor's) during the round."""
        for budget in self._chain():
            if budget.limit_hit is not None:
                raise budget.limit_hit
            budget._check_own_spend()

    def _check_own_spend(self) -> None:
        limits = self.limits
        if limits.max_tokens is not None and self.usage.total_tokens >= limits.max_tokens:
            raise self._hit(
                f"max_tokens reached ({self.usage.total_tokens} of {limits.max_tokens})",
                "max_tokens",
            )
        if (
            limits.max_cost_usd is not None
            and self.cost is not None
            and self.cost >= limits.max_cost_usd
        ):
            raise self._hit(
                f"max_cost_usd reached (${self.cost:.4f} of ${limits.max_cost_usd:.4f})",
                "max_cost_usd",
            )

    def _hit(self, message: str, limit: str) -> LimitReachedError:
        error = LimitReachedError(message, limit=limit)
        if self.limit_hit is None:
            self.limit_hit = error
        return error

    def _chain(self) -> list[Budget]:
        chain: list[Budget] = []
        budget: Budget | None = self
        while budget is not None:
            chain.append(budget)
            budget = budget.parent
        return chain
