"""The `Runtime`: registers providers, tools, skills, policy and store, and spawns agents.

Mirrors the reference's ``Runtime`` (mentra 0.6.0). Each CLI command is a thin call into one
of these methods, so anything the CLI does can be done from Python.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mentra.agent.emitter import Emitter
from mentra.agent.loop import Agent, AgentSetup, Limits
from mentra.agent.tool_runner import ToolRunner
from mentra.config import (
    AgentConfig,
    LoadedConfig,
    ModelMapping,
    config_from_stored,
    split_model,
)
from mentra.errors import ConfigError, UsageError
from mentra.ids import new_id
from mentra.messages import Message
from mentra.permissions.policy import RuntimePolicy
from mentra.providers.base import ModelInfo, ModelOptions, Provider, ToolSpec
from mentra.providers.registry import ProviderSettings, create_provider, effective_settings
from mentra.store.base import AgentRecord, Store
from mentra.tools.base import Tool

if TYPE_CHECKING:
    from mentra.store.location import UserRuleStore


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
    trust_project: bool = False
    max_rounds: int | None = None
    max_tool_calls: int | None = None
    max_tokens: int | None = None
    max_cost_usd: float | None = None
    timeout: float | None = None
    include_deltas: bool = False
    json_schema: dict[str, Any] | None = None


@dataclass(frozen=True, slots=True)
class ToolDescriptor:
    name: str
    description: str
    input_schema: dict[str, Any]
    mutates: bool
    source: str  # builtin | skill | custom


class Runtime:
    def __init__(
        self,
        *,
        workspace: Path,
        store: Store | None = None,
        store_label: str | None = None,
        user_config_dir: Path | None = None,
        no_user_config: bool = False,
        interactive_approver: Any = None,
    ) -> None:
        self.workspace = Path(os.path.realpath(workspace))
        self.store = store
        self.store_label = store_label
        self.user_config_dir = user_config_dir
        self.no_user_config = no_user_config
        self.interactive_approver = interactive_approver
        self._extra_tools: dict[str, Tool] = {}
        self.skill_dirs: list[Path] = []
        self._providers: dict[str, Provider] = {}
        self._declared: dict[str, ProviderSettings] = {}
        self.trusted_folders: list[str] = []
        self._data_root: Path | None = None
        self._global_store: UserRuleStore | None = None

    def global_store(self) -> UserRuleStore | None:
        """The per-user store for "always, everywhere" permission answers (opened only when
        used); None for an ephemeral run, which remembers nothing."""
        if self.store is None:
            return None
        if self._global_store is None:
            from mentra.store.location import UserRuleStore, global_store_path

            self._global_store = UserRuleStore(global_store_path())
        return self._global_store

    def close(self) -> None:
        """Close the stores this runtime opened."""
        if self._global_store is not None:
            self._global_store.close()
            self._global_store = None
        if self.store is not None:
            self.store.close()

    def data_dir(self, agent_id: str) -> Path:
        """Per-agent files (background jobs, full tool results): beside the store, or a
        temporary folder for an ephemeral run."""
        if self.store is not None:
            return self.store.files_dir(agent_id)
        if self._data_root is None:
            import tempfile

            self._data_root = Path(tempfile.mkdtemp(prefix="mentra-"))
        return self._data_root / agent_id

    # -- registration ------------------------------------------------------------------------

    def register_tool(self, tool: Tool) -> None:
        self._extra_tools[tool.name] = tool

    def register_skills_dir(self, path: Path) -> None:
        """Skills every agent of this runtime gets, besides its config's ``skills:``."""
        if path not in self.skill_dirs:
            self.skill_dirs.append(path)

    def declare_providers(self, declared: dict[str, ProviderSettings]) -> None:
        self._declared.update(declared)

    # -- providers and models ----------------------------------------------------------------

    def providers(self) -> list[str]:
        from mentra.providers.registry import BUILTIN_PROVIDERS

        return sorted({*BUILTIN_PROVIDERS, *self._declared})

    def provider_settings(self, name: str) -> ProviderSettings:
        return effective_settings(name, self._declared)

    def provider(self, name: str) -> Provider:
        provider = self._providers.get(name)
        if provider is None:
            provider = create_provider(name, self.provider_settings(name))
            self._providers[name] = provider
        return provider

    async def list_models(self, provider: str) -> list[ModelInfo]:
        return await self.provider(provider).list_models()

    async def resolve_model(self, provider: str, selector: str) -> ModelInfo | None:
        """``selector`` is a model id, or ``newest`` for the newest the provider lists."""
        models = await self.list_models(provider)
        if selector == "newest":
            from mentra.providers import registry

            newest = getattr(registry, "newest_model", None)
            if newest is not None:
                return newest(models)  # type: ignore[no-any-return]
            return max(models, key=lambda m: (m.created is not None, m.created, m.id), default=None)
        return next((m for m in models if m.id == selector), None)

    async def aclose(self) -> None:
        for provider in self._providers.values():
            await provider.aclose()
        self._providers.clear()

    # -- tools -------------------------------------------------------------------------------

    def tool_set(self, loaded: LoadedConfig | None = None) -> dict[str, tuple[Tool, str]]:
        """The effective tools of a config: builtins, skills, custom, then only/hide."""
        from mentra.agent import assemble

        return assemble.effective_tools(self, loaded, assemble.skill_set(self, loaded))

    def tools(self, loaded: LoadedConfig | None = None) -> list[ToolDescriptor]:
        return [
            ToolDescriptor(
                name=name,
                description=tool.description,
                input_schema=tool.input_schema,
                mutates=tool.mutates,
                source=source,
            )
            for name, (tool, source) in self.tool_set(loaded).items()
        ]

    def tool_descriptor(self, name: str, loaded: LoadedConfig | None = None) -> ToolDescriptor:
        for desc in self.tools(loaded):
            if desc.name == name:
                return desc
        raise ConfigError(f"unknown tool {name!r}")

    # -- agents ------------------------------------------------------------------------------

    def spawn(self, loaded: LoadedConfig, overrides: RunOverrides) -> Agent:
        config = loaded.config
        model_spec = overrides.model or _model_string(config)
        if model_spec is None:
            raise UsageError("no model: pass -m PROVIDER:MODEL or set `model:` in the config")
        agent_id = new_id()
        record = AgentRecord(
            id=agent_id,
            name=config.name,
            model=model_spec,
            workspace=str(self.workspace),
            config=loaded.raw
            if loaded.raw is not None
            else config.model_dump(mode="json", exclude_defaults=True),
        )
        agent = self._build(agent_id, loaded, overrides, model_spec, history=[])
        if self.store is not None:
            self.store.create_agent(record)
        return agent

    def resume_agent(
        self, agent_id: str, overrides: RunOverrides, loaded: LoadedConfig | None = None
    ) -> tuple[Agent, AgentRecord]:
        if self.store is None:
            raise UsageError("resume needs a store (it cannot work with --ephemeral)")
        from mentra.store.lookup import find_agent

        record = find_agent(self.store, agent_id)
        if loaded is None:
            loaded = config_from_stored(record.config)
        history = [item.message for item in self.store.load_transcript(record.id)]
        model_spec = overrides.model or record.model
        agent = self._build(record.id, loaded, overrides, model_spec, history=history)
        return agent, record

    def latest_agent_id(self) -> str:
        if self.store is None:
            raise UsageError("--last needs a store")
        record = self.store.latest_agent(str(self.workspace))
        if record is None:
            raise UsageError(f"no agents in this workspace ({self.workspace})")
        return record.id

    def list_persisted_agents(self, *, all_workspaces: bool = False) -> list[AgentRecord]:
        if self.store is None:
            return []
        return self.store.list_agents(None if all_workspaces else str(self.workspace))

    def _build(
        self,
        agent_id: str,
        loaded: LoadedConfig,
        overrides: RunOverrides,
        model_spec: str,
        *,
        history: list[Message],
    ) -> Agent:
        config = loaded.config
        self.declare_providers(config.providers)
        try:
            provider_name, model = split_model(model_spec)
        except ValueError as exc:
            raise ConfigError(str(exc)) from None
        if isinstance(config.model, ModelMapping) and config.model.provider == provider_name:
            self._declare_inline(config.model)
        settings = self.provider_settings(provider_name)
        provider = self.provider(provider_name)
        if settings.wire == "scripted" and not Path(model).is_absolute():
            model = str(self.workspace / model)
        policy = self.build_policy(config)
        from mentra.agent import assemble

        skills = assemble.skill_set(self, loaded)
        tools = assemble.effective_tools(self, loaded, skills)
        tool_map = {name: tool for name, (tool, _src) in tools.items()}
        from mentra.rule_tools import require_known_rule_tools

        require_known_rule_tools(loaded, overrides, tools)  # a rule naming no tool never matches
        system = overrides.system if overrides.system is not None else config.system
        system = assemble.system_prompt(system, skills)
        if overrides.json_schema is not None:
            system = assemble.with_output_schema(system, overrides.json_schema)
        authorizer, make_request, mode, notices = assemble.build_permissions(
            self, loaded, overrides, policy
        )
        start_notices: list[str] = []
        load_notices = getattr(provider, "load_notices", None)  # the scripted provider's
        if callable(load_notices):  # text the script had to clean, said in a notice
            start_notices = list(load_notices(model))
        services = assemble.tool_services(self, agent_id)
        opts = config.model_options
        limits = config.limits
        audit = assemble.audit_fn(self, agent_id)
        shrink = assemble.shrink_fn(self, agent_id)

        def runner_factory(emitter: Emitter) -> ToolRunner:
            for notice in notices:
                from mentra.events import Notice

                emitter.emit(Notice, level="warning", message=notice)
            notices.clear()
            from mentra.tasks.tools import bind_services  # taskboard: task_updated events

            bind_services(services, emitter)
            return ToolRunner(
                tools=tool_map,
                policy=policy,
                emitter=emitter,
                authorizer=authorizer,
                make_permission_request=make_request,
                audit=(lambda *a: audit(emitter.run_id, *a)) if audit else None,
                shrink=shrink,
                services=services,
            )

        from mentra import pricing

        cap = _pick(overrides.max_cost_usd, limits.max_cost_usd)
        pricing.require_price(provider_name, model, settings.prices, cap)  # before the run
        setup = AgentSetup(
            agent_id=agent_id,
            name=config.name,
            provider=provider,
            provider_name=provider_name,
            model=model,
            system=system,
            tool_runner_factory=runner_factory,
            tool_specs=[ToolSpec(t.name, t.description, t.input_schema) for t in tool_map.values()],
            permission_mode=mode,
            cwd=str(policy.working_dir),
            options=ModelOptions(
                temperature=opts.temperature,
                top_p=opts.top_p,
                max_output_tokens=opts.max_output_tokens,
                tool_choice={str(k): v for k, v in opts.tool_choice.items()}
                if isinstance(opts.tool_choice, dict)
                else opts.tool_choice,
                reasoning_effort=opts.reasoning_effort,
            ),
            retries=settings.retries,
            limits=Limits(
                max_rounds=_pick(overrides.max_rounds, limits.max_rounds),
                max_tool_calls=_pick(overrides.max_tool_calls, limits.max_tool_calls),
                max_tokens=_pick(overrides.max_tokens, limits.max_tokens),
                max_cost_usd=cap,
                timeout=_pick(overrides.timeout, limits.timeout),
            ),
            store=self.store,
            store_label=self.store_label,
            include_deltas=overrides.include_deltas,
            json_schema=overrides.json_schema,
            cost_fn=pricing.cost_function(settings.prices),
            pending_notices=assemble.pending_notices_fn(services),
            start_notices=start_notices,
            task_board=services.get("task_board"),  # taskboard: restored after a failed run
        )
        return Agent(setup, history)

    def _declare_inline(self, mapping: ModelMapping) -> None:
        fields = {
            k: v
            for k, v in {
                "wire": mapping.wire,
                "base_url": mapping.base_url,
                "api_key_env": mapping.api_key_env,
            }.items()
            if v is not None
        }
        if fields:
            current = self._declared.get(mapping.provider)
            data = current.model_dump(exclude_unset=True) if current else {}
            data.update(fields)
            self._declared[mapping.provider] = ProviderSettings.model_validate(data)

    def build_policy(self, config: AgentConfig) -> RuntimePolicy:
        p = config.policy
        base = self.workspace / p.working_dir
        if not base.is_dir():
            raise ConfigError(f"policy.working_dir {p.working_dir!r} is not a directory")

        def roots(values: list[str] | None) -> list[Path]:
            return [self.workspace / v for v in values] if values else []

        policy = RuntimePolicy(
            working_dir=base,
            read_roots=roots(p.read_roots),
            write_roots=roots(p.write_roots),
            command_timeout=p.command_timeout,
            max_output_bytes=p.max_output_bytes,
            background_jobs=p.background_jobs,
            background_timeout=p.background_timeout,
        )
        if p.env_allow is not None:
            policy.env_allow = list(p.env_allow)
        return policy


def _pick(flag: Any, config_value: Any) -> Any:
    return flag if flag is not None else config_value


def _model_string(config: AgentConfig) -> str | None:
    if config.model is None:
        return None
    if isinstance(config.model, ModelMapping):
        return f"{config.model.provider}:{config.model.name}"
    return config.model
