"""Commands that look without running: `tools`, `models`, `schema`, `validate`.

Each is a thin call of the public `Runtime` (tool listing, the permission engine, provider
models, a scripted model's script), so they show exactly what a run would use."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated, Any

import typer

from mentra.errors import ConfigError
from mentra_cli.common import (
    cli_errors,
    inspection_runtime,
    listing_format,
    permission_overrides,
    print_listing,
)

ListOutOpt = Annotated[
    str | None, typer.Option("--output", "-o", help="table | json | jsonl (table on a terminal)")
]
ConfigOpt = Annotated[
    Path | None, typer.Option("--config", "-c", dir_okay=False, help="Agent config YAML.")
]
CwdOpt = Annotated[
    Path | None, typer.Option("--cwd", "-C", help="Workspace directory (default: here).")
]
NoUserOpt = Annotated[
    bool, typer.Option("--no-user-config", help="Ignore ~/.config/mentra/config.yaml.")
]


def tools(
    config: ConfigOpt = None,
    output: ListOutOpt = None,
    cwd: CwdOpt = None,
    no_user_config: NoUserOpt = False,
    permission_mode: Annotated[
        str | None,
        typer.Option("--permission-mode", help="default | read-only | accept-edits | bypass"),
    ] = None,
    allow: Annotated[
        list[str] | None, typer.Option("--allow", help="Allow rule, e.g. 'shell(git *)'.")
    ] = None,
    deny: Annotated[
        list[str] | None, typer.Option("--deny", help="Deny rule (repeatable).")
    ] = None,
    ask: Annotated[list[str] | None, typer.Option("--ask", help="Ask rule (repeatable).")] = None,
    policy: Annotated[
        list[Path] | None, typer.Option("--policy", help="Policy file (repeatable).")
    ] = None,
    trust_project: Annotated[
        bool, typer.Option("--trust-project", help="Trust the project's .mentra/policy.yaml.")
    ] = False,
) -> None:
    """List the effective tool set of a config, with schemas and permission defaults."""
    with cli_errors():
        fmt = listing_format(output)
        runtime, loaded = inspection_runtime(config, cwd=cwd, no_user_config=no_user_config)
        overrides = permission_overrides(
            allow=allow,
            ask=ask,
            deny=deny,
            policy=policy,
            permission_mode=permission_mode,
            trust_project=trust_project,
        )
        import asyncio

        descriptors = asyncio.run(runtime.started_tools(loaded))  # MCP servers: started once
        decisions = _default_decisions(runtime, loaded, overrides, descriptors)
        rows = []
        for desc in descriptors:
            rows.append(
                {
                    "name": desc.name,
                    "source": desc.source,
                    "mutates": desc.mutates,
                    "permission": decisions.get(desc.name),
                    "description": desc.description,
                    "input_schema": desc.input_schema,
                }
            )
        if fmt == "table":
            for row in rows:
                row["description"] = str(row["description"]).split("\n")[0][:80]
        print_listing(rows, fmt, ["name", "source", "mutates", "permission", "description"])


def _default_decisions(
    runtime: Any, loaded: Any, overrides: Any, descriptors: list[Any]
) -> dict[str, str]:
    """What the permissions decide for a call of each tool with no particular input."""
    runtime.build_policy(loaded.config)  # a bad working_dir is refused as a run would
    authorizer, _notices = runtime.permission_engine(loaded, overrides)
    from mentra.permissions.decide import PermissionRequest

    out: dict[str, str] = {}
    for desc in descriptors:
        request = PermissionRequest(
            tool=desc.name,
            subjects=[],
            mutates=desc.mutates,
            input={},
            call_id="",
            is_file_edit=desc.name == "files" and desc.mutates,
        )
        out[desc.name] = str(authorizer.evaluate(request).outcome)
    return out


def models(
    provider: Annotated[
        str | None,
        typer.Option(
            "--provider",
            "-p",
            help="A builtin provider, or one declared under `providers:` of the -c config "
            "(default: the config's model's).",
        ),
    ] = None,
    newest: Annotated[bool, typer.Option("--newest", help="Only the newest model.")] = False,
    config: ConfigOpt = None,
    output: ListOutOpt = None,
    cwd: CwdOpt = None,
    no_user_config: NoUserOpt = False,
) -> None:
    """List a provider's models (the config's provider by default)."""
    with cli_errors():
        from mentra.config import split_model

        fmt = listing_format(output)
        runtime, loaded = inspection_runtime(config, cwd=cwd, no_user_config=no_user_config)
        model_spec = loaded.config.model
        name = provider
        script: str | None = None
        if name is None:
            if not isinstance(model_spec, str):
                raise ConfigError("give --provider P (or -c a config with a `model:`)")
            name, script = split_model(model_spec)
        elif isinstance(model_spec, str) and model_spec.startswith(f"{name}:"):
            script = split_model(model_spec)[1]
        import asyncio

        if config is None and name not in runtime.providers():
            raise ConfigError(
                f"unknown provider {name!r} (known: {', '.join(runtime.providers())}); "
                "a provider declared under `providers:` needs -c FILE, the config declaring it"
            )
        rows = asyncio.run(_list_models(runtime, name, newest, script))
        print_listing(rows, fmt, ["id", "provider", "created", "display_name"])


async def _list_models(
    runtime: Any, name: str, newest: bool, model: str | None
) -> list[dict[str, Any]]:
    try:
        provider = runtime.provider(name)
        if runtime.provider_settings(name).wire == "scripted" and model is not None:
            info = runtime.script_model(name, model)
            return [
                {
                    "id": info.id,
                    "provider": name,
                    "created": None,
                    "display_name": info.display_name,
                }
            ]
        if newest:
            found = await runtime.resolve_model(name, "newest")
            infos = [found] if found is not None else []
        else:
            infos = await provider.list_models()
        return [
            {
                "id": m.id,
                "provider": m.provider,
                "created": m.created.isoformat() if m.created else None,
                "display_name": m.display_name,
            }
            for m in infos
        ]
    finally:
        await runtime.aclose()


def schema(
    what: Annotated[str, typer.Argument(help="events | config")],
) -> None:
    """Print the JSON Schema of the event stream or of the agent config."""
    with cli_errors():
        if what == "events":
            from mentra.events import events_json_schema

            data = events_json_schema()
        elif what == "config":
            from mentra.config import agent_config_json_schema

            data = agent_config_json_schema()
        else:
            raise ConfigError(f"schema: expected `events` or `config`, got {what!r}")
        sys.stdout.write(json.dumps(data, indent=2) + "\n")


def validate(
    file: Annotated[Path, typer.Argument(help="An agent config YAML.", dir_okay=False)],
    cwd: CwdOpt = None,
    no_user_config: Annotated[
        bool,
        typer.Option(
            "--no-user-config/--user-config",
            show_default=False,
            help="Check the file as written, without ~/.config/mentra/config.yaml (the "
            "default); --user-config lays the user config under it, as a run does.",
        ),
    ] = True,
    var: Annotated[
        list[str] | None, typer.Option("--var", help="KEY=VALUE for {{KEY}} (repeatable).")
    ] = None,
) -> None:
    """Check an agent config: keys, types, model and script, tools, rules and skills. Every
    problem is a `file:line:col: message` line on stderr, in file order; exit 0 when valid."""
    with cli_errors():
        problems, summary = _validate(file, cwd=cwd, no_user_config=no_user_config, var=var)
        if problems:
            for line in problems:
                sys.stderr.write(f"{line}\n")
            sys.stderr.flush()
            out = {"valid": False, "file": str(file), "problems": problems}
            sys.stdout.write(json.dumps(out) + "\n")
            sys.stdout.flush()
            raise typer.Exit(2)
        sys.stdout.write(json.dumps({"valid": True, "file": str(file), **summary}) + "\n")


def _problem_lines(exc: ConfigError, fallback: str | None) -> list[str]:
    """A config error as `file:line:col: message` lines (several for `ConfigProblems`)."""
    problems = getattr(exc, "problems", None)
    if problems:
        return [str(p) for p in problems]
    if exc.location is None and fallback is not None:
        return [f"{fallback}: {exc.message}"]
    return [exc.message]


def _order(lines: list[str], file: str) -> list[str]:
    """The config's own problems in file order first, then those of other files."""
    import re

    def key(line: str) -> tuple[int, str, int, int]:
        match = re.match(r"^(.*?):(\d+):(\d+): ", line)
        if match is None:
            return (2, "", 0, 0)
        name, row, col = match.group(1), int(match.group(2)), int(match.group(3))
        return (0 if name == file else 1, name, row, col)

    return sorted(dict.fromkeys(lines), key=key)


