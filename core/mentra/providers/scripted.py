"""The `scripted` provider: replays a YAML script of model turns, offline.

A real provider, not a test hook: ``-m scripted:PATH`` lets an agent config be exercised in CI
with no network. The reply served is chosen by the number of assistant turns already in the
request, so a resumed agent in a new process continues where it stands. Error entries inject
failures (status, ``Retry-After``, ``times``) before the reply that follows them.
"""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, model_validator

from mentra import _text, _yaml
from mentra.errors import TRANSIENT_STATUSES, ConfigError, ProviderError
from mentra.messages import Usage
from mentra.providers.base import (
    BlockDelta,
    BlockStart,
    BlockStop,
    MessageStart,
    MessageStop,
    ModelInfo,
    ModelRequest,
    StreamEvent,
    UsageUpdate,
)


class ScriptToolCall(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str
    id: str | None = None
    input: dict[str, Any] | None = None
    input_raw: str | None = None

    @model_validator(mode="after")
    def _one_input(self) -> ScriptToolCall:
        if self.input is not None and self.input_raw is not None:
            raise ValueError("give `input` or `input_raw`, not both")
        return self


class ScriptError(BaseModel):
    model_config = ConfigDict(extra="forbid")

    status: int = Field(ge=100, le=599)
    retry_after: float | None = Field(None, ge=0)
    times: int = Field(1, ge=1)
    message: str | None = None


class ScriptTurn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    text: str | None = None
    reasoning: str | None = None
    tool_calls: list[ScriptToolCall] = Field(default_factory=list)
    usage: Usage | None = None
    delay_ms: int = Field(0, ge=0)
    error: ScriptError | None = None

    @model_validator(mode="after")
    def _reply_or_error(self) -> ScriptTurn:
        is_reply = self.text is not None or bool(self.tool_calls) or self.reasoning is not None
        if self.error is not None and is_reply:
            raise ValueError("an entry is either a reply (text/tool_calls) or an `error`")
        if self.error is None and not is_reply:
            raise ValueError("an entry needs `text`, `tool_calls` or `error`")
        return self


class Script(BaseModel):
    model_config = ConfigDict(extra="forbid")

    model: str | None = None
    turns: list[ScriptTurn] = Field(min_length=1)
    # replies to compaction summary requests (mentra.context), served in order, the last one
    # again once they run out; an `error` entry fails that many (`times`) summary requests
    compaction: list[ScriptTurn] = Field(default_factory=list)
    # what loading had to say (text that was not valid UTF-8), for a `notice`
    _notices: list[str] = PrivateAttr(default_factory=list)

    @property
    def notices(self) -> list[str]:
        return list(self._notices)


def load_script(path: Path) -> Script:
    """Read and check a script. Text that is not valid UTF-8 (undecodable bytes in the file, a
    lone surrogate escape such as ``"\\ud800"``) is replaced with U+FFFD and noted."""
    file = str(path)
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise ConfigError(f"script file not found: {file}") from None
    except OSError as exc:
        raise ConfigError(f"cannot read script file {file}: {exc.strerror or exc}") from None
    text, replaced = _text.decode_text(data)
    tree, marks = _yaml.parse_yaml(text.removeprefix("\ufeff"), file=file, what="script", env=False)
    tree, where = _text.clean_tree(tree)
    script = _yaml.validate(Script, tree, file=file, marks=marks, what="script")
    if replaced or where:
        at = _yaml.location(file, marks, where[0]) if where else file
        script._notices.append(
            f"{at}: the script holds text that is not valid UTF-8; "
            "it was replaced with U+FFFD (\ufffd)"
        )
    return script


_WORD_RE = re.compile(r"\S+\s*|\s+")


class ScriptedProvider:
    """Serves replies from a script file named by the request's model (the path)."""

    def __init__(self, *, name: str = "scripted", base_dir: Path | None = None) -> None:
        self.name = name
        self._base_dir = base_dir
        self._scripts: dict[str, tuple[list[ScriptTurn], list[list[ScriptError]]]] = {}
        self._compaction: dict[str, list[ScriptTurn]] = {}
        self._compactions_served: dict[str, int] = {}
        self._failures_served: dict[tuple[str, int], int] = {}
        self._notices: dict[str, list[str]] = {}
        self.requests: list[ModelRequest] = []  # what was asked, for inspection in tests

    def _path(self, model: str) -> Path:
        path = Path(model).expanduser()
        if not path.is_absolute() and self._base_dir is not None:
            path = self._base_dir / path
        return path

    def _load(self, model: str) -> tuple[list[ScriptTurn], list[list[ScriptError]]]:
        cached = self._scripts.get(model)
        if cached is None:
            script = load_script(self._path(model))
            replies: list[ScriptTurn] = []
            errors: list[list[ScriptError]] = []
            pending: list[ScriptError] = []
            for turn in script.turns:
                if turn.error is not None:
                    pending.append(turn.error)
                else:
                    replies.append(turn)
                    errors.append(pending)
                    pending = []
            if pending:  # errors after the last reply fail every later request
                errors.append(pending)
            cached = (replies, errors)
            self._scripts[model] = cached
            self._compaction[model] = [
                t for t in script.compaction for _ in range(t.error.times if t.error else 1)
            ]
            self._notices[model] = script.notices
        return cached

    def load_notices(self, model: str) -> list[str]:
        """Load the script of ``model`` ahead of the first request and say what loading had
        to say. A script that cannot be loaded is reported by the request, as a config error."""
        try:
            self._load(model)
        except ConfigError:
            return []
        return list(self._notices.get(model, ()))

    async def stream(self, request: ModelRequest) -> AsyncIterator[StreamEvent]:
        replies, errors = self._load(request.model)
        self.requests.append(request)
        # a compacted conversation still counts the turns its summary stands for
        n = request.folded_turns + sum(1 for m in request.messages if m.role == "assistant")
        if request.purpose == "compaction":
            turn = self._compaction_turn(request.model)
        else:
            self._inject_failure(request.model, n, errors)
            if n >= len(replies):
                raise ProviderError(
                    f"script {request.model} has no reply #{n + 1} (it has {len(replies)})",
                    provider=self.name,
                )
            turn = replies[n]
        if turn.delay_ms:
            await asyncio.sleep(turn.delay_ms / 1000)
        yield MessageStart(id=f"scripted-{n + 1}", model=request.model)
        index = 0
        if turn.reasoning:
            yield BlockStart(index, "reasoning")
            yield BlockDelta(index, "reasoning", turn.reasoning)
            yield BlockStop(index)
            index += 1
        if turn.text:
            yield BlockStart(index, "text")
            for piece in _WORD_RE.findall(turn.text):
                yield BlockDelta(index, "text", piece)
            yield BlockStop(index)
            index += 1
        for j, call in enumerate(turn.tool_calls):
            call_id = call.id or f"call_{n + 1}_{j + 1}"
            yield BlockStart(index, "tool_use", tool_id=call_id, tool_name=call.name)
            raw = call.input_raw if call.input_raw is not None else json.dumps(call.input or {})
            yield BlockDelta(index, "input_json", raw)
            yield BlockStop(index)
            index += 1
        if turn.usage is not None:
            yield UsageUpdate(turn.usage.model_copy())
        yield MessageStop("tool_use" if turn.tool_calls else "end_turn")

    def _compaction_turn(self, model: str) -> ScriptTurn:
        entries = self._compaction.get(model) or []
        if not entries:
            raise ProviderError(
                f"script {model} has no `compaction` reply for a summary request",
                provider=self.name,
            )
        served = self._compactions_served.get(model, 0)
        self._compactions_served[model] = served + 1
        turn = entries[min(served, len(entries) - 1)]
        if turn.error is not None:
            err = turn.error
            raise ProviderError(
                err.message or f"scripted failure: HTTP {err.status}",
                provider=self.name,
                status_code=err.status,
                retry_after=err.retry_after,
                transient=err.status in TRANSIENT_STATUSES,
            )
        return turn

    def _inject_failure(self, model: str, n: int, errors: list[list[ScriptError]]) -> None:
        if n >= len(errors) or not errors[n]:
            return
        served = self._failures_served.get((model, n), 0)
        budget = 0
        for err in errors[n]:
            budget += err.times
            if served < budget:
                self._failures_served[(model, n)] = served + 1
                raise ProviderError(
                    err.message or f"scripted failure: HTTP {err.status}",
                    provider=self.name,
                    status_code=err.status,
                    retry_after=err.retry_after,
                    transient=err.status in TRANSIENT_STATUSES,
                )

    async def list_models(self) -> list[ModelInfo]:
        return [ModelInfo(id=m, provider=self.name) for m in self._scripts]

    async def aclose(self) -> None:
        return None
