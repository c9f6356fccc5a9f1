"""The typer app: registers one command per runtime operation; `run_app` is the process edge.

Commands convert `MentraError` to an exit code themselves (`common.cli_errors`); `run_app` also
turns a bad flag into one line on stderr with exit 2 (pointing to that command's help), a closed
stdout into exit 141 for every command, and bare `mentra` into the help (exit 0). Help names
values as people read them (`readable_metavars`); shell completion is typer's (`--install-
completion`), answered before any command runs.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable
from typing import Any

import typer

from mentra_cli._gc import settle_gc
from mentra_cli._stdout import ensure_stdout, is_reader_gone, reader_gone
from mentra_cli.commands import (
    agents,
    hooks,
    inspection,
    mcp,
    memory,
    permissions,
    run,
    tasks,
)

COMPLETE_VAR = "_MENTRA_COMPLETE"  # click's name for it: _{PROG}_COMPLETE


def _new_app() -> typer.Typer:
    return typer.Typer(
        name="mentra",
        help="An agent runtime for tool-using LLM applications. JSONL events on stdout.",
        no_args_is_help=True,
        add_completion=True,
        pretty_exceptions_enable=False,
        rich_markup_mode=None,
        context_settings={"help_option_names": ["-h", "--help"]},
    )


def _version(value: bool) -> None:
    if value:
        from mentra._version import __version__

        sys.stdout.write(f"mentra {__version__}\n")
        raise typer.Exit(0)


def _root(
    version: bool = typer.Option(
        False, "--version", "-V", callback=_version, is_eager=True, help="Print the version."
    ),
) -> None:
    """mentra: run tool-using agents from shell scripts and CI."""


COMMANDS: dict[str, Callable[..., None]] = {
    "run": run.run,
    "resume": run.resume,
    "tools": inspection.tools,
    "models": inspection.models,
    "schema": inspection.schema,
    "validate": inspection.validate,
    "list-agents": agents.list_agents,
    "delete-agent": agents.delete_agent,
    "show": agents.show,
    "export": agents.export,
    "import": agents.import_,
    "fork": agents.fork,
    "tasks": tasks.tasks,
}
GROUPS: dict[str, typer.Typer] = {
    "permissions": permissions.app,
    "mcp": mcp.app,
    "hooks": hooks.app,
    "memory": memory.app,
}


# What help shows for a value, by parameter name: typer's own labels are Python types
# (`<list[str]>`, `<int range>`); people read these, as in the README.
METAVARS: dict[str, str] = {
    "agent": "AGENT_ID",
    "agent_id": "AGENT_ID",
    "agent_ids": "AGENT_ID",
    "allow": "RULE",
    "approval_command": "CMD",
    "ask": "RULE",
    "config": "FILE",
    "cwd": "DIR",
    "deny": "RULE",
    "file": "FILE",
    "image": "FILE|URL",
    "input_json": "INPUT_JSON",
    "json_schema": "FILE",
    "max_cost": "USD",
    "max_rounds": "N",
    "max_tokens": "N",
    "max_tool_calls": "N",
    "model": "PROVIDER:MODEL",
    "new_id": "AGENT_ID",
    "older_than": "DURATION",
    "output_file": "FILE",
    "output_last_message": "FILE",
    "permission_mode": "MODE",
    "policy": "FILE",
    "prompt": "PROMPT",
    "provider": "PROVIDER",
    "rule": "RULE",
    "scope": "SCOPE",
    "server": "SERVER",
    "store": "PATH",
    "system": "TEXT",
    "timeout": "DURATION",
    "tool": "TOOL",
    "var": "KEY=VALUE",
    "what": "WHAT",
}
_BY_TYPE = {
    "<str>": "TEXT",
    "<int>": "N",
    "<int range>": "N",
    "<float>": "NUMBER",
    "<path>": "PATH",
    "<file>": "FILE",
}


def _no_type(ctx: typer.Context) -> None:
    return None


def readable_metavars(command: Any) -> None:
    """Give every value-taking parameter of ``command`` (and its subcommands) a metavar."""
    ctx = typer.Context(command)
    for param in command.params:
        if param.metavar is not None or getattr(param, "is_flag", False):
            continue
        if param.name == "output":  # a format for listings and runs, a file for `export`
            label = "FILE" if "path" in str(param.display_type(ctx)) else "FORMAT"
        else:
            shown = str(param.display_type(ctx))
            label = METAVARS.get(param.name or "") or _BY_TYPE.get(shown, "VALUE")
        param.metavar = label
        if param.param_type_name == "argument":  # typer would add `<str>` after the name
            setattr(param, "display_type_rich", _no_type)  # noqa: B010 (an instance override)
    for sub in getattr(command, "commands", {}).values():
        readable_metavars(sub)


def build_app(only: str | None = None) -> typer.Typer:
    """The whole app, or (for dispatch) an app with just the command being run: typer
    inspects every command's signature when it builds the group, a cost one call need not pay."""
    built = _new_app()
    built.callback()(_root)
    for name, func in COMMANDS.items():
        if only in (None, name):
            built.command(name)(func)
    for name, group in GROUPS.items():
        if only in (None, name):
            built.add_typer(group, name=name)
    return built


app = build_app()


def run_app(args: list[str]) -> int:
    """Run one command line and give the process's exit status. Also the one place that turns
    a closed stdout into exit 141, for every command (see `mentra_cli._stdout`)."""
    ensure_stdout()
    try:
        code = _dispatch(args)
        sys.stdout.flush()  # what is still buffered fails here, not in the interpreter's exit
    except OSError as exc:
        if not is_reader_gone(exc):
            raise
        return reader_gone()
    return code


def _dispatch(args: list[str]) -> int:
    if not args:  # bare `mentra`: the help, on stdout, exit 0
        args = ["--help"]
    first = args[0]
    target = build_app(first) if first in COMMANDS or first in GROUPS else app
    command = typer.main.get_command(target)
    readable_metavars(command)
    if first not in ("run", "resume"):  # those settle once their agent is loaded
        settle_gc()
    if os.environ.get(COMPLETE_VAR):  # the shell asks for completions; click answers and exits
        command.main(args=args, prog_name="mentra")
    try:
        # not `command.main`: on a closed stdout it would exit 1 (click's EPIPE handler)
        with command.make_context("mentra", list(args)) as ctx:
            result = command.invoke(ctx)
    except typer.TyperException as exc:  # click usage errors: one line, exit 2
        failed = getattr(exc, "ctx", None)
        if type(exc).__name__ == "NoArgsIsHelpError" and failed is not None:
            sys.stdout.write(failed.get_help() + "\n")  # a bare group (`mentra permissions`)
            return 0
        message = exc.format_message()
        where = failed.command_path if failed is not None and failed.command_path else "mentra"
        sys.stderr.write(f"mentra: error: {message} (see {where} --help)\n")
        return int(getattr(exc, "exit_code", 2))
    except (typer.Abort, EOFError):
        sys.stderr.write("mentra: aborted\n")
        return 130
    except KeyboardInterrupt:
        return 130
    except typer.Exit as exc:
        return exc.exit_code
    except OSError as exc:
        if is_reader_gone(exc):
            raise
        return _internal_error(exc)
    except Exception as exc:
        return _internal_error(exc)
    return result if isinstance(result, int) else 0


def _internal_error(exc: Exception) -> int:
    """A bug of ours: still one line, unless asked for the traceback."""
    if os.environ.get("MENTRA_DEBUG"):
        raise exc
    sys.stderr.write(
        f"mentra: internal error: {type(exc).__name__}: {exc} (MENTRA_DEBUG=1 shows where)\n"
    )
    return 1
