"""mentra beside its peers: every scenario of issue 7 in one run, printed as one table.

    python benchmarks/run.py            everything (sets up benchmarks/.peers/venv if missing)
    python benchmarks/run.py --quick    mentra's own scenarios and the raw-httpx floor only

A fake provider server (benchmarks/fake_server.py) is started on 127.0.0.1 for the run; every
subject talks to it. Whole-process figures are timed with hyperfine when it is installed
(else repeated subprocess timing); in-process figures come from the drivers in
benchmarks/peers/ (one JSON line of samples each). Peak RSS comes from ``/usr/bin/time -v``
(else ``getrusage`` of a child). Anything that cannot run prints ``n/a (reason)``.
The table is also written to benchmarks/results/latest.md.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import re
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
PEERS_DIR = HERE / "peers"
MENTRA_VENV = ROOT / ".venv"
MENTRA_PY = MENTRA_VENV / "bin" / "python"
MENTRA_BIN = MENTRA_VENV / "bin" / "mentra"
PEERS_VENV = HERE / ".peers" / "venv"
PEERS_PY = PEERS_VENV / "bin" / "python"
RESULTS = HERE / "results"
TIME_BIN = Path("/usr/bin/time")

ROUNDS_N = 20  # tool rounds per timed run in the per-round scenario
DELTAS_M = 20_000
RESUME_ITEMS = 10_000
PEERS = ("llm", "pydantic-ai", "openai-agents")
TIMES = "\N{MULTIPLICATION SIGN}"
DASH = "\N{EN DASH}"
DRIVER_TIMEOUT = 300.0


def log(msg: str) -> None:
    print(f"bench: {msg}", file=sys.stderr, flush=True)


# ------------------------------------------------------------------------------ results ----


@dataclass
class Row:
    scenario: str
    subject: str
    unit: str
    samples: list[float] = field(default_factory=list)
    na: str | None = None
    role: str = "peer"  # mentra | floor | peer | info
    target: float | None = None
    note: str = ""
    at_least: bool = False  # the target is a floor (a speed-up), not a ceiling

    @property
    def median(self) -> float | None:
        return statistics.median(self.samples) if self.samples and not self.na else None


@dataclass
class Scenario:
    title: str
    unit: str
    target_text: str
    rows: list[Row] = field(default_factory=list)

    def add(self, row: Row) -> Row:
        self.rows.append(row)
        return row

    def primary(self, role: str) -> Row | None:
        """The first measured row of ``role`` (``mentra`` also takes ``mentra-extra`` rows)."""
        return next(
            (r for r in self.rows if r.role.startswith(role) and r.median is not None), None
        )


def _fmt(value: float | None, unit: str) -> str:
    if value is None:
        return "\N{EN DASH}"
    if unit == "MB":
        return f"{value:.0f} MB" if value >= 10 else f"{value:.1f} MB"
    if unit in ("ms", "us"):
        sym = "ms" if unit == "ms" else "µs"
        if value >= 1000:
            return f"{value:,.0f} {sym}"
        if value >= 100:
            return f"{value:.0f} {sym}"
        if value >= 10:
            return f"{value:.1f} {sym}"
        return f"{value:.2f} {sym}"
    if unit == "x":
        return f"{value:.2f}\N{MULTIPLICATION SIGN}"
    return f"{value:.3g} {unit}"


def _ratio(a: float | None, b: float | None) -> str:
    if a is None or b is None or b == 0:
        return "\N{EN DASH}"
    r = a / b
    return f"{r:.2f}\N{MULTIPLICATION SIGN}" if r < 10 else f"{r:.0f}\N{MULTIPLICATION SIGN}"


def render(scenarios: list[Scenario]) -> str:
    cols = ["scenario", "subject", "median", f"min{DASH}max", f"{TIMES} floor", "mentra ÷ this"]
    head = "| " + " | ".join([*cols, "target"]) + " |\n" + "|---" * (len(cols) + 1) + "|"
    lines = [head]
    for sc in scenarios:
        floor = sc.primary("floor")
        mentra = sc.primary("mentra")
        first = True
        for row in sc.rows:
            title = f"**{sc.title}**" if first else ""
            first = False
            subject = row.subject + (f" ({row.note})" if row.note else "")
            if row.na:
                lines.append(f"| {title} | {subject} | n/a ({clean(row.na)}) | | | | |")
                continue
            med = row.median
            lo, hi = min(row.samples), max(row.samples)
            spread = (
                f"{_fmt(lo, row.unit)} \N{EN DASH} {_fmt(hi, row.unit)}"
                if len(row.samples) > 1
                else "1 run"
            )
            x_floor = (
                "1\N{MULTIPLICATION SIGN}" if row is floor else _ratio(med, floor and floor.median)
            )
            vs = "\N{EN DASH}"
            if mentra is not None and not row.role.startswith("mentra"):
                vs = _ratio(mentra.median, med)
            target = ""
            if row.target is not None and med is not None:
                ok = med >= row.target if row.at_least else med <= row.target
                sign = "≥" if row.at_least else "≤"
                target = f"{sign} {_fmt(row.target, row.unit)} {'✓' if ok else '✗'}"
            lines.append(
                f"| {title} | {subject} | {_fmt(med, row.unit)} | {spread} | {x_floor} | {vs} "
                f"| {target} |"
            )
    return "\n".join(lines)


# ----------------------------------------------------------------------------- the server ----


class FakeServer:
    def __init__(self) -> None:
        py = str(MENTRA_PY) if MENTRA_PY.exists() else sys.executable
        self.proc = subprocess.Popen(
            [py, str(HERE / "fake_server.py"), "--port", "0"],
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
        )
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline()
        if not line.startswith("PORT "):
            self.proc.kill()
            raise SystemExit("bench: the fake server did not start")
        self.port = int(line.split()[1])
        self.base = f"http://127.0.0.1:{self.port}"
        self.v1 = f"{self.base}/v1"

    def _call(self, path: str, method: str = "GET") -> dict[str, Any]:
        req = urllib.request.Request(
            self.base + path, method=method, data=b"" if method == "POST" else None
        )
        with urllib.request.urlopen(req, timeout=10) as resp:  # loopback only
            data: dict[str, Any] = json.loads(resp.read() or b"{}")
            return data

    def reset(self) -> None:
        self._call("/bench/reset", "POST")

    def stats(self) -> dict[str, Any]:
        return self._call("/bench/stats")

    def close(self) -> None:
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(5)
        except subprocess.TimeoutExpired:
            self.proc.kill()


# ------------------------------------------------------------------------- measurement ----


def _env(extra: dict[str, str] | None = None) -> dict[str, str]:
    env = {
        k: v for k, v in os.environ.items() if not k.endswith("_API_KEY") and k != "OPENAI_BASE_URL"
    }
    env.update(
        OPENAI_API_KEY="dummy",
        BENCH_KEY="dummy",
        OPENAI_AGENTS_DISABLE_TRACING="1",
        NO_PROXY="127.0.0.1,localhost",
        no_proxy="127.0.0.1,localhost",
    )
    for proxy in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "https_proxy"):
        env.pop(proxy, None)
    env.update(extra or {})
    return env


def _event_ms(event: dict[str, Any]) -> float:
    """An event's ``ts`` (RFC 3339, milliseconds) in milliseconds since the epoch."""
    stamp = datetime.fromisoformat(event["ts"].replace("Z", "+00:00"))
    return stamp.timestamp() * 1000


