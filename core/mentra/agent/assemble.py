"""Glue between a config and the pieces an agent runs with: tools, skills, permissions.

Kept apart from the `Runtime` so the runtime reads as the reference's API and this file holds
the wiring decisions (which tools a config gets, which services tools may use).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mentra.config import AgentConfig, LoadedConfig
from mentra.errors import ConfigError
from mentra.permissions.policy import RuntimePolicy
from mentra.tools.base import Tool

if TYPE_CHECKING:
    from mentra.runtime import RunOverrides, Runtime
    from mentra.skills import SkillSet


def effective_tools(
    runtime: Runtime, loaded: LoadedConfig | None, skills: SkillSet | None
) -> dict[str, tuple[Tool, str]]:
    """The tools of a config: builtins, ``load_skill``, registered, custom; then only/hide."""
    from mentra.tools.builtin import builtin_tools

    config = loaded.config if loaded else None
    working_dir = runtime.workspace / (config.policy.working_dir if config else ".")
    tools: dict[str, tuple[Tool, str]] = {
        t.name: (t, "builtin") for t in builtin_tools(working_dir)
    }
    from mentra.tasks.tools import tool_entries  # taskboard: task_create/update/list/get

    tools.update(tool_entries(config is None or config.tasks.enabled))
    if skills is not None:
        from mentra.skills import LoadSkillTool

        tools["load_skill"] = (LoadSkillTool(skills), "skill")
    for name, tool in runtime._extra_tools.items():
        tools[name] = (tool, "registered")
    if config is not None:
        for i, raw in enumerate(config.tools.custom):
            tool = _custom_tool(raw, runtime.workspace, loaded, i)
            if tool.name in tools:
                raise ConfigError(
                    f"custom tool {tool.name!r} clashes with a builtin tool",
                    location=loaded.location("tools", "custom", i) if loaded else None,
                )
            tools[tool.name] = (tool, "custom")
        if config.tools.only is not None:
            for i, name in enumerate(config.tools.only):
                if name not in tools:
                    raise ConfigError(
                        f"unknown tool {name!r} in tools.only (known: {', '.join(sorted(tools))})",
                        location=loaded.location("tools", "only", i) if loaded else None,
                    )
            tools = {n: t for n, t in tools.items() if n in config.tools.only}
        for i, name in enumerate(config.tools.hide):
            if name not in tools:
                raise ConfigError(
                    f"unknown tool {name!r} in tools.hide",
                    location=loaded.location("tools", "hide", i) if loaded else None,
                )
            tools.pop(name)
    return tools


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
) -> tuple[Any, Callable[..., Any], str, list[str]]:
    from mentra.permissions.decide import request_for
    from mentra.permissions.layers import RememberedRules, build_authorizer

    config = loaded.config if loaded is not None else AgentConfig()
    approver: Any = None
    if overrides.approval_command:
        from mentra.permissions.approval import CommandApprover

        approver = CommandApprover(overrides.approval_command, cwd=runtime.workspace)
    elif runtime.interactive_approver is not None:
        approver = runtime.interactive_approver
    authorizer, notices = build_authorizer(
        workspace=runtime.workspace,
        user_config_dir=runtime.user_config_dir,
        no_user_config=runtime.no_user_config,
        trust_project=overrides.trust_project,
        trusted_folders=runtime.trusted_folders,
        policy_files=overrides.policy_files,
        config=config.permissions,
        flag_allow=overrides.allow,
        flag_ask=overrides.ask,
        flag_deny=overrides.deny,
        flag_mode=overrides.permission_mode,
        approver=approver,
        store=runtime.store,
        global_store=runtime.global_store(),
        remembered_from=None if runtime.store is not None else RememberedRules(),
    )

    def make_request(tool: Tool, args: Any, use: Any, mutating: bool) -> Any:
        return request_for(
            tool, args, call_id=use.id, input=use.input, mutates=mutating, policy=policy
        )

    mode = str(authorizer.mode)
    return authorizer, make_request, mode, notices


def tool_services(runtime: Runtime, agent_id: str) -> dict[str, Any]:
    base = runtime.data_dir(agent_id)
    from mentra.tasks.tools import SERVICE_KEY, board_for  # taskboard

    return {
        "jobs_dir": base / "jobs",
        "results_dir": base / "results",
        "store": runtime.store,
        # taskboard: the board of the top-level agent (today every agent is top-level)
        SERVICE_KEY: board_for(runtime.store, agent_id),
    }


def audit_fn(runtime: Runtime, agent_id: str) -> Callable[..., None] | None:
    store = runtime.store
    if store is None:
        return None
    from mentra.store.base import AuditRecord

    def audit(run_id: str, call_id: str, tool: str, subjects: list[str], decision: Any) -> None:
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


def shrink_fn(runtime: Runtime, agent_id: str) -> Callable[[str], str] | None:
    from mentra.tools.large_results import shrink_result

    results_dir = runtime.data_dir(agent_id) / "results"

    def shrink(text: str) -> str:
        shrunk: str = shrink_result(text, store_dir=results_dir)
        return shrunk

    return shrink


def pending_notices_fn(services: dict[str, Any]) -> Callable[[], list[str]] | None:
    from mentra.tools.builtin.background import pending_job_notices

    jobs_dir = services["jobs_dir"]
    store = services.get("store")

    def notices() -> list[str]:
        return pending_job_notices(jobs_dir, store=store) if Path(jobs_dir).exists() else []

    return notices
