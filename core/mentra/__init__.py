"""mentra: an agent runtime for tool-using LLM applications.

The public API is re-exported here lazily, so ``import mentra`` stays cheap: a name's module is
imported the first time the name is used.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

from mentra._version import __version__

if TYPE_CHECKING:
    from mentra.agent.budget import Budget, CancelToken, Limits
    from mentra.agent.hooks import HookPipeline, ToolCall
    from mentra.agent.loop import Agent, RunOutcome
    from mentra.agent.request import RunOverrides, RunRequest
    from mentra.agent.session import Session
    from mentra.agent.turns import Turn, TurnInputError, parse_turn
    from mentra.config import AgentConfig, load_agent_config
    from mentra.errors import (
        AgentBusyError,
        ConfigError,
        InvalidOutputError,
        LimitReachedError,
        MentraError,
        ProviderError,
        RunTimeoutError,
        StoreError,
    )
    from mentra.events import Event, parse_event
    from mentra.messages import Message, Usage
    from mentra.providers.base import ModelInfo
    from mentra.providers.scripted import ScriptedProvider
    from mentra.runtime import Runtime, RuntimeBuilder, ToolDescriptor
    from mentra.store.location import open_store
    from mentra.tools.base import ArgsTool, Tool, ToolContext, ToolResult
    from mentra.tools.services import ToolServices
    from mentra.tools.toolset import StaticToolSet, ToolSet

_EXPORTS = {
    "Budget": "mentra.agent.budget",
    "CancelToken": "mentra.agent.budget",
    "Limits": "mentra.agent.budget",
    "HookPipeline": "mentra.agent.hooks",
    "ToolCall": "mentra.agent.hooks",
    "RunRequest": "mentra.agent.request",
    "Session": "mentra.agent.session",
    "Turn": "mentra.agent.turns",
    "TurnInputError": "mentra.agent.turns",
    "parse_turn": "mentra.agent.turns",
    "RuntimeBuilder": "mentra.runtime",
    "ToolDescriptor": "mentra.runtime",
    "ModelInfo": "mentra.providers.base",
    "open_store": "mentra.store.location",
    "ToolServices": "mentra.tools.services",
    "ToolSet": "mentra.tools.toolset",
    "StaticToolSet": "mentra.tools.toolset",
    "Agent": "mentra.agent.loop",
    "RunOutcome": "mentra.agent.loop",
    "AgentConfig": "mentra.config",
    "load_agent_config": "mentra.config",
    "AgentBusyError": "mentra.errors",
    "ConfigError": "mentra.errors",
    "InvalidOutputError": "mentra.errors",
    "LimitReachedError": "mentra.errors",
    "MentraError": "mentra.errors",
    "ProviderError": "mentra.errors",
    "RunTimeoutError": "mentra.errors",
    "StoreError": "mentra.errors",
    "Event": "mentra.events",
    "parse_event": "mentra.events",
    "Message": "mentra.messages",
    "Usage": "mentra.messages",
    "ScriptedProvider": "mentra.providers.scripted",
    "RunOverrides": "mentra.agent.request",
    "Runtime": "mentra.runtime",
    "ArgsTool": "mentra.tools.base",
    "Tool": "mentra.tools.base",
    "ToolContext": "mentra.tools.base",
    "ToolResult": "mentra.tools.base",
}

__all__ = [
    "Agent",
    "AgentBusyError",
    "AgentConfig",
    "ArgsTool",
    "Budget",
    "CancelToken",
    "ConfigError",
    "Event",
    "HookPipeline",
    "InvalidOutputError",
    "LimitReachedError",
    "Limits",
    "MentraError",
    "Message",
    "ModelInfo",
    "ProviderError",
    "RunOutcome",
    "RunOverrides",
    "RunRequest",
    "RunTimeoutError",
    "Runtime",
    "RuntimeBuilder",
    "ScriptedProvider",
    "Session",
    "StaticToolSet",
    "StoreError",
    "Tool",
    "ToolCall",
    "ToolContext",
    "ToolDescriptor",
    "ToolResult",
    "ToolServices",
    "ToolSet",
    "Turn",
    "TurnInputError",
    "Usage",
    "__version__",
    "load_agent_config",
    "open_store",
    "parse_event",
    "parse_turn",
]


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'mentra' has no attribute {name!r}")
    value = getattr(import_module(module), name)
    globals()[name] = value
    return value
