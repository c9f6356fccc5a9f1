"""The agent config (YAML): pydantic models with unknown keys refused, errors at file:line:col.

Relative paths in a config (skills, roots, scripted model scripts) are resolved against the
workspace (``-C``/cwd), not the file's folder, so one file serves any checkout.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from mentra import _yaml
from mentra._duration import Duration
from mentra.context.config import ContextConfig
from mentra.errors import ConfigError
from mentra.mcp.config import McpServerConfig
from mentra.memory.config import MemoryConfig
from mentra.permissions.decide import PermissionsConfig
from mentra.providers.registry import ProviderSettings, Wire
from mentra.tasks.profiles import ProfileName, SubagentProfile, TasksConfig  # taskboard
from mentra.user_hooks.config import HooksConfig


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ModelMapping(_Strict):
    """``model:`` as a mapping: an endpoint declared inline."""

    provider: str
    name: str
    wire: Wire | None = None
    base_url: str | None = None
    api_key_env: str | None = None


class ToolsConfig(_Strict):
    only: list[str] | None = None
    hide: list[str] = Field(default_factory=list)
    custom: list[dict[str, Any]] = Field(
        default_factory=list,
        description="tools run as commands; see `CustomToolSpec`",
        json_schema_extra=lambda schema: _custom_tool_items(schema),
    )


def _custom_tool_items(schema: dict[str, Any]) -> None:
    """`mentra schema config` shows each custom tool's fields (imported only for the schema)."""
    from mentra.tools.custom import CustomToolSpec

    schema["items"] = CustomToolSpec.model_json_schema()


class PolicyConfig(_Strict):
    working_dir: str = "."
    read_roots: list[str] | None = None
    write_roots: list[str] | None = None
    env_allow: list[str] | None = None
    command_timeout: Duration = 60.0
    max_output_bytes: int = Field(65536, ge=1024)
    background_jobs: int = Field(8, ge=0)
    background_timeout: Duration = 600.0


class ModelOptionsConfig(_Strict):
    temperature: float | None = Field(None, ge=0, le=2)
    top_p: float | None = Field(None, gt=0, le=1)
    max_output_tokens: int | None = Field(None, ge=1)
    tool_choice: Literal["auto", "required", "none"] | dict[Literal["tool"], str] | None = None
    reasoning_effort: Literal["low", "medium", "high"] | None = None
    prompt_cache: bool = True  # Anthropic cache breakpoints, OpenAI prompt_cache_key


class LimitsConfig(_Strict):
    max_rounds: int | None = Field(None, ge=1)
    max_tool_calls: int | None = Field(None, ge=0)
    max_tokens: int | None = Field(None, ge=1)
    max_cost_usd: float | None = Field(None, gt=0)
    timeout: Duration | None = None
    max_parallel_subagents: int = Field(4, ge=1, description="`task` children run at once")


class AgentConfig(_Strict):
    name: str = "agent"
    model: str | ModelMapping | None = None
    fallback_models: list[str] = Field(default_factory=list)  # PROVIDER:MODEL, tried in order
    system: str | None = None
    tools: ToolsConfig = Field(default_factory=ToolsConfig)
    policy: PolicyConfig = Field(default_factory=PolicyConfig)
    permissions: PermissionsConfig = Field(default_factory=PermissionsConfig)
    model_options: ModelOptionsConfig = Field(default_factory=ModelOptionsConfig)
    limits: LimitsConfig = Field(default_factory=LimitsConfig)
    skills: list[str] = Field(default_factory=list)
    mcp_servers: dict[str, McpServerConfig] = Field(default_factory=dict)
    providers: dict[str, ProviderSettings] = Field(default_factory=dict)
    hooks: HooksConfig = Field(default_factory=HooksConfig)  # wiring: user hooks (issue 19)
    memory: MemoryConfig = Field(default_factory=MemoryConfig)  # long-term memory (mentra.memory)
    tasks: TasksConfig = Field(default_factory=TasksConfig)  # taskboard: the task_* tools
    agents: dict[ProfileName, SubagentProfile] = Field(default_factory=dict)  # task profiles
    context: ContextConfig = Field(default_factory=ContextConfig)  # compaction (mentra.context)

    @field_validator("model")
    @classmethod
    def _model_has_provider(cls, value: str | ModelMapping | None) -> str | ModelMapping | None:
        if isinstance(value, str):
            split_model(value)
        return value

    @field_validator("fallback_models")
    @classmethod
    def _fallbacks_have_providers(cls, value: list[str]) -> list[str]:
        for spec in value:
            split_model(spec)
        return value


