"""The typer app: registers one command per runtime operation; `run_app` is the process edge.

Commands convert `MentraError` to an exit code themselves (`common.cli_errors`); `run_app` also
turns a bad flag into one line on stderr with exit 2, instead of a usage dump.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable

import typer

from mentra_cli._gc import settle_gc
from mentra_cli.commands import agents, inspect, permissions, run


def _new_app() -> typer.Typer:
    return typer.Typer(
        name="mentra",
        help="An agent runtime for tool-using LLM applications. JSONL events on stdout.",
        no_args_is_help=True,
        add_completion=False,
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
    "tools": inspect.tools,
    "models": inspect.models,
    "schema": inspect.schema,
    "validate": inspect.validate,
    "list-agents": agents.list_agents,
    "delete-agent": agents.delete_agent,
    "show": agents.show,
    "export": agents.export,
    "import": agents.import_,
}
GROUPS: dict[str, typer.Typer] = {"permissions": permissions.app}


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
    first = args[0] if args else None
    target = build_app(first) if first in COMMANDS or first in GROUPS else app
    command = typer.main.get_command(target)
    if first not in ("run", "resume"):  # those settle once their agent is loaded
        settle_gc()
    try:
        result = command.main(args=args, prog_name="mentra", standalone_mode=False)
    except typer.TyperException as exc:  # click usage errors: one line, exit 2
        message = exc.format_message()
        sys.stderr.write(f"mentra: error: {message} (see mentra --help)\n")
        return int(getattr(exc, "exit_code", 2))
    except typer.Abort:
        sys.stderr.write("mentra: aborted\n")
        return 130
    except typer.Exit as exc:
        return exc.exit_code
    except Exception as exc:  # a bug of ours: still one line, unless asked for the traceback
        if os.environ.get("MENTRA_DEBUG"):
            raise
        sys.stderr.write(
            f"mentra: internal error: {type(exc).__name__}: {exc} (MENTRA_DEBUG=1 shows where)\n"
        )
        return 1
    return result if isinstance(result, int) else 0
