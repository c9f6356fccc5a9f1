"""The `shell` tool: one command through ``/bin/sh -c``, fenced by the policy.

The command runs in the working directory (or ``workingDirectory``, which must resolve inside the
roots), with only the policy's allow-listed environment, nothing on stdin, its own process group,
and the policy's timeout as a ceiling. See `mentra.tools._process` for how output is captured.
"""

from __future__ import annotations

from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field

from mentra.permissions.policy import PolicyViolationError, RuntimePolicy
from mentra.tools._process import CommandNotFoundError, run_process
from mentra.tools.base import ArgsTool, ToolContext, ToolResult

SHELL = "/bin/sh"


class ShellArgs(BaseModel):
    model_config = ConfigDict(extra="forbid")

    command: str = Field(min_length=1, description="The command line, run by /bin/sh -c.")
    workingDirectory: str | None = Field(
        None, description="Directory to run in (inside the workspace); default: the working dir."
    )
    timeoutMs: int | None = Field(
        None, ge=1, description="Timeout in milliseconds; capped by the policy's command timeout."
    )
    justification: str | None = Field(
        None, description="Why this command is needed (shown when approval is asked)."
    )


def command_cwd(policy: RuntimePolicy, working_directory: str | None) -> ToolResult | Path:
    """Resolve ``workingDirectory`` inside the roots (symlinks followed); a ToolResult on error."""
    if working_directory is None:
        return policy.working_dir
    try:
        cwd = policy.resolve(working_directory)
    except PolicyViolationError as exc:
        return ToolResult(f"Refused by policy: {exc.message}", is_error=True)
    if not cwd.is_dir():
        return ToolResult(
            f"workingDirectory {working_directory!r} is not an existing directory", is_error=True
        )
    return cwd


def effective_timeout(policy: RuntimePolicy, timeout_ms: int | None) -> float:
    if timeout_ms is None:
        return policy.command_timeout
    return min(timeout_ms / 1000, policy.command_timeout)


class ShellTool(ArgsTool[ShellArgs]):
    name = "shell"
    description = (
        "Run one shell command (/bin/sh -c) in the workspace and return its exit code, stdout "
        "and stderr. No stdin; the environment is reduced to an allow-list; long output is cut "
        "in the middle. Use background_run for servers and other long-running processes. "
        "Not fenced by write_roots (no OS sandbox): a redirection to a file outside them asks."
    )
    mutates = True
    permission_kind = "shell"
    Args = ShellArgs

    def permission_subjects(self, args: ShellArgs) -> list[str]:
        return [args.command]

    async def run(self, args: ShellArgs, ctx: ToolContext) -> ToolResult:
        policy = ctx.policy
        cwd = command_cwd(policy, args.workingDirectory)
        if isinstance(cwd, ToolResult):
            return cwd
        timeout = effective_timeout(policy, args.timeoutMs)
        try:
            outcome = await run_process(
                [SHELL, "-c", args.command],
                cwd=cwd,
                env=policy.child_env(),
                timeout=timeout,
                max_output_bytes=policy.max_output_bytes,
                progress=ctx.progress,
            )
        except CommandNotFoundError as exc:  # pragma: no cover - /bin/sh is always there
            return ToolResult(f"Cannot run the shell: {exc}", is_error=True)
        failed = outcome.timed_out or outcome.exit_code != 0
        return ToolResult(outcome.render(timeout=timeout), is_error=failed)
