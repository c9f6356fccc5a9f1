"""Glue between a config and the pieces an agent runs with: tools, skills, permissions.

Kept apart from the `Runtime` so the runtime reads as the reference's API and this file holds
the wiring decisions (which tools a config gets, which services tools may use).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mentra.config import AgentConfig, LoadedConfig
from mentra.errors import ConfigError
from mentra.permissions.policy import RuntimePolicy
from mentra.tools.base import Tool
from mentra.tools.services import ToolServices

if TYPE_CHECKING:
    from mentra.agent.hooks import AuditWriter, HookPipeline
    from mentra.agent.request import RunOverrides
    from mentra.context.compactor import Compactor
    from mentra.permissions.decide import Authorizer, PermissionDecision
    from mentra.providers.base import Provider
    from mentra.providers.registry import ProviderSettings
    from mentra.runtime import Runtime
    from mentra.skills import SkillSet
    from mentra.store.base import Store
    from mentra.tools.toolset import CombinedTools, ToolSet


def effective_tools(
    runtime: Runtime, loaded: LoadedConfig | None, skills: SkillSet | None
) -> dict[str, tuple[Tool, str]]:
    """The tools of a config: builtins, ``load_skill``, registered, custom; then only/hide.
    Tool sets that list their tools only once entered (a server) are listed by the session."""
    combined, toolset = agent_toolset(runtime, loaded, skills)
    tools = toolset.static_tools()
    if tools is None:  # a set that must be entered first: what the others give
        from mentra.tools.toolset import CombinedTools

        static = CombinedTools([ts for ts in combined.sets if ts.static_tools() is not None])
        tools = static.static_tools() or []
        combined = static
    return {t.name: (t, combined.sources.get(t.name, "toolset")) for t in tools}


def agent_toolset(
    runtime: Runtime,
    loaded: LoadedConfig | None,
    skills: SkillSet | None,
    *,
    mcp_files: Sequence[Path] = (),
    strict_mcp: bool = False,
) -> tuple[CombinedTools, ToolSet]:
    """The agent's tool sets combined (for sources), and that set with only/hide applied."""
    from mentra.tools.builtin import builtin_tools
    from mentra.tools.toolset import CombinedTools, HideTools, OnlyTools, StaticToolSet

    config = loaded.config if loaded else None
    working_dir = runtime.workspace / (config.policy.working_dir if config else ".")
    builtins = builtin_tools(working_dir) if runtime.builtin_tools else []
    sets: list[ToolSet] = [StaticToolSet(builtins, "builtin")]
    taken = {t.name for t in builtins}
    if runtime.builtin_tools:  # `task`: a subagent (its children get none, see subagents.py)
        from mentra.agent.subagents import TaskTool

        sets.append(StaticToolSet([TaskTool(config.agents if config else {})], "builtin"))
        taken.add("task")
    if skills is not None:
        from mentra.skills import LoadSkillTool

        sets.append(StaticToolSet([LoadSkillTool(skills)], "skill"))
        taken.add("load_skill")
    if runtime.registered_tools:
        sets.append(StaticToolSet(list(runtime.registered_tools.values()), "registered"))
        taken.update(runtime.registered_tools)
    from mentra import memory  # the long-term memory tools (none with memory.enabled false)

    memory_tools = list(memory.tools_for(config.memory if config else None).values())
    if runtime.builtin_tools and (config is None or config.tasks.enabled):
        from mentra.tasks.tools import task_tools  # task_create/update/list/get

        board_tools = task_tools()
        sets.append(StaticToolSet(board_tools, "builtin"))
        taken.update(t.name for t in board_tools)
    if runtime.builtin_tools:  # the `compact` tool (mentra.context): compaction on demand
        from mentra.context.tool import CompactTool

        sets.append(StaticToolSet([CompactTool()], "builtin"))
        taken.add(CompactTool.name)
    if memory_tools and runtime.builtin_tools:  # `empty_builder()`: none of mentra's own
        sets.append(StaticToolSet(memory_tools, "memory"))
        taken.update(t.name for t in memory_tools)
    sets.extend(runtime.toolsets)
    servers: dict[str, Any] = dict(config.mcp_servers) if config is not None else {}
    if mcp_files or strict_mcp:  # --mcp-config files (Claude Code's JSON) over the config's
        from mentra.mcp.config import effective_servers

        servers = effective_servers(servers, list(mcp_files), strict=strict_mcp)
    if servers:  # started with the session, stopped with it
        from mentra.config import AgentConfig
        from mentra.mcp.toolset import McpServersToolSet

        policy = runtime.build_policy(config if config is not None else AgentConfig())
        sets.append(McpServersToolSet(servers, policy))
    if config is not None and config.tools.custom:
        custom: list[Tool] = []
        for i, raw in enumerate(config.tools.custom):
            tool = _custom_tool(raw, runtime.workspace, loaded, i)
            if tool.name in taken:
                raise ConfigError(
                    f"custom tool {tool.name!r} clashes with a builtin tool",
                    location=loaded.location("tools", "custom", i) if loaded else None,
                )
            taken.add(tool.name)
            custom.append(tool)
        sets.append(StaticToolSet(custom, "custom"))
    combined = CombinedTools(sets)
    toolset: ToolSet = combined
    if config is not None:

        def locate(section: str) -> Callable[[int], str | None]:
            return lambda i: loaded.location("tools", section, i) if loaded else None

        if config.tools.only is not None:
            toolset = OnlyTools(toolset, config.tools.only, locate("only"))
        if config.tools.hide:
            toolset = HideTools(toolset, config.tools.hide, locate("hide"))
    return combined, toolset


