"""The `Runtime`: registers providers, tools, skills, policy and store, and spawns agents.

Mirrors the reference's ``Runtime`` (mentra 0.6.0). Each CLI command is a thin call into one
of these methods, so anything the CLI does can be done from Python.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar, cast

from mentra.agent.budget import Limits
from mentra.agent.loop import Agent
from mentra.agent.request import RunOverrides, RunRequest
from mentra.agent.spec import AgentSetup
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
    from collections.abc import Callable
    from typing import Literal

    from mentra.agent.assemble import RuntimeParts
    from mentra.agent.hooks import HookPipeline
    from mentra.agent.session import Session
    from mentra.agent.spec import ModelRoute
    from mentra.permissions.decide import Authorizer, PermissionRequest
    from mentra.store.location import UserRuleStore
    from mentra.tools.toolset import ToolSet


_T = TypeVar("_T")

__all__ = ["RunOverrides", "RunRequest", "Runtime", "ToolDescriptor"]


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
        # no store given (``--ephemeral``): an in-memory one, gone with the runtime, so every
        # path below has a store and nothing branches on its absence
        self.ephemeral = store is None
        if store is None:
            from mentra.store.in_memory import InMemoryStore

            store = InMemoryStore()
        self.store: Store = store
        from mentra.store.async_store import AsyncStore

        # what sessions call on the event loop: SQLite's calls on one worker thread, shared by
        # every agent of this runtime; the in-memory store's inline
        self.async_store = AsyncStore(store)
        self.store_label = store_label
        self.user_config_dir = user_config_dir
        self.no_user_config = no_user_config
        self.interactive_approver = interactive_approver
        self.registered_tools: dict[str, Tool] = {}
        self.toolsets: list[ToolSet] = []  # register_toolset: entered around each session
        self.skill_dirs: list[Path] = []
        self._providers: dict[tuple[str, str], Provider] = {}  # by name and effective settings
        self._declared: dict[str, ProviderSettings] = {}
        self._instances: dict[str, Provider] = {}  # register_provider_instance
        self._api_keys: dict[str, str] = {}  # register_provider
        self.trusted_folders: list[str] = []
        self._global_store: UserRuleStore | None = None
        self.builtin_tools = True  # Runtime.empty_builder(): none
        # permission rules every agent of this runtime gets (the builder's ``policy``)
        self.permission_rules = RunOverrides()
        self.contexts: dict[type, object] = {}  # register_context: typed app state for tools
        # each adds entries to an agent's hook pipeline, after the built-in ones
        self.hooks: list[Callable[[HookPipeline], None]] = []

    @staticmethod
    def builder(workspace: Path | None = None) -> RuntimeBuilder:
        """A builder of a runtime with the builtin tools (``files``, ``shell``, …)."""
        return RuntimeBuilder(workspace, builtin_tools=True)

    @staticmethod
    def empty_builder(workspace: Path | None = None) -> RuntimeBuilder:
        """A builder of a runtime without builtin tools: only what you register."""
        return RuntimeBuilder(workspace, builtin_tools=False)

    def global_store(self) -> UserRuleStore | None:
        """The per-user store for "always, everywhere" permission answers (opened only when
        used); None for an ephemeral run, which remembers nothing."""
        if self.ephemeral:
            return None
        if self._global_store is None:
            from mentra.store.location import UserRuleStore, global_store_path

            self._global_store = UserRuleStore(global_store_path())
        return self._global_store

    def close(self) -> None:
        """Close the stores this runtime opened."""
        self.async_store.stop_worker()  # the writes queued for it are done first
        if self._global_store is not None:
            self._global_store.close()
            self._global_store = None
        from mentra import memory  # memory: its connection to the same file

        memory.close_store(self.store)
        self.store.close()

    def parts(self) -> RuntimeParts:
        """What assembling an agent reads off this runtime (`mentra.agent.assemble`)."""
        from mentra.agent.assemble import RuntimeParts

        return RuntimeParts(
            workspace=self.workspace,
            store=self.store,
            ephemeral=self.ephemeral,
            builtin_tools=self.builtin_tools,
            registered_tools=self.registered_tools,
            toolsets=self.toolsets,
            skill_dirs=self.skill_dirs,
            contexts=self.contexts,
            hooks=self.hooks,
            permission_rules=self.permission_rules,
            user_config_dir=self.user_config_dir,
            no_user_config=self.no_user_config,
            trusted_folders=self.trusted_folders,
            interactive_approver=self.interactive_approver,
            global_store=self.global_store,
        )

    def data_dir(self, agent_id: str) -> Path:
        """Per-agent files (background jobs, full tool results), located by the store (beside
        an SQLite file; a private temporary folder for the in-memory store)."""
        return self.store.files_dir(agent_id)

    # -- registration ------------------------------------------------------------------------

    def register_tool(self, tool: Tool) -> None:
        self.registered_tools[tool.name] = tool

    def register_toolset(self, toolset: ToolSet) -> None:
        """A `ToolSet` every agent gets; it is entered and closed around each session."""
        self.toolsets.append(toolset)

    def register_context(self, obj: object) -> None:
        """Typed application state a custom Python tool reads with
        ``ctx.app_context(type(obj))`` (one object per type; a later one replaces it)."""
        self.contexts[type(obj)] = obj

    def app_context(self, cls: type[_T]) -> _T:
        """The object registered for ``cls``; `LookupError` if there is none."""
        obj = self.contexts.get(cls)
        if obj is None:
            raise LookupError(f"no context of type {cls.__name__} is registered")
        return cast(_T, obj)

    def register_hooks(self, add: Callable[[HookPipeline], None]) -> None:
        """``add(pipeline)`` is called for every agent this runtime builds, after the built-in
        entries are in, to append its own (``pipeline.before_tool.append(...)``)."""
        self.hooks.append(add)

    def register_skills_dir(self, path: Path) -> None:
        """Skills every agent of this runtime gets, besides its config's ``skills:``."""
        if path not in self.skill_dirs:
            self.skill_dirs.append(path)

    def declare_providers(self, declared: dict[str, ProviderSettings]) -> None:
        self._declared.update(declared)

    # -- providers and models ----------------------------------------------------------------

    def providers(self) -> list[str]:
        """The provider names this runtime can build (builtins, declared, registered)."""
        from mentra.providers.registry import BUILTIN_PROVIDERS

        return sorted({*BUILTIN_PROVIDERS, *self._declared, *self._instances})

    def provider_settings(
        self, name: str, declared: dict[str, ProviderSettings] | None = None
    ) -> ProviderSettings:
        return effective_settings(name, self._declared if declared is None else declared)

    def provider(self, name: str, settings: ProviderSettings | None = None) -> Provider:
        """The provider ``name`` with ``settings`` (default: this runtime's declarations).
        Cached by the effective settings, so two configs that declare a same-named provider
        at different endpoints each get their own. A registered instance wins."""
        instance = self._instances.get(name)
        if instance is not None:
            return instance
        if settings is None:
            settings = self.provider_settings(name)
        key = (name, settings.model_dump_json())
        provider = self._providers.get(key)
        if provider is None:
            provider = create_provider(name, settings)
            key_for = self._api_keys.get(name)
            endpoint = getattr(provider, "_http", None)  # the adapters' HTTP `Endpoint`
            if key_for is not None and endpoint is not None:
                # the endpoint reads its key through this method; an explicit key wins
                endpoint.api_key = lambda: key_for
            self._providers[key] = provider
        return provider

    def register_provider(self, provider_id: str, api_key: str) -> None:
        """Use ``api_key`` for the builtin or declared provider ``provider_id`` (instead of its
        environment variable)."""
        self.provider_settings(provider_id)  # unknown: ConfigError now, not at the first run
        self._api_keys[provider_id] = api_key

    def register_ollama(self, base_url: str = "http://127.0.0.1:11434/v1") -> None:
        """A local Ollama server (OpenAI Chat Completions wire), as provider ``ollama``."""
        self.declare_providers({"ollama": ProviderSettings(wire="openai-chat", base_url=base_url)})

    def register_lmstudio(self, base_url: str = "http://127.0.0.1:1234/v1") -> None:
        """A local LM Studio server (OpenAI Chat Completions wire), as provider ``lmstudio``."""
        self.declare_providers(
            {"lmstudio": ProviderSettings(wire="openai-chat", base_url=base_url)}
        )

    def register_provider_instance(self, provider: Provider) -> None:
        """A provider object (custom, or a `ScriptedProvider`) under its ``name``: the seam for
        a provider this package does not ship."""
        self._instances[provider.name] = provider

    async def list_models(self, provider: str) -> list[ModelInfo]:
        return await self.provider(provider).list_models()

    async def resolve_model(self, provider: str, selector: str) -> ModelInfo | None:
        """``selector`` is a model id (answered without a network call) or ``newest``: the
        newest the provider lists, by ``created`` descending, then id ascending."""
        if selector != "newest":
            return ModelInfo(id=selector, provider=provider)
        models = await self.list_models(provider)
        dated = sorted(
            (m for m in models if m.created is not None),
            key=lambda m: (-m.created.timestamp(), m.id),  # type: ignore[union-attr]
        )
        if dated:
            return dated[0]
        return min(models, key=lambda m: m.id, default=None)

    async def aclose(self) -> None:
        for provider in [*self._providers.values(), *self._instances.values()]:
            await provider.aclose()
        self._providers.clear()

    # -- tools -------------------------------------------------------------------------------

    def tool_set(self, loaded: LoadedConfig | None = None) -> dict[str, tuple[Tool, str]]:
        """The effective tools of a config: builtins, skills, custom, then only/hide."""
        from mentra.agent import assemble

        parts = self.parts()
        return assemble.effective_tools(parts, loaded, assemble.skill_set(parts, loaded))

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

    async def started_tools(self, loaded: LoadedConfig | None = None) -> list[ToolDescriptor]:
        """`tools`, with the tool sets that list their tools only once started (MCP servers)
        started, listed and stopped again."""
        from mentra.agent import assemble

        parts = self.parts()
        combined, toolset = assemble.agent_toolset(parts, loaded, assemble.skill_set(parts, loaded))
        if toolset.static_tools() is not None:
            return self.tools(loaded)
        async with toolset:
            listed = await toolset.list_tools()
        return [
            ToolDescriptor(
                name=t.name,
                description=t.description,
                input_schema=t.input_schema,
                mutates=t.mutates,
                source=combined.sources.get(t.name, "toolset"),
            )
            for t in listed
        ]

    def tool_descriptor(self, name: str, loaded: LoadedConfig | None = None) -> ToolDescriptor:
        for desc in self.tools(loaded):
            if desc.name == name:
                return desc
        raise ConfigError(f"unknown tool {name!r}")

    # -- agents ------------------------------------------------------------------------------

    def spawn(
        self,
        name: str | LoadedConfig,
        model: str | RunOverrides | None = None,
        *,
        runtime_identifier: str | None = None,
    ) -> Agent:
        """A new agent: ``spawn("reviewer", "openai:gpt-5.4-mini")``, or from a loaded config
        and overrides (``spawn(loaded, RunOverrides(...))``, what the CLI does)."""
        if isinstance(name, str):
            from mentra.config import AgentConfig, LoadedConfig

            loaded_config = LoadedConfig(AgentConfig(name=name), file=None, marks={})
            return self.spawn_loaded(
                loaded_config, RunOverrides(model=_model_arg(model)), runtime_identifier
            )
        overrides = model if isinstance(model, RunOverrides) else RunOverrides(model=model)
        return self.spawn_loaded(name, overrides, runtime_identifier)

    def spawn_with_config(
        self,
        name: str,
        model: str | None,
        config: AgentConfig | LoadedConfig | Path,
        *,
        runtime_identifier: str | None = None,
    ) -> Agent:
        """A new agent from a config (an `AgentConfig`, a loaded one, or a YAML file path);
        ``name`` and ``model`` win over the config's."""
        from mentra.config import LoadedConfig, load_agent_config

        if isinstance(config, Path):
            loaded, _user = load_agent_config(config)
        elif isinstance(config, LoadedConfig):
            loaded = config
        else:
            loaded = LoadedConfig(config, file=None, marks={})
        raw = dict(loaded.raw, name=name) if loaded.raw is not None else None
        named = LoadedConfig(
            loaded.config.model_copy(update={"name": name}),
            file=loaded.file,
            marks=loaded.marks,
            raw=raw,
        )
        return self.spawn_loaded(named, RunOverrides(model=model), runtime_identifier)

    def spawn_loaded(
        self,
        loaded: LoadedConfig,
        overrides: RunOverrides,
        runtime_identifier: str | None = None,
    ) -> Agent:
        config = loaded.config
        model_spec = overrides.model or _model_string(config)
        if model_spec is None:
            raise UsageError("no model: pass -m PROVIDER:MODEL or set `model:` in the config")
        overrides.check()  # a bad --agent-id is refused before the store is asked about it
        agent_id = overrides.agent_id or new_id()
        if overrides.agent_id is not None and self._agent_exists(agent_id):
            raise UsageError(f"--agent-id {agent_id!r}: an agent with that id already exists")
        agent = self._build(agent_id, loaded, overrides, model_spec, history=[])
        record = AgentRecord(
            id=agent_id,
            name=config.name,
            model=f"{agent.setup.provider_name}:{agent.setup.model}",  # a script path absolute
            workspace=runtime_identifier or str(self.workspace),
            config=loaded.raw
            if loaded.raw is not None
            else config.model_dump(mode="json", exclude_defaults=True),
        )
        self.store.create_agent(record)
        return agent

    def _agent_exists(self, agent_id: str) -> bool:
        """An agent with exactly this id (a prefix of other ids does not count)."""
        try:
            record = self.store.get_agent(agent_id)
        except UsageError:  # an ambiguous prefix: the exact id would have matched first
            return False
        return record is not None and record.id == agent_id

    def resume_agent(
        self,
        agent_id: str,
        overrides: RunOverrides | None = None,
        loaded: LoadedConfig | None = None,
    ) -> Agent:
        """A persisted agent, restored with its transcript (``loaded`` replaces its config)."""
        if self.ephemeral and self.store.get_agent(agent_id) is None:
            raise UsageError("resume needs a store (it cannot work with --ephemeral)")
        from mentra.store.lookup import find_agent

        record = find_agent(self.store, agent_id)
        if loaded is None:
            loaded = config_from_stored(record.config)
        overrides = overrides if overrides is not None else RunOverrides()
        from mentra.context.view import history_and_view

        # every stored message, and where requests start (the latest compaction marker)
        history, view = history_and_view(self.store.load_transcript(record.id))
        model_spec = overrides.model or record.model
        agent = self._build(record.id, loaded, overrides, model_spec, history=history)
        agent.context = view
        return agent

    def fork_agent(self, agent_id: str, new_id: str | None = None) -> str:
        """Copy a persisted agent (id or unique prefix) to ``new_id`` (a plain name; default:
        a fresh id): its transcript, runs (as history), audit records, long-term memory and
        task board. The original is only read: untouched, and its lease is not needed, so an
        agent another process is running can be forked. The new agent's id."""
        from mentra import ids, memory
        from mentra.store.transfer import export_agent, fork_export, import_agent
        from mentra.tasks.store import export_board, import_board, parse_board

        RunOverrides(agent_id=new_id).check()  # a plain name, or refused (exit 2)
        if new_id is not None and self._agent_exists(new_id):
            raise UsageError(f"--agent-id {new_id!r}: an agent with that id already exists")
        doc = export_agent(self.store, agent_id)
        source = doc["agent"]["id"]
        forked, run_ids = fork_export(doc, new_id or ids.new_id())
        target = forked["agent"]["id"]
        records = memory.parse_memory(memory.export_memory(self.store, source))
        for record in records:  # copies under ids of their own: an id names one record
            kind, _, rest = record.id.partition(":")
            own = rest.replace(f"{source}:", f"{target}:", 1) if rest.startswith(source) else ""
            record.id = f"{kind}:{own or ids.new_id()}"
            if record.source.startswith("run:"):
                record.source = f"run:{run_ids.get(record.source[4:], record.source[4:])}"
        tasks = parse_board({"tasks": export_board(self.store, source)})
        created = import_agent(self.store, forked, workspace=doc["agent"]["workspace"])
        try:
            memory.import_memory(self.store, target, records, workspace=created.workspace)
            import_board(self.store, target, tasks)
        except BaseException:
            self.store.delete_agent(target)  # no half-made copy is left behind
            memory.delete_agent_memory(self.store, target)
            raise
        return str(created.id)

    def resume(self, runtime_identifier: str | None = None) -> list[Agent]:
        """Every persisted agent of a runtime identifier (default: this workspace), restored."""
        return [self.resume_agent(r.id) for r in self.list_persisted_agents(runtime_identifier)]

    def resume_all(self) -> list[Agent]:
        """Every persisted agent of the store, whatever its runtime identifier."""
        return [self.resume_agent(r.id) for r in self.list_persisted_agents(all_workspaces=True)]

    def create_session(
        self,
        name: str,
        model: str,
        config: AgentConfig | LoadedConfig | Path | None = None,
        project_id: str | None = None,
    ) -> Session:
        """A session of a new agent; ``async for event in session.run(prompt)``."""
        from mentra.agent.session import Session

        if config is None:
            return Session(self.spawn(name, model, runtime_identifier=project_id))
        return Session(self.spawn_with_config(name, model, config, runtime_identifier=project_id))

    def resume_session(self, agent_id: str, project_id: str | None = None) -> Session:
        """A session of a persisted agent (``project_id``: the runtime identifier it must
        belong to, default any)."""
        from mentra.agent.session import Session

        if project_id is not None:
            record = self.store.get_agent(agent_id)
            if record is None or record.workspace != project_id:
                raise UsageError(f"no agent {agent_id!r} in {project_id!r}")
        return Session(self.resume_agent(agent_id), resumed=True)

    def session_for(self, request: RunRequest) -> Session:
        """The session of one `RunRequest`: a new agent, or a stored one resumed. A resume
        without a prompt re-runs the turn that failed or was interrupted; `UsageError` if
        its last turn finished."""
        from mentra.agent.session import Session

        if request.resuming:
            agent_id = self.latest_agent_id() if request.resume_last else request.resume_id
            assert agent_id is not None
            if request.fork:  # continue a copy; the original stays as it is
                agent_id = self.fork_agent(agent_id, request.overrides.agent_id)
            agent = self.resume_agent(
                agent_id, request.overrides, request.config if request.config_given else None
            )
            if request.prompt is None and not _resumable(agent.history):
                from mentra.store.recovery import unsaved_prompt_message

                raise UsageError(  # a last turn whose prompt was never stored is named
                    unsaved_prompt_message(self.store, agent.id)
                    or f"agent {agent.id} has nothing to re-run (its last turn finished); "
                    "give a prompt"
                )
            return Session(agent, resumed=True)
        if request.config is None:
            raise UsageError("no config: a new agent needs one (an empty AgentConfig will do)")
        return Session(self.spawn(request.config, request.overrides))

    def latest_agent_id(self) -> str:
        record = self.store.latest_agent(str(self.workspace))
        if record is None and self.ephemeral:
            raise UsageError("--last needs a store")
        if record is None:
            raise UsageError(f"no agents in this workspace ({self.workspace})")
        return record.id

    def list_persisted_agents(
        self, runtime_identifier: str | None = None, *, all_workspaces: bool = False
    ) -> list[AgentRecord]:
        """The stored agents of a runtime identifier (default: this workspace), or all."""
        if all_workspaces:
            return self.store.list_agents(None)
        return self.store.list_agents(runtime_identifier or str(self.workspace))

    def _build(
        self,
        agent_id: str,
        loaded: LoadedConfig,
        overrides: RunOverrides,
        model_spec: str,
        *,
        history: list[Message],
    ) -> Agent:
        overrides.check()
        config = loaded.config
        declared = {**self._declared, **config.providers}  # this config's, not the runtime's
        try:
            provider_name, model = split_model(model_spec)
        except ValueError as exc:
            raise ConfigError(str(exc)) from None
        if isinstance(config.model, ModelMapping) and config.model.provider == provider_name:
            _declare_inline(declared, config.model)
        if provider_name in self._instances:  # register_provider_instance: as given
            settings = ProviderSettings()
        else:
            settings = self.provider_settings(provider_name, declared)
        provider = self.provider(provider_name, settings)
        if settings.wire == "scripted" and not Path(model).is_absolute():
            model = str(self.workspace / model)
        policy = self.build_policy(config)
        from mentra.agent import assemble

        parts = self.parts()
        skills = assemble.skill_set(parts, loaded)
        _sources, toolset = assemble.agent_toolset(
            parts,
            loaded,
            skills,
            mcp_files=overrides.mcp_config_files,
            strict_mcp=overrides.strict_mcp_config,
        )
        static = toolset.static_tools()  # None: a set that lists its tools once entered
        tool_map = {t.name: t for t in static or []}
        from mentra.rule_tools import require_known_rule_tools

        require_known_rule_tools(loaded, overrides, tool_map)  # a rule naming no tool never matches
        system = overrides.system if overrides.system is not None else config.system
        if overrides.append_system:  # --append-system adds to the prompt instead of replacing it
            system = "\n\n".join([*([system] if system else []), *overrides.append_system])
        system = assemble.system_prompt(system, skills)
        base_system = system  # what a `task` child starts from (without --json-schema's rule)
        if overrides.json_schema is not None:
            system = assemble.with_output_schema(system, overrides.json_schema)
        authorizer, notices = assemble.permission_engine(parts, loaded, overrides)
        load_notices = getattr(provider, "load_notices", None)  # the scripted provider's
        if callable(load_notices):  # text the script had to clean, said in a notice
            notices = [*notices, *load_notices(model)]
        services = assemble.tool_services(parts, agent_id)
        notices = list(notices)
        from mentra.user_hooks.sources import attach_user_hooks

        # the hook commands of the config, user config and trusted policy files (None when
        # there are none); an untrusted project's are ignored with a notice
        services.user_hooks = attach_user_hooks(self, loaded, overrides, policy, {}, notices)
        from mentra import memory

        # this agent's long-term memory: its tools, auto-recall and episode ingest
        services.memory = memory.session_for(
            config.memory,
            store=self.store,
            owner=self,
            agent_id=agent_id,
            workspace=str(self.workspace),
        )
        hooks = assemble.builtin_hooks(parts, agent_id, authorizer, services, policy)
        # context compaction: the last before_request entry, so it measures the request as sent
        services.compactor = assemble.compactor(
            config, overrides, provider, provider_name, model, settings, services
        )
        hooks.before_request.append(services.compactor)
        opts = config.model_options
        limits = config.limits

        from mentra import pricing

        cap = _pick(overrides.max_cost_usd, limits.max_cost_usd)
        pricing.require_price(provider_name, model, settings.prices, cap)  # before the run
        fallbacks = [  # --fallback-model replaces the config's list
            self._model_route(spec, declared, cap)
            for spec in overrides.fallback_models or config.fallback_models
        ]
        setup = AgentSetup(
            agent_id=agent_id,
            name=config.name,
            provider=provider,
            provider_name=provider_name,
            model=model,
            system=system,
            tools=tool_map,
            toolset=toolset,
            list_tools_at_start=static is None,
            policy=policy,
            hooks=hooks,
            services=services,
            tool_specs=[ToolSpec(t.name, t.description, t.input_schema) for t in tool_map.values()],
            permission_mode=str(authorizer.mode),
            cwd=str(policy.working_dir),
            options=ModelOptions(
                temperature=opts.temperature,
                top_p=opts.top_p,
                max_output_tokens=opts.max_output_tokens,
                tool_choice={str(k): v for k, v in opts.tool_choice.items()}
                if isinstance(opts.tool_choice, dict)
                else opts.tool_choice,
                reasoning_effort=cast(
                    "Literal['low', 'medium', 'high'] | None",
                    _pick(overrides.effort, opts.reasoning_effort),
                ),
                prompt_cache=opts.prompt_cache,
            ),
            retries=settings.retries,
            limits=Limits(
                max_rounds=_pick(overrides.max_rounds, limits.max_rounds),
                max_tool_calls=_pick(overrides.max_tool_calls, limits.max_tool_calls),
                max_tokens=_pick(overrides.max_tokens, limits.max_tokens),
                max_cost_usd=cap,
                timeout=_pick(overrides.timeout, limits.timeout),
            ),
            store=self.async_store,
            store_label=self.store_label,
            include_deltas=overrides.include_deltas,
            json_schema=overrides.json_schema,
            fail_on_denial=authorizer.fail_on_denial,
            cost_fn=pricing.cost_function(settings.prices),
            setup_notices=notices,
            user_hooks=services.user_hooks,
            memory=services.memory,
            task_board=services.task_board,
            compactor=services.compactor,
            fallbacks=fallbacks,
        )
        agent = Agent(setup, history)
        from mentra.agent.subagents import TASK_TOOL_NAME, Subagents, child_tools

        if TASK_TOOL_NAME in tool_map or static is None:  # the `task` tool's children

            def spawn(profile: str | None) -> Agent:
                return self._child_agent(agent, loaded, authorizer, base_system, profile)

            for profile in config.agents.values():  # a profile naming no tool: refused now
                if static is not None:
                    child_tools(tool_map, profile)
            setup.subagents = services.subagents = Subagents(
                spawn, profiles=config.agents, max_parallel=limits.max_parallel_subagents
            )
        return agent

    def _child_agent(
        self,
        parent: Agent,
        loaded: LoadedConfig,
        authorizer: Any,
        base_system: str | None,
        profile_name: str | None,
    ) -> Agent:
        """A new stored child of ``parent`` for its `task` tool (`mentra.agent.subagents`):
        the parent's setup, with the profile's model, system, tools and max_rounds, a
        permission engine that only narrows the parent's, and no `task` of its own."""
        import dataclasses

        from mentra import pricing
        from mentra.agent import assemble, subagents
        from mentra.permissions.ceiling import narrowed_authorizer
        from mentra.tasks.profiles import DEFAULT_MAX_ROUNDS
        from mentra.tasks.tools import TaskBoard

        p = parent.setup
        profile = loaded.config.agents.get(profile_name) if profile_name is not None else None
        if profile_name is not None and profile is None:
            raise UsageError(f"no subagent profile {profile_name!r}")
        provider, provider_name, model = p.provider, p.provider_name, p.model
        retries, cost_fn = p.retries, p.cost_fn
        if profile is not None and profile.model is not None:
            provider_name, model = split_model(profile.model)
            if provider_name in self._instances:
                settings = ProviderSettings()
            else:
                settings = self.provider_settings(
                    provider_name, {**self._declared, **loaded.config.providers}
                )
            provider = self.provider(provider_name, settings)
            if settings.wire == "scripted" and not Path(model).is_absolute():
                model = str(self.workspace / model)
            pricing.require_price(provider_name, model, settings.prices, p.limits.max_cost_usd)
            retries, cost_fn = settings.retries, pricing.cost_function(settings.prices)
        child_id = new_id()
        tools = subagents.child_tools(p.tools, profile)
        child_auth, notices = narrowed_authorizer(
            authorizer, profile_name or "task", profile.permissions if profile else None
        )
        services = assemble.tool_services(self.parts(), child_id)
        board = p.services.task_board  # one board: the top-level agent's
        services.task_board = (
            TaskBoard(board.store, board.namespace, snapshots=False) if board else None
        )
        services.user_hooks, services.memory = p.services.user_hooks, p.services.memory
        setup = dataclasses.replace(
            p,
            agent_id=child_id,
            name=f"{p.name}::{profile_name or 'task'}",
            provider=provider,
            provider_name=provider_name,
            model=model,
            system=subagents.child_system(base_system, profile),
            tools=tools,
            tool_specs=[ToolSpec(t.name, t.description, t.input_schema) for t in tools.values()],
            permission_mode=str(child_auth.mode),
            hooks=assemble.builtin_hooks(self.parts(), child_id, child_auth, services, p.policy),
            services=services,
            retries=retries,
            limits=Limits(max_rounds=profile.max_rounds if profile else DEFAULT_MAX_ROUNDS),
            json_schema=None,
            fail_on_denial=child_auth.fail_on_denial,
            cost_fn=cost_fn,
            toolset=None,  # the parent's sets are entered by the parent's session
            list_tools_at_start=False,
            user_hooks=None,  # session_start/stop hooks are the parent's; pre/post_tool apply
            memory=None,  # no recall, no episode of its own
            task_board=services.task_board,
            subagents=None,  # no nesting
            setup_notices=notices,
        )
        record = self.store.get_agent(p.agent_id)
        raw = loaded.raw if loaded.raw is not None else loaded.config.model_dump(mode="json")
        self.store.create_agent(
            AgentRecord(
                id=child_id,
                name=setup.name,
                model=f"{provider_name}:{model}",
                workspace=record.workspace if record is not None else str(self.workspace),
                config=subagents.child_config(
                    raw,
                    name=setup.name,
                    model=f"{provider_name}:{model}",
                    system=setup.system or "",
                    tools=list(tools),
                    max_rounds=setup.limits.max_rounds or DEFAULT_MAX_ROUNDS,
                    profile=profile,
                ),
                parent_id=p.agent_id,
            )
        )
        return Agent(setup)

    def _model_route(
        self, spec: str, declared: dict[str, ProviderSettings], cap: float | None
    ) -> ModelRoute:
        """A fallback model, built as the agent's own is: its provider by the effective
        settings (so another provider, or another endpoint of the same, works), a scripted
        path made absolute, its prices (a cost cap needs one)."""
        from mentra import pricing
        from mentra.agent.spec import ModelRoute

        try:
            name, model = split_model(spec)
        except ValueError as exc:
            raise ConfigError(f"fallback model: {exc}") from None
        if name in self._instances:
            settings = ProviderSettings()
        else:
            settings = self.provider_settings(name, declared)
        if settings.wire == "scripted" and not Path(model).is_absolute():
            model = str(self.workspace / model)
        pricing.require_price(name, model, settings.prices, cap)
        cost_fn = pricing.cost_function(settings.prices)
        return ModelRoute(self.provider(name, settings), name, model, settings.retries, cost_fn)

    def build_policy(self, config: AgentConfig) -> RuntimePolicy:
        """The hard fence a config's tools run inside (working dir, roots, timeouts, env)."""
        from mentra.agent.assemble import build_policy

        return build_policy(self.workspace, config)

    # -- inspection (what the CLI's `tools`, `models`, `validate`, `permissions` show) --------

    def permission_engine(
        self, loaded: LoadedConfig | None = None, overrides: RunOverrides | None = None
    ) -> tuple[Authorizer, list[str]]:
        """The permission engine an agent of ``loaded`` would get with ``overrides`` (rule
        layers, mode, remembered answers), and its setup notices (ignored project rules…)."""
        from mentra.agent import assemble

        return assemble.permission_engine(
            self.parts(), loaded, overrides if overrides is not None else RunOverrides()
        )

    def permission_request(
        self,
        tool: Tool,
        input: dict[str, Any],
        loaded: LoadedConfig | None = None,
        *,
        call_id: str = "",
    ) -> PermissionRequest:
        """The request a run would put to the permission engine for a call of ``tool`` with
        ``input`` (its subjects, whether it mutates); `ToolInputError` for invalid input."""
        from mentra.permissions.decide import request_for

        policy = self.build_policy(loaded.config if loaded is not None else AgentConfig())
        args = tool.parse_input(input)
        return request_for(
            tool,
            args,
            call_id=call_id,
            input=input,
            mutates=tool.is_mutating(args),
            policy=policy,
        )

    def script_model(self, provider: str, model: str) -> ModelInfo:
        """The model a `scripted` provider's script names, the script checked on the way
        (a relative path is the workspace's); `ConfigError` when it cannot be read or is not
        a script. ``id`` is the script's ``model:``, or the path as given."""
        from mentra.providers.registry import check_script

        path = Path(model).expanduser()
        if not path.is_absolute():
            path = self.workspace / path
        script_model = check_script(path)
        return ModelInfo(id=script_model or model, provider=provider, display_name=str(path))


