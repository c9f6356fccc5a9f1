"""The typer app: registers one command per runtime operation; `run_app` is the process edge.

Commands convert `MentraError` to an exit code themselves (`common.cli_errors`); `run_app` also
turns a bad flag into one line on stderr with exit 2, instead of a usage dump.
"""

from __future__ import annotations

import sys

import typer

from mentra_cli.commands import agents, inspect, permissions, run

app = typer.Typer(
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


@app.callback()
def _root(
    version: bool = typer.Option(
        False, "--version", "-V", callback=_version, is_eager=True, help="Print the version."
    ),
) -> None:
    """mentra: run tool-using agents from shell scripts and CI."""


app.command("run")(run.run)
app.command("resume")(run.resume)
app.command("tools")(inspect.tools)
app.command("models")(inspect.models)
app.command("schema")(inspect.schema)
app.command("validate")(inspect.validate)
app.command("list-agents")(agents.list_agents)
app.command("show")(agents.show)
app.command("export")(agents.export)
app.command("import")(agents.import_)
app.add_typer(permissions.app, name="permissions")


def run_app(args: list[str]) -> int:
    command = typer.main.get_command(app)
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
    return result if isinstance(result, int) else 0


def main() -> None:
    sys.exit(run_app(sys.argv[1:]))