def _why(proc: subprocess.CompletedProcess[str]) -> str:
    """The gist of a failure: the exit code and the last meaningful line of its output."""
    lines = [
        line.strip()
        for line in (proc.stderr or proc.stdout or "").splitlines()
        if line.strip() and not line.startswith("\t") and not line.startswith("Command ")
    ]
    last = lines[-1] if lines else ""
    return clean(f"exit {proc.returncode}: {last}" if last else f"exit {proc.returncode}")


def clean(reason: str, width: int = 90) -> str:
    """One short table-safe line."""
    reason = " ".join(reason.replace("|", "/").split())
    return reason if len(reason) <= width else reason[: width - 1] + "\N{HORIZONTAL ELLIPSIS}"


def check_once(cmd: list[str], env: dict[str, str], cwd: Path, timeout: float = 120) -> str | None:
    """Run ``cmd`` once (a warm-up); the reason it failed, or None."""
    try:
        proc = subprocess.run(
            cmd, env=env, cwd=cwd, capture_output=True, text=True, timeout=timeout, check=False
        )
    except subprocess.TimeoutExpired:
        return f"timed out after {timeout:.0f} s"
    except OSError as exc:
        return str(exc)
    return None if proc.returncode == 0 else _why(proc)


def time_process(cmd: list[str], env: dict[str, str], cwd: Path, runs: int) -> list[float]:
    """Wall times (ms) of ``runs`` runs of ``cmd``; hyperfine when installed. The caller has
    already run it once (`check_once`), which is the warm-up."""
    hyperfine = shutil.which("hyperfine")
    if hyperfine:
        with tempfile.NamedTemporaryFile(suffix=".json", delete=False) as tmp:
            out = Path(tmp.name)
        try:
            proc = subprocess.run(
                [
                    hyperfine,
                    "-N",
                    "--style",
                    "none",
                    "--runs",
                    str(runs),
                    "--export-json",
                    str(out),
                    subprocess.list2cmdline(cmd),
                ],
                env=env,
                cwd=cwd,
                capture_output=True,
                text=True,
                check=False,
            )
            if proc.returncode == 0:
                data = json.loads(out.read_text())
                return [t * 1000 for t in data["results"][0]["times"]]
        finally:
            out.unlink(missing_ok=True)
    samples = []
    for _ in range(runs):
        t0 = time.perf_counter()
        subprocess.run(cmd, env=env, cwd=cwd, capture_output=True, check=False)
        samples.append((time.perf_counter() - t0) * 1000)
    return samples


def peak_rss_mb(cmd: list[str], env: dict[str, str], cwd: Path) -> tuple[float | None, str | None]:
    if TIME_BIN.exists():
        proc = subprocess.run(
            [str(TIME_BIN), "-v", *cmd],
            env=env,
            cwd=cwd,
            capture_output=True,
            text=True,
            check=False,
            timeout=DRIVER_TIMEOUT,
        )
        if proc.returncode != 0:
            return None, _why(proc)
        for line in proc.stderr.splitlines():
            if "Maximum resident set size" in line:
                return int(line.rsplit(":", 1)[1]) / 1024, None
        return None, "no RSS in /usr/bin/time output"
    code = (
        "import resource, subprocess, sys\n"
        "r = subprocess.run(sys.argv[1:], capture_output=True)\n"
        "print(r.returncode, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)\n"
    )
    proc = subprocess.run(
        [sys.executable, "-c", code, *cmd], env=env, cwd=cwd, capture_output=True, text=True
    )
    rc, kb = proc.stdout.split()
    if rc != "0":
        return None, f"exit {rc}"
    return int(kb) / 1024, None


