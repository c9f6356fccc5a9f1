"""`mentra hooks test HOOK -c FILE --input JSON`: what the configured hooks decide for one event.

Gathers the hooks a run would (the agent config over the user config, the user policy file,
``--policy`` files, a trusted project's policy file), runs those of HOOK for one synthetic event
whose fields are ``--input`` (the object the hooks get on stdin, without ``hook``, ``agent_id``,
``run_id``), and prints what they decided as one JSON object, so CI can test its guards.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated

import typer

from mentra.errors import UsageError
from mentra_cli.common import cli_errors, inspection_runtime, permission_overrides

app = typer.Typer(
    name="hooks",
    help="Test user hooks.",
    no_args_is_help=True,
    add_completion=False,
    rich_markup_mode=None,
)


@app.command("test")
def test(
    hook: Annotated[
        str,
        typer.Argument(
            help="pre_tool, post_tool, user_prompt, session_start, stop or pre_compact."
        ),
    ],
    input_json: Annotated[
        str,
        typer.Option(
            "--input",
            help='The event as JSON, e.g. {"tool": {"name": "shell", "input": {"command": "ls"}}}.',
        ),
    ] = "{}",
    config: Annotated[Path | None, typer.Option("--config", "-c", dir_okay=False)] = None,
    policy: Annotated[list[Path] | None, typer.Option("--policy", help="Policy file.")] = None,
    trust_project: Annotated[bool, typer.Option("--trust-project")] = False,
    no_user_config: Annotated[bool, typer.Option("--no-user-config")] = False,
    cwd: Annotated[Path | None, typer.Option("--cwd", "-C")] = None,
) -> None:
    """Run the hooks of HOOK for one synthetic event and print what they decided."""
    with cli_errors():
        import asyncio

        from mentra.user_hooks.simulate import simulate
        from mentra.user_hooks.sources import attach_user_hooks

        try:
            event = json.loads(input_json)
        except ValueError as exc:
            raise UsageError(f"--input is not valid JSON: {exc}") from None
        if not isinstance(event, dict):
            raise UsageError("--input must be a JSON object")
        runtime, loaded = inspection_runtime(config, cwd=cwd, no_user_config=no_user_config)
        overrides = permission_overrides(
            allow=None,
            ask=None,
            deny=None,
            policy=policy,
            permission_mode=None,
            trust_project=trust_project,
        )
        notices: list[str] = []
        hooks = attach_user_hooks(
            runtime, loaded, overrides, runtime.build_policy(loaded.config), {}, notices
        )
        event.setdefault("cwd", str(runtime.workspace))
        answer = asyncio.run(simulate(hooks, hook, event))
        answer["notices"] = notices
        sys.stdout.write(json.dumps(answer) + "\n")
