"""`RunRequest`: one run as the CLI (or a Python caller) asks for it, built once from the flags.

The runtime turns it into a `Session` (`Runtime.session_for`): it resolves scripted paths
against the workspace, checks the permission mode and decides what a prompt-less resume means,
so the CLI does none of that.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mentra.errors import ConfigError

if TYPE_CHECKING:
    from mentra.config import LoadedConfig
    from mentra.messages import ImageBlock

PERMISSION_MODES = ("default", "read-only", "accept-edits", "bypass")
EFFORTS = ("low", "medium", "high")
# a caller-chosen agent id: a plain name that is safe as a path part and in a shell script
AGENT_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")


@dataclass
class RunOverrides:
    """Flags that override the agent config for one run."""

    model: str | None = None
    system: str | None = None
    allow: list[str] = field(default_factory=list)
    ask: list[str] = field(default_factory=list)
    deny: list[str] = field(default_factory=list)
    policy_files: list[Path] = field(default_factory=list)
    permission_mode: str | None = None
    approval_command: str | None = None
    fail_on_denial: bool = False
    trust_project: bool = False
    max_rounds: int | None = None
    max_tool_calls: int | None = None
    max_tokens: int | None = None
    max_cost_usd: float | None = None
    timeout: float | None = None
    include_deltas: bool = False
    json_schema: dict[str, Any] | None = None
    mcp_config_files: list[Path] = field(default_factory=list)  # Claude Code style JSON files
    strict_mcp_config: bool = False  # only those files' servers, not the config's
    agent_id: str | None = None  # a caller-chosen id for a new agent (`run --agent-id`)
    append_system: list[str] = field(default_factory=list)  # added after the system prompt
    effort: str | None = None  # replaces the config's model_options.reasoning_effort
    # compaction threshold (`--compact-at`): at most 1 a fraction of the window, else tokens
    compact_at: float | None = None
    fallback_models: list[str] = field(default_factory=list)  # replaces the config's list

    def check(self) -> None:
        """Refuse what no config could make valid (one place: the permission mode)."""
        mode = self.permission_mode
        if mode is not None and mode not in PERMISSION_MODES:
            raise ConfigError(
                f"--permission-mode must be default, read-only, accept-edits or bypass, "
                f"got {mode!r}"
            )
        if self.effort is not None and self.effort not in EFFORTS:
            raise ConfigError(f"--effort must be low, medium or high, got {self.effort!r}")
        at = self.compact_at
        # `not at > 0` also refuses NaN, which every comparison lets through
        if at is not None and (not at > 0 or (at > 1 and not float(at).is_integer())):
            raise ConfigError(
                "--compact-at must be a fraction of the context window (0 to 1, e.g. 0.8) "
                f"or a whole number of tokens (e.g. 50000), got {at:g}"
            )
        if self.agent_id is not None and not AGENT_ID.fullmatch(self.agent_id):
            raise ConfigError(
                f"--agent-id {self.agent_id!r}: use 1-64 letters, digits, '.', '_' or '-', "
                "starting with a letter or digit"
            )


@dataclass
class RunRequest:
    """What to run: a new agent from ``config``, or a stored one (``resume_id`` /
    ``resume_last``) with ``config`` replacing its stored config when ``config_given``.
    ``prompt`` None on a resume re-runs the turn that failed or was interrupted."""

    overrides: RunOverrides = field(default_factory=RunOverrides)
    config: LoadedConfig | None = None
    config_given: bool = False
    prompt: str | None = None
    images: list[ImageBlock] = field(default_factory=list)
    resume_id: str | None = None
    resume_last: bool = False
    fork: bool = False  # resume a copy (`Runtime.fork_agent`, id ``overrides.agent_id``)

    @property
    def resuming(self) -> bool:
        return self.resume_id is not None or self.resume_last