def skill_set(runtime: Runtime, loaded: LoadedConfig | None) -> SkillSet | None:
    """The skills of an agent: the runtime's registered folders, then its config's."""
    dirs = list(runtime.skill_dirs)
    if loaded is not None:
        dirs += [d for d in (runtime.workspace / s for s in loaded.config.skills) if d not in dirs]
    if not dirs:
        return None
    from mentra.skills import load_skills

    return load_skills(dirs)


def _custom_tool(raw: dict[str, Any], workspace: Path, loaded: LoadedConfig | None, i: int) -> Tool:
    from mentra import _yaml
    from mentra.tools.custom import CustomToolSpec, build_custom_tool

    if loaded is not None and loaded.file is not None:
        marks = {k[3:]: v for k, v in loaded.marks.items() if k[:3] == ("tools", "custom", i)}
        spec = _yaml.validate(
            CustomToolSpec, raw, file=loaded.file, marks=marks, what=f"tools.custom[{i}]"
        )
    else:
        spec = CustomToolSpec.model_validate(raw)
    tool: Tool = build_custom_tool(spec, base_dir=workspace)
    return tool


def system_prompt(system: str | None, skills: SkillSet | None) -> str | None:
    """The system prompt with the skills' names and descriptions appended."""
    if skills is None:
        return system
    section = skills.system_prompt_section()
    if not section:
        return system
    return f"{system}\n\n{section}" if system else section


def with_output_schema(system: str | None, schema: dict[str, Any]) -> str:
    """Tell the model up front what `--json-schema` will check its final answer against."""
    import json

    rule = (
        "When you give your final answer, reply with only one JSON value (no prose, no code "
        "fence) that is valid against this JSON Schema:\n"
        + json.dumps(schema, indent=2, sort_keys=True)
    )
    return f"{system}\n\n{rule}" if system else rule


def build_permissions(
    runtime: Runtime,
    loaded: LoadedConfig | None,
    overrides: RunOverrides,
    policy: RuntimePolicy,
) -> tuple[Authorizer, Callable[..., Any], str, list[str]]:
    """The old 4-tuple (engine, request maker, mode, notices), kept for the inspection
    commands; new code calls `permission_engine`."""
    authorizer, notices = permission_engine(runtime, loaded, overrides)

    def make_request(tool: Tool, args: Any, use: Any, mutating: bool) -> Any:
        from mentra.permissions.decide import request_for

        return request_for(
            tool, args, call_id=use.id, input=use.input, mutates=mutating, policy=policy
        )

    return authorizer, make_request, str(authorizer.mode), notices


def permission_engine(
    runtime: Runtime, loaded: LoadedConfig | None, overrides: RunOverrides
) -> tuple[Authorizer, list[str]]:
    """The permission engine of one agent, and its setup notices (ignored project rules…)."""
    from mentra.permissions.layers import RememberedRules, build_authorizer

    config = loaded.config if loaded is not None else AgentConfig()
    approver: Any = None
    if overrides.approval_command:
        from mentra.permissions.approval import CommandApprover, check_approval_command

        # a command that cannot start would deny every ask: refuse it before the run
        check_approval_command(overrides.approval_command, runtime.workspace)
        approver = CommandApprover(overrides.approval_command, cwd=runtime.workspace)
    elif runtime.interactive_approver is not None:
        approver = runtime.interactive_approver
    return build_authorizer(
        workspace=runtime.workspace,
        user_config_dir=runtime.user_config_dir,
        no_user_config=runtime.no_user_config,
        trust_project=overrides.trust_project,
        trusted_folders=runtime.trusted_folders,
        policy_files=overrides.policy_files,
        config=config.permissions,
        flag_allow=[*runtime.permission_rules.allow, *overrides.allow],
        flag_ask=[*runtime.permission_rules.ask, *overrides.ask],
        flag_deny=[*runtime.permission_rules.deny, *overrides.deny],
        flag_mode=overrides.permission_mode or runtime.permission_rules.permission_mode,
        flag_fail_on_denial=overrides.fail_on_denial,
        approver=approver,
        # the one ephemeral branch left, a rule of permissions rather than of storage: an
        # ``--ephemeral`` run still obeys the answers remembered in the workspace's real store
        # (read, never written), which its own in-memory store cannot know
        store=None if runtime.ephemeral else runtime.store,
        global_store=runtime.global_store(),
        remembered_from=RememberedRules() if runtime.ephemeral else None,
    )


