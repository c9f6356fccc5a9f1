"""Runs hook commands: one JSON object on stdin, the workspace as cwd, the policy's environment.

The protocol (close to Claude Code's hooks, so scripts carry over): exit 0 goes on, and stdout
may be a JSON object with the hook's answer; exit 2 blocks, with stderr as the reason; any other
exit, a command that cannot start, or a timeout (the hook's process group is killed) is a
failure: `pre_tool` fails closed, the others say so in a ``notice`` and the run goes on. Each
command run is a ``hook_completed`` event.
"""

from __future__ import annotations

import fnmatch
import json
import shlex
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mentra.events import HookCompleted, Notice
from mentra.user_hooks.config import TOOL_HOOKS, HookEntry, HooksConfig

BLOCK_EXIT = 2
OUTPUT_LIMIT = 1 << 20


@dataclass(slots=True)
class HookRun:
    """What one hook command did."""

    hook: str
    command: str
    exit_code: int | None  # None: timed out or could not start
    stdout: str
    stderr: str
    duration_ms: int
    failure: str | None = None  # why it counts as failed (exit code, crash, timeout)
    answer: dict[str, Any] | None = None  # stdout as a JSON object, on exit 0

    @property
    def blocked(self) -> bool:
        return self.exit_code == BLOCK_EXIT

    @property
    def reason(self) -> str:
        """The text a model or a user sees: stderr for a block, else the answer's reason."""
        if self.blocked:
            return self.stderr.strip() or f"blocked by hook `{self.command}`"
        if self.failure:
            return f"hook `{self.command}` failed: {self.failure}"
        text = (self.answer or {}).get("reason")
        return str(text) if text else f"decided by hook `{self.command}`"


def command_text(command: Sequence[str] | str) -> str:
    return command if isinstance(command, str) else shlex.join(command)


class UserHooks:
    """The hooks of one agent, with what they leave for the next request.

    ``pending_context`` collects ``additional_context`` answers; the loop sends them with the
    next user message (the prompt, or the next tool results). ``continues`` counts the times
    stop hooks sent the model on in the current run."""

    def __init__(
        self,
        config: HooksConfig,
        *,
        cwd: Path,
        env: Callable[[], Mapping[str, str]],
        max_output_bytes: int = OUTPUT_LIMIT,
    ) -> None:
        self.config = config
        self.cwd = Path(cwd)
        self.env = env
        self.max_output_bytes = max_output_bytes
        self.pending_context: list[str] = []
        self.continues = 0

    def matching(self, hook: str, tool: str | None = None) -> list[HookEntry]:
        entries = self.config.entries(hook)
        if hook in TOOL_HOOKS and tool is not None:
            return [e for e in entries if fnmatch.fnmatchcase(tool, e.match)]
        return list(entries)

    def take_context(self) -> list[str]:
        out, self.pending_context = self.pending_context, []
        return out

    def payload(self, hook: str, emitter: Any, **fields: Any) -> dict[str, Any]:
        return {
            "hook": hook,
            "agent_id": emitter.agent_id,
            "run_id": emitter.run_id,
            "cwd": str(self.cwd),
            **fields,
        }

    async def run_one(
        self, entry: HookEntry, hook: str, payload: dict[str, Any], emitter: Any
    ) -> HookRun:
        """Run one command and report it as ``hook_completed``."""
        from mentra.tools._process import CommandNotFoundError, run_process

        text = command_text(entry.command)
        argv = ["/bin/sh", "-c", entry.command] if isinstance(entry.command, str) else entry.command
        env = {
            **self.env(),
            "MENTRA_HOOK": hook,
            "MENTRA_AGENT_ID": str(payload.get("agent_id", "")),
            "MENTRA_RUN_ID": str(payload.get("run_id", "")),
        }
        started = time.monotonic()
        try:
            outcome = await run_process(
                argv,
                cwd=self.cwd,
                env=env,
                timeout=entry.timeout,
                max_output_bytes=self.max_output_bytes,
                progress=_quiet,
                stdin_data=json.dumps(payload).encode(),
                heartbeat=3600.0,
            )
        except CommandNotFoundError as exc:
            run = HookRun(hook, text, None, "", "", _ms(started), failure=str(exc))
        except OSError as exc:
            run = HookRun(hook, text, None, "", "", _ms(started), failure=f"cannot start: {exc}")
        else:
            run = HookRun(
                hook, text, outcome.exit_code, outcome.stdout, outcome.stderr, _ms(started)
            )
            if outcome.timed_out:
                run.failure = f"timed out after {entry.timeout:g}s (its process group was killed)"
            elif outcome.exit_code == 0:
                run.answer = _json_object(outcome.stdout)
            elif outcome.exit_code != BLOCK_EXIT:
                detail = outcome.stderr.strip().splitlines()
                run.failure = f"exit code {outcome.exit_code}" + (
                    f": {detail[-1][:300]}" if detail else ""
                )
        emitter.emit(
            HookCompleted,
            hook=hook,
            command=text,
            tool=(payload.get("tool") or {}).get("name"),
            exit_code=run.exit_code,
            decision=decision_of(run),
            reason=None if decision_of(run) in ("none", "context", "output") else run.reason,
            duration_ms=run.duration_ms,
        )
        return run

    def notice_failure(self, run: HookRun, emitter: Any) -> None:
        emitter.emit(Notice, level="warning", message=f"{run.hook} {run.reason}; the run goes on")


def decision_of(run: HookRun) -> str:
    """The ``decision`` of ``hook_completed``: what the hook's answer amounts to."""
    if run.failure:
        return "error"
    if run.blocked:
        return "block"
    answer = run.answer or {}
    if run.hook == "pre_tool" and answer.get("decision") in ("allow", "deny", "ask"):
        return str(answer["decision"])
    if run.hook == "pre_tool" and isinstance(answer.get("input"), dict):
        return "rewrite"
    if run.hook == "stop" and answer.get("continue") is True:
        return "continue"
    if run.hook == "post_tool" and isinstance(answer.get("output"), str):
        return "output"
    if isinstance(answer.get("additional_context"), str) and answer["additional_context"]:
        return "context"
    return "none"


def _json_object(stdout: str) -> dict[str, Any] | None:
    text = stdout.strip()
    if not text.startswith("{"):
        return None
    try:
        value = json.loads(text)
    except ValueError:
        return None
    return value if isinstance(value, dict) else None


def _ms(started: float) -> int:
    return int((time.monotonic() - started) * 1000)


def _quiet(message: str, stream: str) -> None:
    return None
