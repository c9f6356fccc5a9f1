"""Subagent profiles (``agents:`` in the agent config), ``tasks:``, and the ``task`` tool's schema.

A profile names a kind of child the ``task`` tool can start: its description is shown to the
model in the tool's schema, the rest shapes the child (what it omits is the parent's, minus
``task``). Running a child needs the Session and its shared Budget; this module holds only what
does not: the config models and the schema the model sees.
"""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, field_validator

from mentra.permissions.decide import PermissionsConfig

DEFAULT_MAX_ROUNDS = 30
SUBAGENT_SYSTEM_SUFFIX = (
    "You are a subagent working for another agent. Solve the delegated task, use tools when "
    "helpful, and finish with a concise final answer for the parent agent."
)

ProfileName = Annotated[str, StringConstraints(pattern=r"^[A-Za-z][A-Za-z0-9_-]*$", max_length=64)]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ProfileTools(_Strict):
    """The child's tools: the parent's set narrowed with ``only``, then ``hide``."""

    only: list[str] | None = None
    hide: list[str] = Field(default_factory=list)


class SubagentProfile(_Strict):
    description: str = Field(min_length=1, description="shown to the model in the task schema")
    system: str | None = Field(None, description="the child's system prompt")
    model: str | None = Field(None, description="PROVIDER:MODEL; default: the parent's")
    tools: ProfileTools | None = Field(None, description="default: the parent's, minus task")
    max_rounds: int = Field(DEFAULT_MAX_ROUNDS, ge=1)
    permissions: PermissionsConfig | None = Field(
        None,
        description="narrows the parent's permissions (deny/ask rules, a narrower mode); "
        "it never allows more than the parent may",
    )

    @field_validator("model")
    @classmethod
    def _model_has_provider(cls, value: str | None) -> str | None:
        if value is not None:  # as mentra.config.split_model checks it (config imports us)
            provider, sep, model = value.partition(":")
            if not sep or not provider or not model:
                raise ValueError(
                    f"model must be PROVIDER:MODEL (e.g. openai:gpt-5.4-mini), got {value!r}"
                )
        return value


class TasksConfig(_Strict):
    """``tasks:``: the task board tools (``task_create`` ...) are in every agent's set."""

    enabled: bool = True


def task_tool_description(profiles: dict[str, SubagentProfile]) -> str:
    text = (
        "Delegate a self-contained task to a subagent: a fresh agent with an empty history "
        "that works on `prompt` with tools and answers with a concise summary, which is this "
        "tool's result."
    )
    if profiles:
        named = "; ".join(f"{name}: {p.description}" for name, p in profiles.items())
        text += f" Set `agent` to use a named profile ({named})."
    return text


def task_tool_schema(profiles: dict[str, SubagentProfile]) -> dict[str, Any]:
    """The input schema of ``task {prompt, agent?}``: ``agent`` lists the profiles by name,
    each with its description, so the model can choose; without profiles there is no
    ``agent``."""
    properties: dict[str, Any] = {
        "prompt": {
            "type": "string",
            "minLength": 1,
            "description": "the task, with everything the subagent needs to know",
        }
    }
    if profiles:
        listed = "\n".join(f"- {name}: {p.description}" for name, p in profiles.items())
        properties["agent"] = {
            "type": "string",
            "enum": list(profiles),
            "description": "the subagent profile to use; omit for a general subagent. "
            f"Profiles:\n{listed}",
        }
    return {
        "type": "object",
        "properties": properties,
        "required": ["prompt"],
        "additionalProperties": False,
    }