def tool_services(runtime: Runtime, agent_id: str) -> ToolServices:
    from mentra.tasks.tools import board_for

    base = runtime.data_dir(agent_id)
    return ToolServices(
        jobs_dir=base / "jobs",
        results_dir=base / "results",
        store=runtime.store,
        contexts=dict(runtime.contexts),
        task_board=board_for(runtime.store, agent_id),  # the top-level agent's board
    )


def builtin_hooks(
    runtime: Runtime,
    agent_id: str,
    authorizer: Authorizer,
    services: ToolServices,
    policy: RuntimePolicy | None = None,
) -> HookPipeline:
    """The runtime's own entries: permissions, audit, result shrinking, job notices, the
    task board's reminder."""
    from mentra.agent.hooks import AuditHook, HookPipeline, PermissionHook, ShrinkHook

    hooks = HookPipeline()
    hooks.before_tool.append(PermissionHook(authorizer, policy, services.user_hooks))
    if services.user_hooks is not None:  # their additional_context goes with the next message
        hooks.after_round.append(services.user_hooks.take_context)
    audit = audit_writer(runtime, agent_id)
    if audit is not None:
        hooks.before_tool.append(AuditHook(audit))
    if services.results_dir is not None:
        hooks.after_tool.append(ShrinkHook(shrinker(services.results_dir)))
    if services.jobs_dir is not None:
        hooks.after_round.append(job_notices(services.jobs_dir, services.store))
    if services.task_board is not None:  # the nudge after idle rounds with unfinished tasks
        from mentra.tasks.reminder import BoardReminderHook

        hooks.before_request.append(BoardReminderHook(services.task_board))
    for extra in runtime.hooks:  # registered through the builder: after the built-in ones
        extra(hooks)
    return hooks


def compactor(
    config: AgentConfig,
    overrides: RunOverrides,
    provider: Provider,
    provider_name: str,
    model: str,
    settings: ProviderSettings,
    services: ToolServices,
) -> Compactor:
    """The agent's context management (`mentra.context`): micro-compaction, auto-compaction
    past the threshold, the ``compact`` tool's manual compaction, the window check."""
    from mentra import pricing
    from mentra.context.compactor import Compactor
    from mentra.context.estimate import estimator_for

    # the tokenizer (if any) counts once a request is past half the threshold
    half = config.context.threshold(model, overrides.compact_at) // 2
    return Compactor(
        config.context,
        provider=provider,
        provider_name=provider_name,
        model=model,
        retries=settings.retries,
        estimator=estimator_for(settings.wire, model, precise_above=half),
        compact_at=overrides.compact_at,
        cost_fn=pricing.cost_function(settings.prices),
        memory=services.memory,
        user_hooks=services.user_hooks,
    )


def audit_writer(runtime: Runtime, agent_id: str) -> AuditWriter | None:
    store = runtime.store
    from mentra.store.base import AuditRecord

    def audit(
        run_id: str, call_id: str, tool: str, subjects: list[str], decision: PermissionDecision
    ) -> None:
        store.append_audit(
            AuditRecord(
                agent_id=agent_id,
                run_id=run_id,
                call_id=call_id,
                tool=tool,
                subject="\n".join(subjects),
                outcome="allow" if decision.outcome == "allow" else "deny",
                decided_by=decision.decided_by,
                rule=decision.rule,
            )
        )

    return audit


def shrinker(results_dir: Path) -> Callable[[str], str]:
    from mentra.tools.large_results import shrink_result

    def shrink(text: str) -> str:
        shrunk: str = shrink_result(text, store_dir=results_dir)
        return shrunk

    return shrink


def job_notices(jobs_dir: Path, store: Store | None) -> Callable[[], list[str]]:
    from mentra.tools.builtin.background import pending_job_notices

    def notices() -> list[str]:
        return pending_job_notices(jobs_dir, store=store) if jobs_dir.exists() else []

    return notices
