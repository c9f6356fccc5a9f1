"""The ``hooks:`` block: commands run at points of a run, with JSON on stdin.

Read from the agent config (and the user config under it), the user policy file, ``--policy``
files and a trusted project's ``.mentra/policy.yaml``; see `mentra.user_hooks.sources`.
"""

from __future__ import annotations

from typing import Literal, get_args

from pydantic import BaseModel, ConfigDict, Field, field_validator

from mentra._duration import Duration

HookName = Literal["pre_tool", "post_tool", "user_prompt", "session_start", "stop", "pre_compact"]
HOOK_NAMES: tuple[str, ...] = get_args(HookName)
TOOL_HOOKS = ("pre_tool", "post_tool")
DEFAULT_TIMEOUT = 60.0


class HookEntry(BaseModel):
    """One command. ``match`` (a glob over tool names) applies to the tool hooks only."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    match: str = Field("*", description="glob over tool names (pre_tool, post_tool)")
    command: list[str] | str = Field(description="argv, or a string run by /bin/sh -c")
    timeout: Duration = DEFAULT_TIMEOUT

    @field_validator("command")
    @classmethod
    def _not_empty(cls, value: list[str] | str) -> list[str] | str:
        if (isinstance(value, str) and not value.strip()) or (
            isinstance(value, list) and (not value or not value[0])
        ):
            raise ValueError("a hook command must not be empty")
        return value


class HooksConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    pre_tool: list[HookEntry] = Field(
        default_factory=list, description="after deny rules and the policy, before allow/ask"
    )
    post_tool: list[HookEntry] = Field(default_factory=list)
    user_prompt: list[HookEntry] = Field(
        default_factory=list, description="before a prompt is sent: may add context or refuse it"
    )
    session_start: list[HookEntry] = Field(default_factory=list, description="may add context")
    stop: list[HookEntry] = Field(
        default_factory=list, description="when the model gives its final answer: may ask it on"
    )
    pre_compact: list[HookEntry] = Field(default_factory=list)
    max_continues: int = Field(
        3, ge=0, description="how many times stop hooks may send the model on in one run"
    )

    def entries(self, hook: str) -> list[HookEntry]:
        found: list[HookEntry] = getattr(self, hook)
        return found

    def is_empty(self) -> bool:
        return not any(self.entries(h) for h in HOOK_NAMES)