class RuntimeBuilder:
    """``Runtime.builder().provider_instance(p).policy(allow=[...]).build()``: each method
    returns the builder. The runtime identifier defaults to the workspace (the current
    directory unless given); without ``store`` the runtime keeps nothing (like
    ``--ephemeral``)."""

    def __init__(self, workspace: Path | None, *, builtin_tools: bool) -> None:
        self._workspace = workspace if workspace is not None else Path.cwd()
        self._builtin_tools = builtin_tools
        self._store: Store | None = None
        self._store_label: str | None = None
        self._steps: list[Callable[[Runtime], None]] = []

    def store(self, store: Store, label: str | None = None) -> RuntimeBuilder:
        self._store, self._store_label = store, label
        return self

    def provider(self, provider_id: str, api_key: str) -> RuntimeBuilder:
        self._steps.append(lambda rt: rt.register_provider(provider_id, api_key))
        return self

    def provider_instance(self, provider: Provider) -> RuntimeBuilder:
        self._steps.append(lambda rt: rt.register_provider_instance(provider))
        return self

    def providers(self, declared: dict[str, ProviderSettings]) -> RuntimeBuilder:
        self._steps.append(lambda rt: rt.declare_providers(declared))
        return self

    def policy(
        self,
        *,
        allow: list[str] | None = None,
        ask: list[str] | None = None,
        deny: list[str] | None = None,
        mode: str | None = None,
    ) -> RuntimeBuilder:
        """Permission rules and mode every agent gets (under its config's and the flags')."""

        def apply(rt: Runtime) -> None:
            rules = rt.permission_rules
            rules.allow += allow or []
            rules.ask += ask or []
            rules.deny += deny or []
            if mode is not None:
                rules.permission_mode = mode
            rules.check()

        self._steps.append(apply)
        return self

    def skills_dir(self, path: Path) -> RuntimeBuilder:
        self._steps.append(lambda rt: rt.register_skills_dir(path))
        return self

    def hooks(self, add: Callable[[HookPipeline], None]) -> RuntimeBuilder:
        self._steps.append(lambda rt: rt.register_hooks(add))
        return self

    def tool(self, tool: Tool) -> RuntimeBuilder:
        self._steps.append(lambda rt: rt.register_tool(tool))
        return self

    def context(self, obj: object) -> RuntimeBuilder:
        self._steps.append(lambda rt: rt.register_context(obj))
        return self

    def build(self) -> Runtime:
        runtime = Runtime(
            workspace=self._workspace,
            store=self._store,
            store_label=self._store_label,
            no_user_config=True,
        )
        runtime.builtin_tools = self._builtin_tools
        for step in self._steps:
            step(runtime)
        return runtime


def _resumable(history: list[Message]) -> bool:
    """A turn to re-run: the history ends with a user message, or a reply whose calls never
    got results (a crash mid-tool)."""
    if not history:
        return False
    last = history[-1]
    return bool(last.role == "user" or last.tool_uses)


def _declare_inline(declared: dict[str, ProviderSettings], mapping: ModelMapping) -> None:
    """A `model:` mapping's wire/base_url/api_key_env, over what ``declared`` says."""
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
        current = declared.get(mapping.provider)
        data = current.model_dump(exclude_unset=True) if current else {}
        data.update(fields)
        declared[mapping.provider] = ProviderSettings.model_validate(data)


def _pick(flag: Any, config_value: Any) -> Any:
    return flag if flag is not None else config_value


def _model_arg(model: str | RunOverrides | None) -> str | None:
    return model.model if isinstance(model, RunOverrides) else model


def _model_string(config: AgentConfig) -> str | None:
    if config.model is None:
        return None
    if isinstance(config.model, ModelMapping):
        return f"{config.model.provider}:{config.model.name}"
    return config.model
