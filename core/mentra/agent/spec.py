"""`AgentSetup`: everything one agent runs with, built by the runtime from config and flags.

A plain record: the round loop (`mentra.agent.loop`) and the `Session` read it; neither
builds it. It names the store only as a type, so the loop never imports the store package.
The store is the `AsyncStore` view the runtime shares among its agents (an ``--ephemeral``
runtime's is an `InMemoryStore`, so the session never asks whether there is one).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from mentra.agent.budget import Limits
from mentra.agent.hooks import HookPipeline
from mentra.messages import Usage
from mentra.providers.base import ModelOptions, Provider, ToolSpec
from mentra.providers.settings import Retries
from mentra.store.fencing import default_lease_ttl
from mentra.tools.base import Tool
from mentra.tools.services import ToolServices

if TYPE_CHECKING:
    from mentra.permissions.policy import RuntimePolicy
    from mentra.store.async_store import AsyncStore
    from mentra.tools.toolset import ToolSet


@dataclass(slots=True)
class ModelRoute:
    """A model requests can go to: one entry of the fallback list (`AgentSetup.fallbacks`)."""

    provider: Provider
    provider_name: str
    model: str
    retries: Retries
    cost_fn: Callable[[str, str, Usage], float | None] | None = None


@dataclass
class AgentSetup:
    """Everything one agent needs to run; built by the `Runtime` from config and flags."""

    agent_id: str
    name: str
    provider: Provider
    provider_name: str
    model: str
    system: str | None
    tools: dict[str, Tool]
    policy: RuntimePolicy
    tool_specs: list[ToolSpec]
    permission_mode: str
    cwd: str
    store: AsyncStore  # where the run is recorded; holds the agent's record
    hooks: HookPipeline = field(default_factory=HookPipeline)
    services: ToolServices = field(default_factory=ToolServices)
    options: ModelOptions = field(default_factory=ModelOptions)
    retries: Retries = field(default_factory=Retries)
    limits: Limits = field(default_factory=Limits)
    store_label: str | None = None  # the store's path for session_started; None in memory
    include_deltas: bool = False
    json_schema: dict[str, Any] | None = None
    json_schema_retries: int = 2
    fail_on_denial: bool = False  # a denied call ends the run `denied` (exit 8)
    cost_fn: Callable[[str, str, Usage], float | None] | None = None
    toolset: ToolSet | None = None  # entered around each session
    list_tools_at_start: bool = False  # the set lists its tools only once entered
    user_hooks: Any = None  # `mentra.user_hooks.UserHooks`: the config's hook commands
    memory: Any = None  # `mentra.memory.MemorySession`: recall, episode ingest
    task_board: Any = None  # `mentra.tasks.tools.TaskBoard`: restored after a failed run
    subagents: Any = None  # `mentra.agent.subagents.Subagents`: the `task` tool's children
    compactor: Any = None  # `mentra.context.compactor.Compactor`: bound to each run
    setup_notices: list[str] = field(default_factory=list)  # e.g. ignored project rules
    lease_ttl_s: float = field(default_factory=default_lease_ttl)  # MENTRA_LEASE_TTL (tests)
    # tried in order when a request fails overloaded/unreachable after its retries; the one
    # that answers becomes the agent's model (provider, model, retries, cost_fn above)
    fallbacks: list[ModelRoute] = field(default_factory=list)

    async def list_tools(self) -> None:
        """The tool set's tools (once entered) become the run's ``tools`` and ``tool_specs``."""
        if self.toolset is None:
            return
        self.tools = {t.name: t for t in await self.toolset.list_tools()}
        self.tool_specs = [
            ToolSpec(t.name, t.description, t.input_schema) for t in self.tools.values()
        ]

    async def sync_tools(self) -> list[str]:
        """Before a model request: what the tool set has to tell the user (as notices), and
        its tools listed again when they changed (an MCP server's ``list_changed``, a server
        gone). A listing that fails keeps the tools as they were and says why."""
        if self.toolset is None:
            return []
        notices = self.toolset.take_notices()
        if self.toolset.tools_changed():
            try:
                await self.list_tools()
            except Exception as exc:
                notices.append(f"the tool list could not be refreshed ({exc}); keeping it")
            notices.extend(self.toolset.take_notices())
        return notices