def run_driver(
    py: Path,
    driver: str,
    scenario: str,
    base: str,
    *,
    repeat: int,
    n: int = ROUNDS_N,
    m: int = DELTAS_M,
    env: dict[str, str],
    cwd: Path,
) -> tuple[list[float], str | None]:
    cmd = [
        str(py),
        str(PEERS_DIR / driver),
        scenario,
        "--base-url",
        base,
        "--repeat",
        str(repeat),
        "--n",
        str(n),
        "--m",
        str(m),
    ]
    try:
        proc = subprocess.run(
            cmd, env=env, cwd=cwd, capture_output=True, text=True, timeout=DRIVER_TIMEOUT
        )
    except subprocess.TimeoutExpired:
        return [], f"timed out after {DRIVER_TIMEOUT:.0f} s"
    if proc.returncode != 0:
        return [], _why(proc)
    try:
        data = json.loads(proc.stdout.strip().splitlines()[-1])
        return [float(x) for x in data["samples"]], None
    except (ValueError, KeyError, IndexError):
        return [], "driver printed no samples"


# ------------------------------------------------------------------------------ subjects ----


@dataclass
class Subject:
    """One way of running one contender: its interpreter and how each scenario is invoked."""

    name: str
    role: str
    py: Path
    driver: str | None  # benchmarks/peers/<driver> for the in-process scenarios
    missing: str | None = None
    env: dict[str, str] = field(default_factory=dict)


