"""`background_run` and `check_background`: long-running commands that outlive one tool call.

Each job is a directory under the jobs directory (``ctx.services.jobs_dir``, persisted with
the agent) holding ``job.json``, the output logs and, once done, ``result.json``. A detached
supervisor process (`mentra.tools.builtin._job_runner`) runs the command, so the job survives
the process that started it and any later process can check it after a resume. Job ids are
uuid-based, unique across processes. Jobs have their own limit (``policy.background_jobs``
running at once) and timeout (``policy.background_timeout``), apart from the foreground ones.

A finished job is reported to the model once: by `check_background`, or else by
`pending_job_notices`, which the loop calls before its next request.

The agent's store (``ctx.services.store``) keeps a record of each job (`JobRecord`: command,
directory, status, exit code, times), so ``mentra show AGENT --jobs`` lists an agent's jobs;
the files stay the truth while a job runs, and the record is brought up to date whenever the
job is seen finished.
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, cast

from pydantic import BaseModel, ConfigDict, Field

from mentra._pids import pid_alive
from mentra.store.base import JobRecord, JobStatus, Store
from mentra.tools.base import ArgsTool, ToolContext, ToolResult
from mentra.tools.builtin import _job_runner
from mentra.tools.builtin._job_runner import write_json_atomic
from mentra.tools.builtin.shell import command_cwd
from mentra.tools.services import ToolServices

_ENDED = frozenset({"exited", "killed", "timeout", "failed", "lost"})  # JobStatus but running
STARTING_GRACE_SECONDS = 10.0  # a job without a supervisor pid yet is "starting" this long
_RUNNER = _job_runner.__file__  # run as a script: it imports only the standard library


def jobs_dir_for(services: ToolServices) -> Path:
    """The jobs directory of a context; a per-user temp directory when none was given."""
    given = services.jobs_dir
    path = Path(given) if given else Path(tempfile.gettempdir()) / f"mentra-jobs-{os.getuid()}"
    path.mkdir(parents=True, exist_ok=True, mode=0o700)
    return path


class BackgroundRunArgs(BaseModel):
    model_config = ConfigDict(extra="forbid")

    command: str = Field(min_length=1, description="The command line, run by /bin/sh -c.")
    workingDirectory: str | None = Field(
        None, description="Directory to run in (inside the workspace); default: the working dir."
    )
    justification: str | None = Field(None, description="Why this job is needed.")


class CheckBackgroundArgs(BaseModel):
    model_config = ConfigDict(extra="forbid")

    job_id: str | None = Field(
        None, description="The job to check; omitted = a summary of every job."
    )


class BackgroundRunTool(ArgsTool[BackgroundRunArgs]):
    name = "background_run"
    description = (
        "Start a long-running command (a server, a watcher, a slow build) in the background and "
        "return a job id at once. Check it with check_background; when it finishes, its result "
        "is also reported to you on your next turn."
    )
    mutates = True
    permission_kind = "shell"
    Args = BackgroundRunArgs

    def permission_subjects(self, args: BackgroundRunArgs) -> list[str]:
        return [args.command]

    async def run(self, args: BackgroundRunArgs, ctx: ToolContext) -> ToolResult:
        policy = ctx.policy
        cwd = command_cwd(policy, args.workingDirectory)
        if isinstance(cwd, ToolResult):
            return cwd
        root = jobs_dir_for(ctx.services)
        running = [job for job in _all_jobs(root) if job.state() in ("running", "starting")]
        if len(running) >= policy.background_jobs:
            ids = ", ".join(job.id for job in running)
            return ToolResult(
                f"Background job limit reached ({policy.background_jobs} running: {ids}). "
                "Wait for one to finish (check_background) before starting another.",
                is_error=True,
            )
        job_id = f"job_{uuid.uuid4().hex[:12]}"
        job_dir = root / job_id
        store = ctx.services.store
        if store is not None and ctx.agent_id:  # recorded first: no job runs unrecorded
            store.create_job(
                JobRecord(
                    id=job_id,
                    agent_id=ctx.agent_id,
                    command=args.command,
                    output_path=str(job_dir),
                    started_at=datetime.now(UTC),
                )
            )
        job_dir.mkdir(mode=0o700)
        write_json_atomic(
            job_dir / "job.json",
            {
                "id": job_id,
                "command": args.command,
                "cwd": str(cwd),
                "timeout": policy.background_timeout,
                "started_at": time.time(),
                "agent_id": ctx.agent_id,
                "call_id": ctx.call_id,
            },
        )
        await _start_supervisor(job_dir, policy.child_env())  # provider keys never pass
        return ToolResult(
            f"Started background job {job_id}: {args.command}\n"
            f"It may run for up to {policy.background_timeout:g}s. Check it with "
            "check_background; its result is reported to you when it finishes."
        )


class CheckBackgroundTool(ArgsTool[CheckBackgroundArgs]):
    name = "check_background"
    description = (
        "Report the status of a background job (running, or finished with its exit code) and "
        "its output so far; without job_id, list every job."
    )
    mutates = False
    Args = CheckBackgroundArgs

    async def run(self, args: CheckBackgroundArgs, ctx: ToolContext) -> ToolResult:
        root = jobs_dir_for(ctx.services)
        store = ctx.services.store
        if args.job_id is None:
            jobs = _all_jobs(root)
            if not jobs:
                return ToolResult("No background jobs.")
            for listed in jobs:
                _record_end(store, listed)
            return ToolResult("\n".join(listed.summary() for listed in jobs))
        job = _Job.load(root, args.job_id)
        if job is None:
            known = ", ".join(j.id for j in _all_jobs(root)) or "none"
            return ToolResult(
                f"Unknown background job {args.job_id!r} (known: {known}).", is_error=True
            )
        report = job.report(ctx.policy.max_output_bytes)
        if job.finished():
            job.mark_delivered()
            _record_end(store, job)
        return ToolResult(report)


def pending_job_notices(
    jobs_dir: Path, *, max_output_bytes: int = 16384, store: Store | None = None
) -> list[str]:
    """Reports of jobs that finished since they were last delivered, each returned once (also
    across processes: delivery is claimed by creating a marker file exclusively)."""
    if not jobs_dir.is_dir():
        return []
    notices = []
    for job in _all_jobs(jobs_dir):
        if job.finished() and job.mark_delivered():
            notices.append(f"Background job {job.id} finished.\n{job.report(max_output_bytes)}")
            _record_end(store, job)
    return notices


def job_outcome(job_dir: Path) -> tuple[str, int | None, datetime | None] | None:
    """``(status, exit code, finished at)`` of the job in ``job_dir`` as its files tell it
    (``running`` and ``starting`` while it runs); None when the directory holds no job."""
    job = _Job.load(job_dir.parent, job_dir.name)
    return job.outcome() if job is not None else None


def _record_end(store: Store | None, job: _Job) -> None:
    """Bring the store's record of a finished job up to date (a no-op while it runs, when it is
    already recorded as ended, or when there is no store or record)."""
    if store is None:
        return
    status, code, finished = job.outcome()
    if status not in _ENDED:  # running, starting
        return
    record = store.get_job(job.id)
    if record is None or record.status != "running":
        return
    store.finish_job(job.id, status=cast(JobStatus, status), exit_code=code, finished_at=finished)


async def _start_supervisor(job_dir: Path, env: dict[str, str]) -> None:
    with (job_dir / "supervisor.log").open("wb") as log:
        proc = await asyncio.create_subprocess_exec(
            sys.executable,
            "-I",  # isolated: stdlib only, no PYTHON* variables, no script dir on sys.path
            _RUNNER,
            str(job_dir),
            stdin=asyncio.subprocess.DEVNULL,
            stdout=log,
            stderr=log,
            env=env,
            start_new_session=True,
        )
        await proc.wait()  # returns at once: the supervisor detaches itself


class _Job:
    def __init__(self, directory: Path, meta: dict[str, Any]) -> None:
        self.dir = directory
        self.meta = meta
        self.id: str = meta["id"]

    @classmethod
    def load(cls, root: Path, job_id: str) -> _Job | None:
        if not job_id.startswith("job_") or not job_id[4:].isalnum():
            return None
        directory = root / job_id
        try:
            return cls(directory, json.loads((directory / "job.json").read_text()))
        except (OSError, ValueError, KeyError):
            return None

    def result(self) -> dict[str, Any] | None:
        try:
            data: dict[str, Any] = json.loads((self.dir / "result.json").read_text())
        except (OSError, ValueError):
            return None
        return data

    def outcome(self) -> tuple[str, int | None, datetime | None]:
        """``(status, exit code, finished at)`` as the job's files tell it."""
        result = self.result() or {}
        finished = result.get("finished_at")
        when = datetime.fromtimestamp(float(finished), UTC) if finished is not None else None
        code = result.get("exit_code")
        return self.state(), int(code) if code is not None else None, when

    def finished(self) -> bool:
        return self.state() not in ("running", "starting")

    def state(self) -> str:
        result = self.result()
        if result is not None:
            return str(result.get("status", "exited"))
        try:
            pid = int(json.loads((self.dir / "pid.json").read_text())["runner"])
        except (OSError, ValueError, KeyError):
            age = time.time() - float(self.meta.get("started_at", 0))
            return "starting" if age < STARTING_GRACE_SECONDS else "lost"
        return "running" if pid_alive(pid) else "lost"

    def summary(self) -> str:
        state = self.state()
        result = self.result() or {}
        code = f", exit code {result['exit_code']}" if result.get("exit_code") is not None else ""
        return f"{self.id}  {state}{code}  {self.meta.get('command', '')}"

    def report(self, max_output_bytes: int) -> str:
        state = self.state()
        result = self.result() or {}
        elapsed = (result.get("finished_at") or time.time()) - float(self.meta["started_at"])
        lines = [f"job {self.id}: {self.meta['command']}", f"status: {state} ({elapsed:.1f}s)"]
        if state == "timeout":
            lines[-1] += f"; killed after the {self.meta['timeout']:g}s background timeout"
        elif state == "lost":
            lines[-1] += "; its supervisor is gone (the machine or process was stopped)"
        if result.get("exit_code") is not None:
            lines.append(f"exit code: {result['exit_code']}")
        if result.get("error"):
            lines.append(f"error: {result['error']}")
        for name in ("stdout", "stderr"):
            text = _head_tail(self.dir / f"{name}.log", max_output_bytes)
            if text:
                lines.append(f"[{name}]\n{text.rstrip(chr(10))}")
        return "\n".join(lines)

    def mark_delivered(self) -> bool:
        """Claim delivery of this job's result; False when it was already delivered."""
        try:
            fd = os.open(self.dir / "delivered", os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600)
        except FileExistsError:
            return False
        os.close(fd)
        return True


def _all_jobs(root: Path) -> list[_Job]:
    jobs = [job for d in root.glob("job_*") if (job := _Job.load(root, d.name)) is not None]
    return sorted(jobs, key=lambda j: float(j.meta.get("started_at", 0)))


def _head_tail(path: Path, limit: int) -> str:
    try:
        size = path.stat().st_size
        with path.open("rb") as handle:
            if size <= limit:
                return handle.read().decode("utf-8", errors="replace")
            head = handle.read(limit // 2)
            handle.seek(size - (limit - limit // 2))
            tail = handle.read()
    except OSError:
        return ""
    cut = size - len(head) - len(tail)
    return (
        head.decode("utf-8", errors="replace")
        + f"\n[… {cut} bytes cut: {size} bytes in all]\n"
        + tail.decode("utf-8", errors="replace")
    )
