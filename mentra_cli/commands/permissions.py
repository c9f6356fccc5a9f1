"""`mentra permissions check TOOL INPUT_JSON`: what the permissions decide for one call.

Builds the same rule layers a run would (user and project policy files, ``--policy``, the agent
config, flags, remembered answers) and the request the same way, evaluates the call without
running it or asking anyone, and prints the decision and the rule or mode that made it as one
JSON object, so a policy can be tested in CI.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated, Any

import typer

from mentra.errors import ConfigError, UsageError
from mentra_cli.common import (
    cli_errors,
    inspection_runtime,
    listing_format,
    open_workspace_store,
    permission_overrides,
    print_listing,
    workspace_dir,
)

app = typer.Typer(
    name="permissions",
    help="Inspect what the permission rules decide.",
    no_args_is_help=True,
    add_completion=False,
    rich_markup_mode=None,
)


@app.command("check")
def check(
    tool: Annotated[str, typer.Argument(help="Tool name, e.g. shell or files.")],
    input_json: Annotated[
        str, typer.Argument(help='The call input as JSON, e.g. {"command": "ls"}.')
    ],
    config: Annotated[Path | None, typer.Option("--config", "-c", dir_okay=False)] = None,
    policy: Annotated[list[Path] | None, typer.Option("--policy", help="Policy file.")] = None,
    allow: Annotated[list[str] | None, typer.Option("--allow")] = None,
    ask: Annotated[list[str] | None, typer.Option("--ask")] = None,
    deny: Annotated[list[str] | None, typer.Option("--deny")] = None,
    permission_mode: Annotated[str | None, typer.Option("--permission-mode")] = None,
    trust_project: Annotated[bool, typer.Option("--trust-project")] = False,
    no_user_config: Annotated[bool, typer.Option("--no-user-config")] = False,
    cwd: Annotated[Path | None, typer.Option("--cwd", "-C")] = None,
) -> None:
    """Print the decision for one tool call (allow, ask or deny) and what made it."""
    with cli_errors():
        from mentra.permissions.decide import PermissionRequest
        from mentra.tools.base import ToolInputError, canonical_json

        try:
            raw = json.loads(input_json)
        except ValueError as exc:
            raise UsageError(f"INPUT_JSON is not valid JSON: {exc}") from None
        if not isinstance(raw, dict):
            raise UsageError('INPUT_JSON must be a JSON object, e.g. \'{"command": "ls"}\'')
        runtime, loaded = inspection_runtime(config, cwd=cwd, no_user_config=no_user_config)
        overrides = permission_overrides(
            allow=allow,
            ask=ask,
            deny=deny,
            policy=policy,
            permission_mode=permission_mode,
            trust_project=trust_project,
        )
        runtime.build_policy(loaded.config)  # a bad working_dir is refused as a run would
        authorizer, notices = runtime.permission_engine(loaded, overrides)
        tools = _tools(runtime, loaded)
        from mentra.rule_tools import require_known_rule_tools

        require_known_rule_tools(loaded, overrides, tools)
        known = tool in tools
        request: PermissionRequest
        if known:
            try:  # built as a run builds its requests (subjects, kind, write roots)
                request = runtime.permission_request(tools[tool], raw, loaded)
            except ToolInputError as exc:
                raise UsageError(exc.message) from None
        else:  # not in this config's tool set (an MCP tool, say): judge it as mutating
            request = PermissionRequest(
                tool=tool, subjects=[canonical_json(raw)], mutates=True, input=raw
            )
        decision = authorizer.evaluate(request)
        out: dict[str, Any] = {
            "tool": tool,
            "known_tool": known,
            "subjects": list(request.subjects),
            "mutates": request.mutates,
            "mode": authorizer.mode,
            "decision": decision.outcome,
            "decided_by": decision.decided_by,
            "rule": decision.rule,
            "source": decision.source,
            "reason": decision.reason,
            "notices": notices,
        }
        sys.stdout.write(json.dumps(out) + "\n")
        sys.stdout.flush()


def _tools(runtime: Any, loaded: Any) -> dict[str, Any]:
    """The config's tools by name; an empty set if the tool registry cannot be built."""
    try:
        return {name: tool for name, (tool, _src) in runtime.tool_set(loaded).items()}
    except ConfigError:
        raise
    except ImportError:  # builtin tools not available: every call is judged as unknown
        return {}


StoreOpt = Annotated[str | None, typer.Option("--store", help="Store path (or MENTRA_STORE).")]
CwdOpt = Annotated[Path | None, typer.Option("--cwd", "-C", help="The workspace directory.")]


@app.command("list")
def list_remembered(
    store: StoreOpt = None,
    cwd: CwdOpt = None,
    output: Annotated[str | None, typer.Option("--output", "-o")] = None,
) -> None:
    """List the answers remembered at a prompt ("always"): this project's and the global ones."""
    with cli_errors():
        fmt = listing_format(output)
        rows = []
        for name, rule_store, key in _scopes(store, workspace_dir(cwd)):
            try:
                for r in rule_store.list_permission_rules(key):
                    created = r.created_at.isoformat() if r.created_at else None
                    rows.append(
                        {
                            "scope": name,
                            "rule": r.rule,
                            "decision": r.decision,
                            "created_at": created,
                        }
                    )
            finally:
                rule_store.close()
        print_listing(rows, fmt, ["scope", "rule", "decision", "created_at"])


@app.command("forget")
def forget(
    rule: Annotated[str, typer.Argument(help="The rule as listed, e.g. 'shell(make test)'.")],
    scope: Annotated[
        str | None, typer.Option("--scope", help="project | global (default: both)")
    ] = None,
    store: StoreOpt = None,
    cwd: CwdOpt = None,
) -> None:
    """Forget a remembered answer; exit 2 when no remembered answer matches."""
    with cli_errors():
        if scope not in (None, "project", "global"):
            raise UsageError(f"--scope must be project or global, got {scope!r}")
        removed = 0
        for name, rule_store, key in _scopes(store, workspace_dir(cwd)):
            try:
                if scope in (None, name):
                    for record in rule_store.list_permission_rules(key):
                        if record.rule == rule:
                            removed += int(rule_store.remove_permission_rule(record))
            finally:
                rule_store.close()
        if not removed:
            raise UsageError(f"no remembered answer {rule!r}" + (f" in {scope}" if scope else ""))
        sys.stdout.write(json.dumps({"forgotten": rule, "count": removed}) + "\n")


def _scopes(store_flag: str | None, workspace: Path) -> list[tuple[str, Any, str]]:
    """(name, store, stored scope) of the two places answers are remembered; opening them
    creates no file."""
    import os

    from mentra.store.location import UserRuleStore, global_store_path

    project = open_workspace_store(store_flag, workspace, create=False)
    return [
        ("project", project, f"project:{os.path.realpath(workspace)}"),
        ("global", UserRuleStore(global_store_path()), "global"),
    ]