class Bench:
    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args
        self.quick: bool = args.quick
        self.repeat: int = args.repeat or (3 if self.quick else 5)
        self.proc_runs: int = args.runs or (5 if self.quick else 10)
        self.only: set[str] = set(args.only.split(",")) if args.only else set()
        self.tmp = Path(tempfile.mkdtemp(prefix="mentra-bench-"))
        self.server = FakeServer()
        self.scenarios: list[Scenario] = []
        self.extra_sections: list[str] = []
        self.server_costs: dict[str, dict[str, Any]] = {}
        self.mentra_missing = None if MENTRA_BIN.exists() else "no .venv/bin/mentra (make install)"
        self._write_configs()

    # -- fixtures ----------------------------------------------------------------------------

    def _write_configs(self) -> None:
        v1 = self.server.v1
        self.workspace = self.tmp / "ws"
        self.workspace.mkdir()
        providers = (
            "providers:\n"
            f'  openai: {{base_url: "{v1}"}}\n'
            f'  bchat: {{wire: openai-chat, base_url: "{v1}", api_key_env: BENCH_KEY}}\n'
        )
        self.cfg0 = self.tmp / "oneshot.yaml"
        self.cfg0.write_text(providers)
        self.cfg_par = self.tmp / "parallel.yaml"
        self.cfg_par.write_text(
            providers + "tools:\n"
            "  only: [bench_sleep]\n"
            "  custom:\n"
            "    - name: bench_sleep\n"
            "      description: Sleep half a second.\n"
            '      command: ["sleep", "0.5"]\n'
            "      input_schema: {type: object, properties: {i: {type: integer}}}\n"
            "      mutates: false\n"
            "permissions: {mode: bypass}\n"
        )
        # llm reads extra OpenAI-compatible models from LLM_USER_PATH
        self.llm_home = self.tmp / "llm"
        self.llm_home.mkdir()
        ids = {f"bench-n0-m{m}" for m in (1, 8, DELTAS_M)} | {
            "bench-n1-m1",
            f"bench-n{ROUNDS_N}-m1",
            "bench-n1-m1-p8",
        }
        self.llm_home.joinpath("extra-openai-models.yaml").write_text(
            "".join(
                f"- model_id: {i}\n  model_name: {i}\n  api_base: {v1}\n"
                "  supports_tools: true\n  api_key_name: bench\n"
                for i in sorted(ids)
            )
        )

    def subjects(self) -> list[Subject]:
        subs = [
            Subject("mentra", "mentra", MENTRA_PY, "drv_mentra.py", self.mentra_missing),
            Subject("floor: raw httpx", "floor", MENTRA_PY, "drv_raw_httpx.py"),
        ]
        if self.quick:
            return subs
        peers_missing = None if PEERS_PY.exists() else "peers venv missing (setup_peers.sh failed)"
        installed = self._peer_versions()
        for name, driver, pkg in (
            ("llm", "drv_llm.py", "llm"),
            ("pydantic-ai", "drv_pydantic_ai.py", "pydantic-ai-slim"),
            ("openai-agents", "drv_openai_agents.py", "openai-agents"),
        ):
            missing = peers_missing or (None if pkg in installed else f"{pkg} not installed")
            label = f"{name} {installed.get(pkg, '')}".strip()
            env = {"LLM_USER_PATH": str(self.llm_home)} if name == "llm" else {}
            subs.append(Subject(label, "peer", PEERS_PY, driver, missing, env))
        return subs

    def _peer_versions(self) -> dict[str, str]:
        if not PEERS_PY.exists():
            return {}
        proc = subprocess.run(
            [str(PEERS_PY), "-m", "pip", "list", "--format", "json", "--disable-pip-version-check"],
            capture_output=True,
            text=True,
            check=False,
        )
        try:
            return {
                p["name"].lower().replace("_", "-"): p["version"] for p in json.loads(proc.stdout)
            }
        except ValueError:
            return {}

    # -- helpers -----------------------------------------------------------------------------

    def env(self, extra: dict[str, str] | None = None) -> dict[str, str]:
        return _env(extra)

    def mentra_run_cmd(self, provider: str, model: str, cfg: Path, *extra: str) -> list[str]:
        return [
            str(MENTRA_BIN),
            "run",
            "-c",
            str(cfg),
            "-m",
            f"{provider}:{model}",
            "--no-user-config",
            *extra,
            "hello",
        ]

    def process_row(
        self,
        sc: Scenario,
        subject: str,
        role: str,
        cmd: list[str] | None,
        *,
        missing: str | None = None,
        env: dict[str, str] | None = None,
        target: float | None = None,
        runs: int | None = None,
        note: str = "",
    ) -> Row:
        row = sc.add(Row(sc.title, subject, "ms", role=role, target=target, note=note))
        if missing or cmd is None:
            row.na = missing or "not available"
            return row
        e = self.env(env)
        why = check_once(cmd, e, self.workspace)
        if why:
            row.na = why
            return row
        row.samples = time_process(cmd, e, self.workspace, runs or self.proc_runs)
        log(f"{sc.title} / {subject}: {statistics.median(row.samples):.1f} ms")
        return row

    def driver_row(
        self,
        sc: Scenario,
        sub: Subject,
        scenario: str,
        *,
        target: float | None = None,
        repeat: int | None = None,
        env: dict[str, str] | None = None,
        note: str = "",
        subject: str | None = None,
    ) -> Row:
        row = sc.add(
            Row(sc.title, subject or sub.name, sc.unit, role=sub.role, target=target, note=note)
        )
        if sub.missing or sub.driver is None:
            row.na = sub.missing or "no driver"
            return row
        self.server.reset()
        samples, why = run_driver(
            sub.py,
            sub.driver,
            scenario,
            self.server.v1,
            repeat=repeat or self.repeat,
            env=self.env({**sub.env, **(env or {})}),
            cwd=self.workspace,
        )
        stats = self.server.stats()
        self.server_costs[f"{scenario}/{row.subject}"] = stats
        if why:
            row.na = why
        else:
            row.samples = samples
            log(f"{sc.title} / {row.subject}: {statistics.median(samples):.2f} {sc.unit}")
            if scenario == "rounds" and stats.get("requests"):
                conns = max(int(stats.get("connections", 1)) - 1, 0)  # minus the stats call
                reuse = (
                    f"{conns} TCP connection{'s' * (conns != 1)} for {stats['requests']} requests"
                )
                row.note = f"{row.note}; {reuse}" if row.note else reuse
        return row

    # -- scenarios ---------------------------------------------------------------------------

    def cold_start(self) -> None:
        sc = Scenario("cold start", "ms", "`--version` ≤ 100 ms, `--help` ≤ 200 ms")
        self.scenarios.append(sc)
        m = self.mentra_missing
        self.process_row(
            sc, "mentra --version", "mentra", [str(MENTRA_BIN), "--version"], missing=m, target=100
        )
        self.process_row(
            sc, "mentra --help", "mentra-extra", [str(MENTRA_BIN), "--help"], missing=m, target=200
        )
        self.process_row(sc, "floor: python -c pass", "floor", [str(MENTRA_PY), "-c", "pass"])
        self.process_row(
            sc,
            "floor: import typer, rich, httpx, pydantic, yaml",
            "info",
            [str(MENTRA_PY), "-c", "import typer, rich, httpx, pydantic, yaml"],
        )
        if self.quick:
            return
        for sub in self.subjects()[2:]:
            if sub.name.startswith("llm"):
                cmd = [str(PEERS_VENV / "bin" / "llm"), "--version"]
                label = f"{sub.name}: llm --version"
            elif sub.name.startswith("pydantic-ai"):
                cmd = [str(PEERS_PY), "-c", "import pydantic_ai"]
                label = f"{sub.name}: import pydantic_ai"
            else:
                cmd = [str(PEERS_PY), "-c", "import agents"]
                label = f"{sub.name}: import agents"
            runs = max(3, self.proc_runs // 2)
            self.process_row(sc, label, "peer", cmd, missing=sub.missing, env=sub.env, runs=runs)

    def one_shot(self) -> None:
        sc = Scenario("one-shot run, no tool round, streaming, whole process", "ms", "≤ 200 ms")
        self.scenarios.append(sc)
        m = self.mentra_missing
        self.process_row(
            sc,
            "mentra run (openai, Responses)",
            "mentra",
            self.mentra_run_cmd("openai", "bench-n0-m8", self.cfg0, "--ephemeral"),
            missing=m,
            target=200,
        )
        self.process_row(
            sc,
            "mentra run (openai-chat wire)",
            "mentra-extra",
            self.mentra_run_cmd("bchat", "bench-n0-m8", self.cfg0, "--ephemeral"),
            missing=m,
            target=200,
        )
        store = self.tmp / "oneshot-store.db"
        self.process_row(
            sc,
            "mentra run --store (SQLite)",
            "mentra-extra",
            self.mentra_run_cmd("openai", "bench-n0-m8", self.cfg0, "--store", str(store)),
            missing=m,
            target=200,
        )
        for sub in self.subjects()[1:]:
            if sub.name.startswith("llm"):
                cmd = [str(PEERS_VENV / "bin" / "llm"), "-m", "bench-n0-m8", "hello"]
                label = f"{sub.name} (CLI)"
            else:
                cmd = self._driver_cmd(sub, "oneshot", 8)
                label = sub.name
            self.process_row(
                sc,
                label,
                sub.role,
                cmd,
                missing=sub.missing,
                env=sub.env,
                runs=max(3, self.proc_runs // 2),
            )

    def _driver_cmd(self, sub: Subject, scenario: str, m: int) -> list[str]:
        assert sub.driver is not None
        return [
            str(sub.py),
            str(PEERS_DIR / sub.driver),
            scenario,
            "--base-url",
            self.server.v1,
            "--m",
            str(m),
        ]

    def per_round(self) -> None:
        sc = Scenario("cost per tool round (streaming), in-process", "ms", "≤ 2 ms")
        self.scenarios.append(sc)
        for sub in self.subjects():
            target = 2.0 if sub.role == "mentra" else None
            note = "SQLite store commit included" if sub.role == "mentra" else ""
            self.driver_row(sc, sub, "rounds", target=target, note=note)
            if sub.role == "mentra" and not self.quick:
                self.driver_row(
                    sc,
                    sub,
                    "rounds",
                    env={"BENCH_MENTRA_STORE": "memory"},
                    subject="mentra",
                    note="in-memory store",
                )

    def per_delta(self) -> None:
        sc = Scenario(f"consuming a {DELTAS_M:,}-delta stream, per delta", "us", "≤ 10 µs")
        self.scenarios.append(sc)
        for sub in self.subjects():
            target = 10.0 if sub.role == "mentra" else None
            note = "every delta as an event" if sub.role == "mentra" else ""
            repeat = 3 if sub.role == "peer" else self.repeat
            self.driver_row(sc, sub, "stream", target=target, repeat=repeat, note=note)
            if sub.role == "mentra":
                self.driver_row(
                    sc,
                    sub,
                    "stream",
                    env={"BENCH_MENTRA_DELTAS": "0"},
                    note="no delta events, as `mentra run` without --include-deltas",
                )

    def peak_memory(self) -> None:
        for m, title in (
            (8, "peak RSS, 0-round run"),
            (DELTAS_M, f"peak RSS, {DELTAS_M:,}-delta run"),
        ):
            sc = Scenario(title, "MB", "≤ 40 MB, flat as the stream grows")
            self.scenarios.append(sc)
            for sub in self.subjects():
                row = sc.add(Row(title, sub.name, "MB", role=sub.role))
                if sub.role == "mentra":
                    row.target = 40
                    row.subject = "mentra run (whole process)"
                    if sub.missing:
                        row.na = sub.missing
                        continue
                    cmd = self.mentra_run_cmd("openai", f"bench-n0-m{m}", self.cfg0, "--ephemeral")
                elif sub.missing:
                    row.na = sub.missing
                    continue
                elif sub.name.startswith("llm"):
                    cmd = [str(PEERS_VENV / "bin" / "llm"), "-m", f"bench-n0-m{m}", "hello"]
                    row.note = "CLI"
                else:
                    cmd = self._driver_cmd(sub, "oneshot", m)
                rss, why = peak_rss_mb(cmd, self.env(sub.env), self.workspace)
                if why:
                    row.na = why
                else:
                    row.samples = [rss] if rss is not None else []
                    log(f"{title} / {row.subject}: {rss:.1f} MB")

    def parallel(self) -> None:
        sc = Scenario("one round of 8 parallel 0.5 s tools", "ms", "≤ 530 ms")
        self.scenarios.append(sc)
        ideal = sc.add(Row(sc.title, "ideal", "ms", role="info", samples=[500.0]))
        ideal.note = "one tool's time"
        for sub in self.subjects():
            target = 530.0 if sub.role == "mentra" else None
            note = "in-process, thread tools" if sub.role == "mentra" else ""
            self.driver_row(sc, sub, "parallel", target=target, note=note)
            if sub.role == "mentra":
                self.process_row(
                    sc,
                    "mentra run, YAML command tools",
                    "mentra-extra",
                    self.mentra_run_cmd("openai", "bench-n1-m1-p8", self.cfg_par, "--ephemeral"),
                    missing=sub.missing,
                    target=530,
                    runs=2 if self.quick else self.repeat,
                    note="whole process, start-up included",
                )
        external = HERE / "parallel_tools.py"
        if external.exists():
            self._external(external, "parallel_tools.py")

    def resume(self) -> None:
        sc = Scenario(
            f"resume of an agent with {RESUME_ITEMS:,} items, to first request", "ms", "≤ 300 ms"
        )
        self.scenarios.append(sc)
        row = sc.add(Row(sc.title, "mentra resume", "ms", role="mentra", target=300))
        if self.mentra_missing:
            row.na = self.mentra_missing
            return
        store = self.tmp / "resume.db"
        proc = subprocess.run(
            [
                str(MENTRA_PY),
                str(HERE / "resume_fixture.py"),
                str(store),
                str(self.workspace),
                "--items",
                str(RESUME_ITEMS),
                "--base-url",
                self.server.v1,
            ],
            capture_output=True,
            text=True,
            check=False,
            env=self.env(),
        )
        if proc.returncode != 0:
            row.na = f"fixture: {_why(proc)}"
            return
        agent_id = proc.stdout.strip().splitlines()[-1]
        cmd = [
            str(MENTRA_BIN),
            "resume",
            agent_id,
            "--store",
            str(store),
            "--no-user-config",
            "-m",
            "openai:bench-n0-m1",
            "continue",
        ]
        samples = []
        for _ in range((2 if self.quick else self.repeat) + 1):
            self.server.reset()
            t0 = time.time()
            done = subprocess.run(
                cmd,
                env=self.env(),
                cwd=self.workspace,
                capture_output=True,
                text=True,
                check=False,
                timeout=120,
            )
            first = self.server.stats().get("first_request_ts")
            if done.returncode != 0:
                row.na = _why(done)
                return
            if first is None:
                row.na = "no request reached the server"
                return
            samples.append((first - t0) * 1000)
        row.samples = samples[1:]  # the first run warms the page cache
        log(f"resume: {statistics.median(row.samples):.1f} ms")
        # What the prescribed stack costs before any work: typer 0.29 parses arguments with
        # pydantic TypeAdapters, and httpx's async pool runs on anyio's asyncio backend.
        self.process_row(
            sc,
            "floor: python importing typer (pydantic-based parsing), httpx + its asyncio "
            "backend, sqlite3; no work",
            "info",
            [
                str(MENTRA_PY),
                "-c",
                "import typer._adapters, pydantic, httpx, anyio._backends._asyncio, sqlite3",
            ],
        )

    def turns(self) -> None:
        """Three turns of one agent: one `--input-format jsonl` process against `run` then two
        `resume` processes (what a shell loop does without it). Wall time of all three."""
        sc = Scenario(
            "three turns of one agent, whole processes", "ms", f"one JSONL stream ≥ 3{TIMES} faster"
        )
        self.scenarios.append(sc)
        stream = sc.add(Row(sc.title, "mentra run --input-format jsonl (1 process)", "ms",
                            role="mentra"))  # fmt: skip
        apart = sc.add(Row(sc.title, f"mentra run + 2 {TIMES} mentra resume (3 processes)", "ms",
                           role="info"))  # fmt: skip
        speedup = sc.add(Row(sc.title, "speed-up: 3 processes ÷ 1 stream", "x", role="mentra-extra",
                             target=3.0, at_least=True))  # fmt: skip
        # Why the speed-up stays under 3x: the stream IS a `run` process plus two later turns,
        # so 3 processes ÷ 1 stream = (run + 2 resume) ÷ (run + 2 later turns), which is 3x
        # only if a later turn cost nothing or a resume process more than a run process
        later = sc.add(Row(sc.title, "a later turn inside the stream (its events' clock)", "ms",
                           role="mentra-extra"))  # fmt: skip
        ceiling = sc.add(Row(sc.title, "ceiling, later turns free: 3 processes ÷ (stream - them)",
                             "x", role="mentra-extra"))  # fmt: skip
        rows = (stream, apart, speedup, later, ceiling)
        if self.mentra_missing:
            for row in rows:
                row.na = self.mentra_missing
            return
        store = str(self.tmp / "turns.db")
        base = [str(MENTRA_BIN), "-c", str(self.cfg0), "-m", "openai:bench-n0-m8",
                "--no-user-config", "--store", store]  # fmt: skip
        lines = "".join(json.dumps({"type": "user", "text": t}) + "\n" for t in ("a", "b", "c"))

        def timed(cmd: list[str], stdin: str | None = None) -> tuple[float, str]:
            t0 = time.perf_counter()
            done = subprocess.run(
                cmd, input=stdin, env=self.env(), cwd=self.workspace,
                capture_output=True, text=True, check=False, timeout=120,
                stdin=None if stdin is not None else subprocess.DEVNULL,
            )  # fmt: skip
            if done.returncode != 0:
                raise RuntimeError(_why(done))
            return (time.perf_counter() - t0) * 1000, done.stdout

        def separate() -> float:
            first, out = timed([base[0], "run", *base[1:], "a"])
            agent = json.loads(out.splitlines()[0])["agent_id"]
            rest = [timed([base[0], "resume", agent, *base[1:], t])[0] for t in ("b", "c")]
            return first + sum(rest)

        def streamed() -> tuple[float, float]:
            """The stream's wall time, and what one later turn added to it: the time from the
            first turn's run_finished to the third's, halved (one process's clock, so free of
            the spread between processes)."""
            ms, out = timed([base[0], "run", *base[1:], "--input-format", "jsonl"], lines)
            ends = [_event_ms(e) for e in map(json.loads, out.splitlines())
                    if e["type"] == "run_finished"]  # fmt: skip
            return ms, (ends[-1] - ends[0]) / (len(ends) - 1)

        # the two ways take turns, sample by sample, so a slow spell of the machine (the
        # ratio's margin is a few percent of a process start) falls on both alike
        runs = 5 if self.quick else self.repeat + 2
        try:
            streamed(), separate()  # warm the page cache for both
            for _ in range(runs):
                ms, turn_ms = streamed()
                stream.samples.append(ms)
                later.samples.append(turn_ms)
                apart.samples.append(separate())
        except (RuntimeError, subprocess.TimeoutExpired) as exc:
            for row in rows:
                row.na = str(exc)
            return
        streamed_ms, apart_ms, turn_ms = stream.median, apart.median, later.median
        assert streamed_ms is not None and apart_ms is not None and turn_ms is not None
        speedup.samples = [apart_ms / streamed_ms]
        ceiling.samples = [apart_ms / (streamed_ms - 2 * turn_ms)]
        log(f"three turns: {stream.median:.0f} ms streamed, {apart.median:.0f} ms apart")

    def store_growth(self) -> None:
        sc = Scenario(
            "store cost per round as history grows",
            "x",
            "rounds 900\N{EN DASH}1000 within 1.5\N{MULTIPLICATION SIGN} of rounds 1\N{EN DASH}100",
        )
        self.scenarios.append(sc)
        script = HERE / "store_growth.py"
        if not script.exists():
            sc.add(
                Row(
                    sc.title,
                    "mentra",
                    "x",
                    role="mentra",
                    na="benchmarks/store_growth.py not present yet",
                )
            )
            return
        self._external(script, "store_growth.py", sc)

    def _external(self, script: Path, name: str, sc: Scenario | None = None) -> None:
        """Run another engineer's benchmark script; keep its output, and a ratio if it gives one."""
        try:
            proc = subprocess.run(
                [str(MENTRA_PY), str(script)],
                env=self.env(),
                cwd=ROOT,
                capture_output=True,
                text=True,
                timeout=DRIVER_TIMEOUT,
                check=False,
            )
        except subprocess.TimeoutExpired:
            if sc is not None:
                sc.add(Row(sc.title, "mentra", "x", role="mentra", na=f"{name} timed out"))
            return
        out = proc.stdout.strip()
        self.extra_sections.append(f"### {name}\n\n```\n{out or proc.stderr.strip()}\n```\n")
        if sc is None:
            return
        if proc.returncode != 0:
            sc.add(Row(sc.title, "mentra", "x", role="mentra", na=f"{name}: {_why(proc)}"))
            return
        for label, value in re.findall(r"mean per round, (rounds [0-9-]+):\s*([0-9.]+) us", out):
            sc.add(
                Row(
                    sc.title,
                    f"mentra: commit_round, mean of {label.replace('-', DASH)}",
                    "us",
                    role="mentra-extra",
                    samples=[float(value)],
                    note="SQLite",
                )
            )
        ratio = _find_ratio(out)
        if ratio is None:
            sc.add(Row(sc.title, "mentra", "x", role="mentra", na=f"see {name} output below"))
        else:
            sc.add(
                Row(
                    sc.title,
                    "mentra: late ÷ early rounds",
                    "x",
                    role="mentra",
                    samples=[ratio],
                    target=1.5,
                )
            )

    def memory_search(self) -> None:
        """benchmarks/memory_search.py: median `memory_search` over 10,000 records."""
        sc = Scenario("memory_search over 10,000 records, in-process", "ms", "median ≤ 5 ms")
        self.scenarios.append(sc)
        proc = subprocess.run(
            [str(MENTRA_PY), str(HERE / "memory_search.py"), *(["--searches", "50"] * self.quick)],
            env=self.env(),
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=DRIVER_TIMEOUT,
            check=False,
        )
        out = proc.stdout.strip()
        self.extra_sections.append(
            f"### memory_search.py\n\n```\n{out or proc.stderr.strip()}\n```\n"
        )
        for label, value in re.findall(r"memory_search median per search(.*?): ([0-9.]+) ms", out):
            sc.add(
                Row(
                    sc.title,
                    "mentra: SQLite FTS5" + label.split(" (")[0],  # ", topic words"...
                    "ms",
                    role="mentra" if not label else "mentra-extra",
                    samples=[float(value)],
                    target=5.0,
                )
            )
        if not sc.rows:
            sc.add(
                Row(sc.title, "mentra", "ms", role="mentra", na=f"memory_search.py: {_why(proc)}")
            )

    def prompt_cache(self) -> None:
        """benchmarks/prompt_cache.py: a 40-round tool session's input cost on the Anthropic
        wire, (a) uncached, (b) cached, (c) cached and compacted (issue 15)."""
        sc = Scenario(
            "input cost of a 40-round tool session (Anthropic wire, 2 KB results)",
            "USD",
            "(c) \N{LESS-THAN OR EQUAL TO} 25% of (a)",
        )
        self.scenarios.append(sc)
        proc = subprocess.run(
            [str(MENTRA_PY), str(HERE / "prompt_cache.py"), "--json"],
            env=self.env(),
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=DRIVER_TIMEOUT,
            check=False,
        )
        lines = proc.stdout.strip().splitlines()
        figures: dict[str, Any] = {}
        if proc.returncode == 0 and lines:
            with contextlib.suppress(ValueError):
                figures = json.loads(lines[-1])
            lines = lines[:-1]
        self.extra_sections.append(
            "### prompt_cache.py\n\n" + ("\n".join(lines) or proc.stderr.strip()) + "\n"
        )
        if not figures:
            sc.add(
                Row(sc.title, "mentra", "USD", role="mentra", na=f"prompt_cache.py: {_why(proc)}")
            )
            return
        names = {
            "(a)": "(a) no caching, no compaction",
            "(b)": "(b) prompt caching",
            "(c)": "(c) prompt caching and compaction",
            "(c2)": "(c2) caching and compaction, no micro-compaction",
        }
        base = (figures.get("(a)") or {}).get("input_cost_usd")
        for key, label in names.items():
            f = figures.get(key)
            if f is None:
                sc.add(
                    Row(sc.title, label, "USD", role="mentra-extra", na="compaction not available")
                )
                continue
            sc.add(
                Row(
                    sc.title,
                    label,
                    "USD",
                    role="mentra-extra",
                    samples=[f["input_cost_usd"]],
                    note=f"{f['full_price']:,} of {f['sent']:,} input tokens at full price",
                )
            )
        for key in ("(b)", "(c)", "(c2)"):
            f = figures.get(key)
            if f is not None and base:
                sc.add(
                    Row(
                        sc.title,
                        f"{key} \N{DIVISION SIGN} (a), input cost",
                        "x",
                        role="mentra",
                        samples=[f["input_cost_usd"] / base],
                        target=0.25 if key.startswith("(c") else None,
                    )
                )

    def server_cost(self) -> None:
        sc = Scenario("fake server's own cost (CPU, same machine)", "ms", "")
        self.scenarios.append(sc)
        rounds = self.server_costs.get("rounds/floor: raw httpx")
        stream = self.server_costs.get("stream/floor: raw httpx")
        if rounds and rounds.get("cpu_ms_per_request") is not None:
            sc.add(
                Row(
                    sc.title,
                    "CPU per request (tool rounds, Chat Completions)",
                    "ms",
                    role="info",
                    samples=[rounds["cpu_ms_per_request"]],
                )
            )
        if stream and stream.get("cpu_us_per_delta") is not None:
            sc.add(
                Row(
                    sc.title,
                    "CPU per streamed delta (Chat Completions)",
                    "us",
                    role="info",
                    samples=[stream["cpu_us_per_delta"]],
                )
            )
        if not sc.rows:
            sc.add(Row(sc.title, "server", "ms", role="info", na="no floor run to measure it on"))

    # -- all ---------------------------------------------------------------------------------

    def run(self) -> str:
        steps = [
            self.cold_start,
            self.one_shot,
            self.per_round,
            self.per_delta,
            self.peak_memory,
            self.parallel,
            self.resume,
            self.turns,
            self.store_growth,
            self.memory_search,
            self.prompt_cache,
            self.server_cost,
        ]
        if self.only:
            unknown = self.only - {step.__name__ for step in steps}
            if unknown:
                raise SystemExit(f"no scenario {', '.join(sorted(unknown))}")
            steps = [step for step in steps if step.__name__ in self.only]
        for step in steps:
            try:
                step()
            except Exception as exc:  # one broken scenario must not lose the others
                title = step.__name__.replace("_", " ")
                sc = Scenario(title, "ms", "")
                sc.add(
                    Row(
                        title, "harness", "ms", role="info", na=f"{type(exc).__name__}: {exc}"[:120]
                    )
                )
                self.scenarios.append(sc)
        return render(self.scenarios)

    def close(self) -> None:
        self.server.close()
        shutil.rmtree(self.tmp, ignore_errors=True)


def _find_ratio(text: str) -> float | None:
    """A ratio from store_growth.py: a JSON line with ``ratio``, or a line ``ratio...: N``."""
    for line in reversed(text.splitlines()):
        line = line.strip()
        if line.startswith("{"):
            with contextlib.suppress(ValueError):
                data = json.loads(line)
                for key in ("ratio", "late_over_early", "growth_ratio"):
                    if isinstance(data.get(key), (int, float)):
                        return float(data[key])
        found = re.search(r"ratio[^:]*:\s*([0-9]+(?:\.[0-9]+)?)", line, re.IGNORECASE)
        if found:
            return float(found.group(1))
    return None


def update_readme(block: str) -> None:
    readme = HERE / "README.md"
    text = readme.read_text()
    start, end = "<!-- latest-table -->\n", "<!-- /latest-table -->"
    if start in text and end in text:
        before = text.split(start, 1)[0]
        after = text.split(end, 1)[1]
        readme.write_text(before + start + block + end + after)


def ensure_peers() -> None:
    if PEERS_PY.exists():
        return
    log("setting up the peers' virtualenv (benchmarks/setup_peers.sh), once")
    subprocess.run(["sh", str(HERE / "setup_peers.sh")], check=False)


def machine() -> str:
    cpus = os.cpu_count()
    tools = []
    tools.append("hyperfine" if shutil.which("hyperfine") else "subprocess timing")
    tools.append("/usr/bin/time -v" if TIME_BIN.exists() else "getrusage")
    return (
        f"{platform.system()} {platform.machine()}, {cpus} CPUs, "
        f"Python {platform.python_version()}; timing: {', '.join(tools)}"
    )


@contextlib.contextmanager
def _bench(args: argparse.Namespace) -> Iterator[Bench]:
    bench = Bench(args)
    try:
        yield bench
    finally:
        bench.close()


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description="mentra's benchmarks beside its peers")
    p.add_argument("--quick", action="store_true", help="mentra and the floor only (< 1 min)")
    p.add_argument("--repeat", type=int, default=0, help="samples per in-process scenario")
    p.add_argument("--runs", type=int, default=0, help="runs per whole-process scenario")
    p.add_argument("--no-setup", action="store_true", help="do not create the peers' venv")
    p.add_argument("--only", default="", help="these scenarios only, e.g. turns,resume")
    p.add_argument("--out", type=Path, default=RESULTS / "latest.md")
    p.add_argument(
        "--update-readme", action="store_true", help="also put the table in benchmarks/README.md"
    )
    args = p.parse_args(argv)
    if not args.quick and not args.no_setup:
        ensure_peers()
    # mentra is installed editable: with PYTHONDONTWRITEBYTECODE set (as on these machines) its
    # modules would be compiled from source in every measured process. Users' installs carry
    # bytecode (pip compiles on install), and so do the peers' venv packages: compile once here.
    subprocess.run(
        [sys.executable, "-m", "compileall", "-q", str(ROOT / "core"), str(ROOT / "mentra_cli")],
        check=False,
        capture_output=True,
    )
    started = time.monotonic()
    with _bench(args) as bench:
        table = bench.run()
        extra = "\n".join(bench.extra_sections)
    elapsed = time.monotonic() - started
    mode = "quick (mentra and floor only)" if args.quick else "full"
    header = (
        f"mentra benchmarks, {mode}, {time.strftime('%Y-%m-%d %H:%M')} — {machine()}; "
        f"took {elapsed:.0f} s.\n"
        "median of repeated runs; \N{MULTIPLICATION SIGN} floor = median ÷ the floor's median; "
        "mentra ÷ this < 1 means mentra is faster/smaller.\n"
    )
    doc = header + "\n" + table + "\n" + (("\n" + extra) if extra else "")
    print(doc)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(doc)
    if args.update_readme:
        update_readme(header + "\n" + table + "\n")
    log(f"written to {args.out.relative_to(ROOT) if args.out.is_relative_to(ROOT) else args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
