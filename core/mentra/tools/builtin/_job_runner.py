"""The detached supervisor of one background job: ``python -I _job_runner.py JOB_DIR``.

It outlives the mentra process that started it, so a job started before a resume can be checked
after it. It runs ``/bin/sh -c COMMAND`` in its own process group with output going to files in
the job directory, enforces the job's timeout (SIGTERM to the group, then SIGKILL), and writes
``result.json`` atomically when the command is done. Everything it needs is in ``job.json``; the
environment it was started with is the one the command gets. It imports only the standard
library, so it starts fast and needs no ``PYTHONPATH``.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

GRACE_SECONDS = 1.0


def write_json_atomic(path: Path, data: dict[str, Any]) -> None:
    temp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    temp.write_text(json.dumps(data, indent=1))
    temp.replace(path)


def _kill_group(pgid: int, sig: signal.Signals) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, sig)


def detach() -> None:
    """Fork so the starter's child exits at once and the supervisor is nobody's child."""
    if os.fork() > 0:
        os._exit(0)
    os.setsid()


def supervise(job_dir: Path) -> int:
    job = json.loads((job_dir / "job.json").read_text())
    timeout = float(job["timeout"])
    started = time.time()
    status = "exited"
    with (job_dir / "stdout.log").open("wb") as out, (job_dir / "stderr.log").open("wb") as err:
        try:
            proc = subprocess.Popen(
                ["/bin/sh", "-c", job["command"]],
                cwd=job["cwd"],
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=err,
                start_new_session=True,
            )
        except OSError as exc:
            write_json_atomic(
                job_dir / "result.json",
                {
                    "status": "failed",
                    "exit_code": None,
                    "error": str(exc),
                    "finished_at": time.time(),
                },
            )
            return 1
        write_json_atomic(job_dir / "pid.json", {"runner": os.getpid(), "pgid": proc.pid})

        def on_term(signum: int, frame: object) -> None:
            _kill_group(proc.pid, signal.SIGTERM)

        signal.signal(signal.SIGTERM, on_term)
        try:
            code: int | None = proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            status = "timeout"
            _kill_group(proc.pid, signal.SIGTERM)
            try:
                proc.wait(timeout=GRACE_SECONDS)
            except subprocess.TimeoutExpired:
                pass
            time.sleep(0.1)
            _kill_group(proc.pid, signal.SIGKILL)
            proc.wait()
            code = None
        if code is not None and code < 0 and status == "exited":
            status = "killed"
    write_json_atomic(
        job_dir / "result.json",
        {
            "status": status,
            "exit_code": code,
            "duration": round(time.time() - started, 3),
            "finished_at": time.time(),
        },
    )
    return 0


if __name__ == "__main__":  # pragma: no cover - exercised through real subprocesses
    detach()
    sys.exit(supervise(Path(sys.argv[1])))
