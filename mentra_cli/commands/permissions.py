"""`mentra permissions check TOOL INPUT_JSON`: what the permissions decide for one call.

Builds the same rule layers a run would (user and project policy files, ``--policy``, the agent
config, flags), evaluates the call without running it or asking anyone, and prints the decision
and the rule or mode that made it as one JSON object, so a policy can be tested in CI.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated, Any

import typer

from mentra.errors import ConfigError, UsageError
from mentra_cli.common import cli_errors, inspection_runtime, permission_overrides

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
        from mentra.agent import assemble
        from mentra.permissions.decide import PermissionRequest, request_for
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
        authorizer, _make, _mode, notices = assemble.build_permissions(
            runtime, loaded, overrides, runtime.build_policy(loaded.config)
        )
        tools = _tools(runtime, loaded)
        known = tool in tools
        request: PermissionRequest
        if known:
            try:
                args = tools[tool].parse_input(raw)
            except ToolInputError as exc:
                raise UsageError(exc.message) from None
            request = request_for(tools[tool], args, input=raw)
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
