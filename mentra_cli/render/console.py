"""A people's view of a run on stderr (only when stderr is a terminal, or with --verbose)."""

from __future__ import annotations

import json

from rich.markup import escape

from mentra.events import (
    AssistantMessageCompleted,
    CompactionCompleted,
    CompactionFailed,
    ErrorEvent,
    Event,
    Notice,
    PermissionResolved,
    RetryAttempt,
    RunFinished,
    SessionStarted,
    ToolCompleted,
    ToolProgress,
    ToolStarted,
)
from mentra_cli.render._rich import make_console


class ConsoleView:
    def __init__(self) -> None:
        self.console = make_console(stderr=True, highlight=False)

    def __call__(self, event: Event) -> None:
        c = self.console
        if isinstance(event, SessionStarted):
            resumed = " (resumed)" if event.resumed else ""
            c.print(
                f"[dim]mentra {event.mentra_version} · {event.model} · agent "
                f"{event.agent_id}{resumed}[/dim]"
            )
        elif isinstance(event, AssistantMessageCompleted):
            if event.text:
                c.print(event.text, markup=False)
        elif isinstance(event, ToolStarted):
            c.print(f"[cyan]→ {event.name}[/cyan] [dim]{event.call_id}[/dim]")
        elif isinstance(event, ToolProgress):
            if event.stream != "heartbeat":
                c.print(f"  {event.message}", markup=False, style="dim")
        elif isinstance(event, ToolCompleted):
            mark = "[red]✗[/red]" if event.is_error else "[green]✓[/green]"
            first = event.output.splitlines()[0][:120] if event.output else ""
            c.print(f"{mark} {event.name} [dim]{event.duration_ms} ms[/dim] ", end="")
            c.print(first, markup=False, style="dim")
        elif isinstance(event, PermissionResolved):
            colour = "green" if event.outcome == "allow" else "red"
            c.print(
                f"[{colour}]permission {event.outcome}[/{colour}] {event.name} "
                f"[dim]({event.decided_by})[/dim]"
            )
        elif isinstance(event, RetryAttempt):
            c.print(
                f"[yellow]retry {event.attempt}/{event.max_attempts} in "
                f"{event.delay_s:.1f}s:[/yellow] {escape(event.reason)}"
            )
        elif isinstance(event, CompactionCompleted):
            c.print(
                f"[dim]context compacted: ~{event.tokens_before} → ~{event.tokens_after} "
                "tokens[/dim]"
            )
        elif isinstance(event, CompactionFailed):
            c.print(f"[yellow]compaction failed:[/yellow] {escape(event.error)}")
        elif isinstance(event, Notice):
            c.print(f"[yellow]notice:[/yellow] {escape(event.message)}")
        elif isinstance(event, ErrorEvent):
            c.print(f"[red]error ({event.status}):[/red] {escape(event.message)}")
        elif isinstance(event, RunFinished):
            cost = f" · ${event.cost_usd:.4f}" if event.cost_usd else ""
            c.print(
                f"[dim]{event.status} · {event.rounds} rounds · {event.tool_calls} tool calls · "
                f"{event.usage.input_tokens}+{event.usage.output_tokens} tokens{cost} · "
                f"{event.duration_ms} ms[/dim]"
            )
            if event.structured_output is not None:
                c.print(json.dumps(event.structured_output), markup=False)