def _validate(
    file: Path, *, cwd: Path | None, no_user_config: bool, var: list[str] | None
) -> tuple[list[str], dict[str, Any]]:
    """Every problem found (an empty list when valid) and, when valid, what was checked."""
    from mentra.config import split_model
    from mentra.rule_tools import known_tool_names, rule_tool_problems, rules_of
    from mentra_cli.common import load_config, open_runtime, workspace_dir

    workspace = workspace_dir(cwd)
    try:
        loaded, user = load_config(file, variables=var or [], no_user_config=no_user_config)
    except ConfigError as exc:  # unreadable, not YAML, or not the schema: nothing more to check
        return _order(_problem_lines(exc, None), str(file)), {}
    where = str(file)
    runtime = open_runtime(
        workspace=workspace,
        store_flag=None,
        ephemeral=True,
        no_user_config=no_user_config,
        user=user,
    )
    runtime.declare_providers(loaded.config.providers)
    lines: list[str] = []
    names: list[str] = []
    try:
        names = _tool_names(runtime, loaded, lines)
    except ConfigError as exc:
        lines += _problem_lines(exc, loaded.location("tools") or where)
    model = loaded.config.model
    model_at = loaded.location("model") or where
    if isinstance(model, str):
        try:
            provider, name = split_model(model)
            if runtime.provider_settings(provider).wire == "scripted":
                runtime.script_model(provider, name)  # the script is read and checked
        except ConfigError as exc:
            lines += _problem_lines(exc, model_at)
        except ValueError as exc:
            lines.append(f"{model_at}: {exc}")
    try:
        runtime.build_policy(loaded.config)
    except ConfigError as exc:
        lines += _problem_lines(exc, loaded.location("policy") or where)
    for err in rule_tool_problems(rules_of(loaded), known_tool_names(loaded, names)):
        lines += _problem_lines(err, where)
    runtime.close()
    return _order(lines, where), {"name": loaded.config.name, "tools": names}


def _tool_names(runtime: Any, loaded: Any, lines: list[str]) -> list[str]:
    """The effective tool names; every unknown name in ``tools.only``/``hide`` is a line."""
    from mentra.config import LoadedConfig
    from mentra.rule_tools import did_you_mean

    tools = loaded.config.tools
    unfiltered = loaded.config.model_copy(
        update={"tools": tools.model_copy(update={"only": None, "hide": []})}
    )
    every = [
        d.name
        for d in runtime.tools(
            LoadedConfig(unfiltered, file=loaded.file, marks=loaded.marks, raw=loaded.raw)
        )
    ]
    bad = 0
    for key in ("only", "hide"):
        for i, name in enumerate(getattr(tools, key) or []):
            if name not in every:
                bad += 1
                at = loaded.location("tools", key, i)
                lines.append(
                    f"{at}: unknown tool {name!r} in tools.{key} "
                    f"({did_you_mean(name, every)}known: {', '.join(sorted(every))})"
                )
    return every if bad else [d.name for d in runtime.tools(loaded)]
