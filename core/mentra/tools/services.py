"""`ToolServices`: what the runtime lends tools, typed (where an agent's files go, its store,
the application's registered context objects, the run's memory and task board).

A tool reads a field of ``ctx.services`` (``ctx.services.jobs_dir``); `assemble.tool_services`
fills them per agent. A new service is one more optional field here (None: not in this run) and
one line there. A service whose type lives above ``mentra.tools`` (memory, the task board, user
hooks) is typed ``Any`` here, so this package imports nothing above it, and its tools check its
type when they take it (`isinstance`).

The mapping view (``ctx.services["jobs_dir"]``, ``.get("store")``) that tools used before the
fields were typed still works, for code written against it; new code reads the fields.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from collections.abc import Mapping

    from mentra.store.base import Store


@dataclass(slots=True)
class ToolServices:
    jobs_dir: Path | None = None  # background jobs' directories (per agent, beside the store)
    results_dir: Path | None = None  # full text of results shrunk for the model
    store: Store | None = None  # the agent's store (job records); None for a bare context
    contexts: dict[type, object] = field(default_factory=dict)  # Runtime.register_context
    user_hooks: Any = None  # `mentra.user_hooks.UserHooks`, for pre_tool/post_tool
    memory: Any = None  # `mentra.memory.MemorySession`, for the memory tools
    task_board: Any = None  # `mentra.tasks.tools.TaskBoard`, for the task_* tools
    subagents: Any = None  # `mentra.agent.subagents.Subagents`, for the `task` tool
    compactor: Any = None  # `mentra.context.compactor.Compactor`, for the `compact` tool

    @classmethod
    def from_mapping(cls, values: Mapping[str, Any]) -> ToolServices:
        """Services from the old mapping form; an unknown key is a `TypeError`."""
        return cls(**values)

    # -- the mapping view, for code written before the fields were typed -------------------

    def get(self, key: str, default: Any = None) -> Any:
        value = getattr(self, key, None) if key in _NAMES else None
        return default if value is None else value

    def __getitem__(self, key: str) -> Any:
        value = self.get(key)
        if value is None:
            raise KeyError(key)
        return value

    def __setitem__(self, key: str, value: Any) -> None:
        if key not in _NAMES:
            raise KeyError(f"no tool service {key!r} (known: {', '.join(sorted(_NAMES))})")
        setattr(self, key, value)

    def __contains__(self, key: object) -> bool:
        return isinstance(key, str) and self.get(key) is not None

    def as_dict(self) -> dict[str, Any]:
        """The services that are set, by name (the old mapping form)."""
        out: dict[str, Any] = {"contexts": self.contexts}
        for name in _NAMES:
            value = getattr(self, name)
            if value is not None and name != "contexts":
                out[name] = value
        return out


_NAMES = frozenset(f.name for f in fields(ToolServices))