class UserConfig(AgentConfig):
    """``~/.config/mentra/config.yaml``: defaults under every agent config, plus trust."""

    # built on first use: most runs have no user config, and start-up need not pay for it
    model_config = ConfigDict(extra="forbid", defer_build=True)
    trusted_folders: list[str] = Field(default_factory=list)


def split_model(spec: str) -> tuple[str, str]:
    """``PROVIDER:MODEL`` -> (provider, model). The model part may itself contain colons."""
    provider, sep, model = spec.partition(":")
    if not sep or not provider or not model:
        raise ValueError(f"model must be PROVIDER:MODEL (e.g. openai:gpt-5.4-mini), got {spec!r}")
    return provider, model


def _deep_merge(base: dict[str, Any], top: dict[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for key, value in top.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = _deep_merge(out[key], value)
        else:
            out[key] = value
    return out


class LoadedConfig:
    """An agent config with where it came from, for error locations and custom-tool checks."""

    def __init__(
        self,
        config: AgentConfig,
        *,
        file: str | None,
        marks: _yaml.Marks,
        raw: dict[str, Any] | None = None,
    ) -> None:
        self.config = config
        self.file = file
        self.marks = marks
        # the config as written (``${VAR}`` unexpanded): what the store keeps, so a secret
        # passed through the environment (a header token, say) never lands in it
        self.raw = raw

    def location(self, *path: str | int) -> str | None:
        return _yaml.location(self.file, self.marks, path) if self.file else None


def load_agent_config(
    path: Path | None,
    *,
    variables: dict[str, str] | None = None,
    user_config: Path | None = None,
) -> tuple[LoadedConfig, UserConfig | None]:
    """Load the agent file (if any) over the user defaults (if any)."""
    user: UserConfig | None = None
    user_raw: dict[str, Any] = {}  # as written: ${VAR} not yet expanded
    user_data: dict[str, Any] = {}
    if user_config is not None and user_config.is_file():
        ufile = str(user_config)
        raw, umarks = _yaml.load_yaml(user_config, what="user config", env=False)
        if not isinstance(raw, dict):
            raise ConfigError("user config must be a mapping", location=f"{ufile}:1:1")
        expanded = _yaml.interpolate_tree(raw, (), umarks, ufile)
        user = _yaml.validate(UserConfig, expanded, file=ufile, marks=umarks, what="user config")
        user_raw = {k: v for k, v in raw.items() if k != "trusted_folders"}
        user_data = {k: v for k, v in expanded.items() if k != "trusted_folders"}
    if path is None:
        config = AgentConfig.model_validate(user_data)
        return LoadedConfig(config, file=None, marks={}, raw=user_raw), user
    raw, marks = _yaml.load_yaml(path, what="config", env=False)
    file = str(path)
    if not isinstance(raw, dict):
        raise ConfigError("an agent config must be a mapping of keys", location=f"{file}:1:1")
    # one pass over the file as written: ${VAR} from the environment and {{name}} from --var;
    # what a --var brings in is never expanded again (its value is literal text)
    problems: list[_yaml.Problem] = []
    data = _yaml.expand_tree(raw, (), marks, file, variables=variables, problems=problems)
    # what the store keeps: ${VAR} as written (secrets stay in the environment), --var values
    # filled in and escaped, so the resuming process's expansion leaves them literal
    if variables is not None:
        raw = _yaml.expand_tree(
            raw, (), marks, file, env=False, variables=variables, escape_values=True, problems=[]
        )
    # validate the file alone first, so errors point at the file's own lines
    try:
        _yaml.validate(AgentConfig, data, file=file, marks=marks, what="agent config")
    except _yaml.ConfigProblems as exc:
        seen = {(p.line, p.col) for p in problems}
        problems += [p for p in exc.problems if (p.line, p.col) not in seen]
    if problems:
        raise _yaml.ConfigProblems(problems)
    merged = _deep_merge(user_data, data) if user_data else data
    config = AgentConfig.model_validate(merged)
    merged_raw = _deep_merge(user_raw, raw) if user_raw else raw
    return LoadedConfig(config, file=file, marks=marks, raw=merged_raw), user


def config_from_stored(raw: dict[str, Any]) -> LoadedConfig:
    """An agent's stored config (as written, ``${VAR}`` unexpanded) made live again: the
    environment of the resuming process fills the variables, so secrets are never stored."""
    where = "stored agent config"
    data = _yaml.interpolate_tree(raw, (), {}, where)
    config = _yaml.validate(AgentConfig, data, file=where, marks={}, what=where)
    return LoadedConfig(config, file=None, marks={}, raw=raw)


def agent_config_json_schema() -> dict[str, Any]:
    schema = AgentConfig.model_json_schema()
    schema["title"] = "mentra agent config"
    return schema
