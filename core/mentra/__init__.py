"""mentra: an agent runtime for tool-using LLM applications.

The public API is re-exported here lazily, so ``import mentra`` stays cheap: a name's module is
imported the first time the name is used.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

from mentra._version import __version__

if TYPE_CHECKING:
    from mentra.agent.loop import Agent, RunOutcome
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
    from mentra.providers.scripted import ScriptedProvider
    from mentra.runtime import RunOverrides, Runtime
    from mentra.tools.base import ArgsTool, Tool, ToolContext, ToolResult

_EXPORTS = {
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
    "RunOverrides": "mentra.runtime",
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
    "ConfigError",
    "Event",
    "InvalidOutputError",
    "LimitReachedError",
    "MentraError",
    "Message",
    "ProviderError",
    "RunOutcome",
    "RunOverrides",
    "RunTimeoutError",
    "Runtime",
    "ScriptedProvider",
    "StoreError",
    "Tool",
    "ToolContext",
    "ToolResult",
    "Usage",
    "__version__",
    "load_agent_config",
    "parse_event",
]


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'mentra' has no attribute {name!r}")
    value = getattr(import_module(module), name)
    globals()[name] = value
    return value
