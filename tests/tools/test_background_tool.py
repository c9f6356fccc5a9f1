"""Background jobs: started by one process, checked and delivered in another."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from mentra.permissions.policy import RuntimePolicy
from mentra.store.base import AgentRecord
from mentra.store.in_memory import InMemoryStore
from mentra.tools.base import Tool, ToolContext, ToolResult
from mentra.tools.builtin.background import (
    BackgroundRunTool,
    CheckBackgroundTool,
    pending_job_notices,
)

Run = Callable[[Tool, dict[str, Any]], ToolResult]
start, check = BackgroundRunTool(), CheckBackgroundTool()


def _job_id(result: ToolResult) -> str:
    assert not result.is_error, result.content
    return result.content.split()[3].rstrip(":")


def _wait_finished(run: Run, job_id: str, timeout: float = 10) -> str:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        report = run(check, {"job_id": job_id}).content
        if "status: running" not in report and "status: starting" not in report:
            return report
        time.sleep(0.1)
    raise AssertionError(f"job {job_id} did not finish")


def test_job_runs_and_reports_once(run: Run, tmp_path: Path) -> None:
    job_id = _job_id(run(start, {"command": "echo hello; echo oops >&2; exit 4"}))
    report = _wait_finished(run, job_id)
    assert "status: exited" in report and "exit code: 4" in report
    assert "[stdout]\nhello" in report and "[stderr]\noops" in report
    # checked after it finished: already delivered, so no notice later
    assert pending_job_notices(tmp_path / "jobs") == []


def test_job_started_in_another_process_is_seen_after_resume(
    run: Run, tmp_path: Path, workspace: Path
) -> None:
    jobs = tmp_path / "jobs"
    script = textwrap.dedent(
        f"""
        import asyncio, json
        from pathlib import Path
        from mentra.permissions.policy import RuntimePolicy
        from mentra.tools.base import ToolContext
        from mentra.tools.builtin.background import BackgroundRunTool
        tool = BackgroundRunTool()
        ctx = ToolContext(policy=RuntimePolicy(working_dir=Path({str(workspace)!r})),
                          services={{"jobs_dir": {str(jobs)!r}}})
        result = asyncio.run(tool.run(tool.parse_input({{"command": "sleep 0.5; echo late"}}), ctx))
        print(json.dumps(result.content))
        """
    )
    out = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, check=True, timeout=30
    )
    job_id = json.loads(out.stdout).split()[3].rstrip(":")
    # the starting process is gone; this one sees the job, then its result once
    assert job_id in run(check, {}).content
    deadline = time.monotonic() + 10
    notices: list[str] = []
    while not notices and time.monotonic() < deadline:
        notices = pending_job_notices(jobs)
        time.sleep(0.1)
    assert len(notices) == 1 and job_id in notices[0] and "late" in notices[0]
    assert pending_job_notices(jobs) == []


def test_job_ids_are_unique(run: Run) -> None:
    ids = {_job_id(run(start, {"command": "true"})) for _ in range(5)}
    assert len(ids) == 5


def test_job_limit_and_timeout_are_their_own(run: Run, policy: RuntimePolicy) -> None:
    policy.background_jobs = 1
    policy.background_timeout = 0.5
    policy.command_timeout = 0.1  # the foreground timeout does not apply to jobs
    first = _job_id(run(start, {"command": "trap '' TERM; sleep 30"}))
    refused = run(start, {"command": "true"})
    assert refused.is_error and "limit reached" in refused.content and first in refused.content
    report = _wait_finished(run, first)
    assert "status: timeout" in report and "0.5s background timeout" in report
    assert not run(start, {"command": "true"}).is_error


def test_unknown_job(run: Run) -> None:
    result = run(check, {"job_id": "job_doesnotexist"})
    assert result.is_error and "Unknown background job" in result.content
    assert run(check, {"job_id": "../../etc"}).is_error


def test_jobs_are_recorded_in_the_agents_store(run: Run, ctx: ToolContext) -> None:
    store = InMemoryStore()
    store.create_agent(
        AgentRecord(id="ag1", name="a", model="scripted:x", workspace="/w", config={})
    )
    ctx.services.store, ctx.agent_id = store, "ag1"
    job_id = _job_id(run(start, {"command": "exit 5"}))
    (record,) = store.list_jobs("ag1")
    assert (record.id, record.command, record.status) == (job_id, "exit 5", "running")
    assert ctx.services.jobs_dir is not None
    assert record.output_path == str(ctx.services.jobs_dir / job_id)
    _wait_finished(run, job_id)  # check_background saw it end: the record follows
    ended = store.get_job(job_id)
    assert ended is not None and (ended.status, ended.exit_code) == ("exited", 5)
    assert ended.finished_at is not None and ended.started_at is not None
    assert ended.finished_at >= ended.started_at


def test_every_ended_job_status_is_a_store_status() -> None:
    from typing import get_args

    from mentra.store.base import JobStatus
    from mentra.tools.builtin.background import _ENDED

    assert set(_ENDED) == set(get_args(JobStatus)) - {"running"}
