"""`ToolServices`: what the runtime lends tools, typed (where an agent's files go, its store,
the application's registered context objects).

Tools read it through `ToolContext.services`, which is still the mapping it always was
(``ctx.services["jobs_dir"]``), built from these fields by `as_dict`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from mentra.store.base import Store


@dataclass(slots=True)
class ToolServices:
    jobs_dir: Path | None = None
    results_dir: Path | None = None
    store: Store | None = None
    contexts: dict[type, object] = field(default_factory=dict)  # Runtime.register_context
    user_hooks: Any = None  # `mentra.user_hooks.UserHooks`, for pre_tool/post_tool
    memory: Any = None  # `mentra.memory.MemorySession`, for the memory tools
    task_board: Any = None  # `mentra.tasks.tools.TaskBoard`, for the task_* tools
    subagents: Any = None  # `mentra.agent.subagents.Subagents`, for the `task` tool
    compactor: Any = None  # `mentra.context.compactor.Compactor`, for the `compact` tool

    def as_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"contexts": self.contexts}
        if self.jobs_dir is not None:
            out["jobs_dir"] = self.jobs_dir
        if self.results_dir is not None:
            out["results_dir"] = self.results_dir
        if self.store is not None:
            out["store"] = self.store
        if self.memory is not None:
            out["memory"] = self.memory
        if self.task_board is not None:
            out["task_board"] = self.task_board
        if self.subagents is not None:
            out["subagents"] = self.subagents
        if self.compactor is not None:
            out["compactor"] = self.compactor
        return out
