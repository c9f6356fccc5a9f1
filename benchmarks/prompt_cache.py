"""What a long tool session costs, with and without prompt caching and compaction.

    .venv/bin/python benchmarks/prompt_cache.py [--rounds 40] [--result-bytes 2048] [--json]

A 40-round tool session on the Anthropic wire: a whole `mentra run` process per scenario
against a fake Messages server on 127.0.0.1, whose model reads one 2 KB file per round (the
builtin ``files`` tool) and then answers. The server bills each request the way Anthropic
does, from the request body alone:

- a request is a sequence of blocks: each tool, each system block, each message's blocks; a
  block costs ceil(chars / 4) tokens (its JSON without ``cache_control``);
- ``cache_control`` marks breakpoints; the cache keeps the prefix ending at each breakpoint
  (prefixes under 1,024 tokens are not cached; entries live 5 minutes from their last use);
- a request reads from cache the longest prefix that ends at a block boundary within 20 blocks
  before one of its breakpoints and equals a cached prefix; what lies between that and its
  last cacheable breakpoint is a cache write; the rest is billed at the full input price.

The usage it reports is what mentra sees and prices; the table prints, side by side, the input
tokens sent, the tokens billed at full price, cache reads and writes, and the input cost from
mentra's price table (claude-sonnet-4-5), for (a) no caching and no compaction
(``model_options.prompt_cache: false``), (b) caching (the default), (c) caching and compaction
(``context: {compact_threshold_tokens: N}``; "n/a" while the installed mentra refuses the
``context`` key). Compaction summary requests (sent without tools) are billed too. It also
checks mentra's own ``run_finished.cost_usd`` against the server's bill. It asserts nothing.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import math
import os
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "core"))

from mentra.messages import Usage  # noqa: E402
from mentra.pricing import cost_for  # noqa: E402

MENTRA = ROOT / ".venv" / "bin" / "mentra"
MODEL = "claude-sonnet-4-5"
WINDOW = 200_000  # claude-sonnet-4-5's context window
MIN_CACHEABLE = 1024  # Sonnet's minimum cacheable prefix
LOOKBACK = 20  # blocks the API looks back from a breakpoint for a cache hit
TTL = 300.0  # seconds a cache entry lives after its last use
OUTPUT_TOKENS = 40  # what each reply "costs" in output (the same in every scenario)
NO_CONTEXT = "context: {keep_recent_tool_results: 0, auto_compact: false}\n"  # no compaction
SUMMARY = {
    "goal": "read the log parts and report",
    "progress": "read the parts seen so far; nothing unusual in them",
    "decisions": [],
    "constraints": [],
    "delegated_work": [],
    "artifacts": ["logs/"],
    "open_questions": [],
    "next_steps": ["read the remaining parts"],
}


def block_tokens(block: dict[str, Any]) -> int:
    stripped = {k: v for k, v in block.items() if k != "cache_control"}
    return math.ceil(len(json.dumps(stripped, ensure_ascii=False, separators=(",", ":"))) / 4)


@dataclass
class Bill:
    requests: int = 0
    sent: int = 0  # every input token of every request
    full: int = 0  # billed at the full input price
    read: int = 0
    write: int = 0
    largest: int = 0  # the largest request, in tokens
    summaries: int = 0  # requests without tools (compaction summaries)
    input_cost: float = 0.0  # USD, priced request by request (tiers apply per request)
    result_chars: list[int] = field(default_factory=list)


class CacheAccounting:
    """Anthropic's prompt-cache billing, from request bodies (see the module docstring)."""

    def __init__(self) -> None:
        self.entries: dict[str, float] = {}  # prefix hash -> expiry time
        self.bill = Bill()
        self.lock = threading.Lock()

    def charge(self, body: dict[str, Any]) -> tuple[int, int, int]:
        """(uncached, cache read, cache write) input tokens of one request."""
        blocks: list[tuple[str, dict[str, Any]]] = [("tool", t) for t in body.get("tools", [])]
        system = body.get("system")
        if isinstance(system, str):
            blocks.append(("system", {"type": "text", "text": system}))
        elif isinstance(system, list):
            blocks.extend(("system", b) for b in system)
        for i, message in enumerate(body.get("messages", [])):
            content = message["content"]
            if isinstance(content, str):
                content = [{"type": "text", "text": content}]
            blocks.extend((f"{i}:{message['role']}", b) for b in content)
        h = hashlib.sha256(str(body.get("model")).encode())
        hashes: list[str] = []
        cumulative: list[int] = []
        total = 0
        breakpoints: list[int] = []
        for n, (where, block) in enumerate(blocks):
            stripped = {k: v for k, v in block.items() if k != "cache_control"}
            h.update(where.encode() + json.dumps(stripped, sort_keys=True).encode())
            hashes.append(h.copy().hexdigest())
            total += block_tokens(block)
            cumulative.append(total)
            if "cache_control" in block:
                breakpoints.append(n)
        now = time.monotonic()
        with self.lock:
            live = {k for k, t in self.entries.items() if t > now}
            hit = -1
            for bp in breakpoints:
                for b in range(bp, max(-1, bp - LOOKBACK), -1):
                    if hashes[b] in live:
                        hit = max(hit, b)
                        break
            read = cumulative[hit] if hit >= 0 else 0
            if hit >= 0:
                self.entries[hashes[hit]] = now + TTL
            cacheable = [bp for bp in breakpoints if cumulative[bp] >= MIN_CACHEABLE]
            write = 0
            if cacheable:
                write = max(0, cumulative[cacheable[-1]] - read)
                for bp in cacheable:
                    self.entries[hashes[bp]] = now + TTL
            uncached = total - read - write
            bill = self.bill
            bill.requests += 1
            bill.sent += total
            bill.full += uncached
            bill.read += read
            bill.write += write
            bill.largest = max(bill.largest, total)
            usage = Usage(input_tokens=total, cached_input_tokens=read, cache_write_tokens=write)
            bill.input_cost += cost_for("anthropic", MODEL, usage) or 0.0
            if not body.get("tools"):
                bill.summaries += 1
        return uncached, read, write


def _sse(events: list[dict[str, Any]]) -> bytes:
    return "".join(f"event: {e['type']}\ndata: {json.dumps(e)}\n\n" for e in events).encode()


class Script:
    """The fake model: round k < rounds reads ``logs/part{k}.txt``; then an answer; a request
    without tools (a compaction summary) gets the summary JSON."""

    def __init__(self, rounds: int) -> None:
        self.rounds = rounds
        self.tool_requests = 0
        self.lock = threading.Lock()

    def reply(self, body: dict[str, Any], usage: tuple[int, int, int]) -> bytes:
        uncached, read, write = usage
        if not body.get("tools"):
            block: dict[str, Any] = {"type": "text", "text": ""}
            delta = {"type": "text_delta", "text": json.dumps(SUMMARY)}
            stop = "end_turn"
        else:
            with self.lock:
                k = self.tool_requests
                self.tool_requests += 1
            if k < self.rounds:
                block = {"type": "tool_use", "id": f"toolu_{k:03d}", "name": "files", "input": {}}
                args = {"operations": [{"op": "read", "path": f"logs/part{k:02d}.txt"}]}
                delta = {"type": "input_json_delta", "partial_json": json.dumps(args)}
                stop = "tool_use"
            else:
                block = {"type": "text", "text": ""}
                delta = {"type": "text_delta", "text": "All parts read; nothing failed."}
                stop = "end_turn"
        usage_start = {
            "input_tokens": uncached,
            "cache_read_input_tokens": read,
            "cache_creation_input_tokens": write,
            "output_tokens": 1,
        }
        return _sse(
            [
                {
                    "type": "message_start",
                    "message": {"id": "msg_b", "model": MODEL, "usage": usage_start},
                },
                {"type": "content_block_start", "index": 0, "content_block": block},
                {"type": "content_block_delta", "index": 0, "delta": delta},
                {"type": "content_block_stop", "index": 0},
                {
                    "type": "message_delta",
                    "delta": {"stop_reason": stop},
                    "usage": {"output_tokens": OUTPUT_TOKENS},
                },
                {"type": "message_stop"},
            ]
        )


def serve(rounds: int) -> tuple[ThreadingHTTPServer, CacheAccounting]:
    accounting = CacheAccounting()
    script = Script(rounds)

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_POST(self) -> None:
            raw = self.rfile.read(int(self.headers.get("content-length", "0")))
            body = json.loads(raw)
            for message in body.get("messages", []):
                if isinstance(message["content"], list):
                    accounting.bill.result_chars.extend(
                        len(str(b.get("content")))
                        for b in message["content"]
                        if b.get("type") == "tool_result"
                    )
            out = script.reply(body, accounting.charge(body))
            self.send_response(200)
            self.send_header("content-type", "text/event-stream")
            self.send_header("content-length", str(len(out)))
            self.end_headers()
            self.wfile.write(out)

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, accounting


def log_part(k: int, size: int) -> str:
    lines: list[str] = []
    n = chars = 0
    while chars < size:
        lines.append(
            f"2026-12-03T07:{k:02d}:{n % 60:02d}Z worker-{k % 7} step {n} of part {k}: "
            f"ok, {1000 + 37 * n * (k + 1)} items, checksum {(k * 7919 + n * 104729) % 65536:04x}\n"
        )
        chars += len(lines[-1])
        n += 1
    return "".join(lines)[:size]


@dataclass
class Outcome:
    name: str
    bill: Bill | None = None
    na: str | None = None
    cost_usd: float | None = None  # mentra's own run_finished.cost_usd
    usage: dict[str, int] = field(default_factory=dict)  # mentra's run_finished.usage
    compactions: int = 0
    note: str = ""

    def input_cost(self) -> float | None:
        return None if self.bill is None else self.bill.input_cost


def run_scenario(name: str, extra: str, rounds: int, workspace: Path, tmp: Path) -> Outcome:
    """One `mentra run`; a build without compaction (the ``context`` key unknown) runs (a) and
    (b) without their ``context`` lines and reports (c) as not available."""
    outcome = _run_once(name, extra, rounds, workspace, tmp)
    if outcome.na == "compaction not available" and NO_CONTEXT in extra:
        outcome = _run_once(name, extra.replace(NO_CONTEXT, ""), rounds, workspace, tmp)
        outcome.note = "this build has no compaction"
    return outcome


def _run_once(name: str, extra: str, rounds: int, workspace: Path, tmp: Path) -> Outcome:
    server, accounting = serve(rounds)
    try:
        config = tmp / f"{name[1 : name.index(')')]}.yaml"
        base = f"http://127.0.0.1:{server.server_address[1]}"
        config.write_text(
            f'providers:\n  anthropic: {{base_url: "{base}", timeouts: {{idle: 30s}}}}\n' + extra
        )
        env = {**os.environ, "ANTHROPIC_API_KEY": "dummy-bench-key"}
        for var in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "https_proxy"):
            env.pop(var, None)
        proc = subprocess.run(
            [
                str(MENTRA),
                "run",
                "-c",
                str(config),
                "-m",
                f"anthropic:{MODEL}",
                "-C",
                str(workspace),
                "--ephemeral",
                "--no-user-config",
                "--max-rounds",
                str(rounds + 5),
                f"Read the {rounds} parts under logs/ one by one and report anything that failed.",
            ],
            capture_output=True,
            text=True,
            env=env,
            timeout=600,
            check=False,
        )
        events = [json.loads(line) for line in proc.stdout.splitlines() if line.strip()]
        last = events[-1] if events else {}
        if last.get("type") != "run_finished" or last.get("status") != "success":
            why = (proc.stderr.strip().splitlines() or [f"exit {proc.returncode}"])[-1]
            if "unknown key 'context'" in why:
                return Outcome(name, na="compaction not available")
            return Outcome(name, na=why[:120])
        return Outcome(
            name,
            bill=accounting.bill,
            cost_usd=last.get("cost_usd"),
            usage=last.get("usage") or {},
            compactions=sum(e["type"] == "compaction_completed" for e in events),
        )
    finally:
        server.shutdown()
        server.server_close()


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--rounds", type=int, default=40)
    p.add_argument("--result-bytes", type=int, default=2048)
    p.add_argument(
        "--compact-threshold", type=int, default=12_000, help="(c)'s compact_threshold_tokens"
    )
    p.add_argument("--json", action="store_true", help="also print one JSON line of figures")
    args = p.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="mentra-cache-bench-") as tmp_name:
        tmp = Path(tmp_name)
        workspace = tmp / "ws"
        (workspace / "logs").mkdir(parents=True)
        for k in range(args.rounds):
            (workspace / "logs" / f"part{k:02d}.txt").write_text(log_part(k, args.result_bytes))
        n = args.compact_threshold
        scenarios = [
            (
                "(a) no caching, no compaction",
                "model_options: {prompt_cache: false}\n" + NO_CONTEXT,
            ),
            ("(b) caching", NO_CONTEXT),
            ("(c) caching and compaction", f"context: {{compact_threshold_tokens: {n}}}\n"),
            (
                "(c2) caching and compaction, no micro-compaction",
                f"context: {{compact_threshold_tokens: {n}, keep_recent_tool_results: 0}}\n",
            ),
        ]
        outcomes = [run_scenario(n, x, args.rounds, workspace, tmp) for n, x in scenarios]
    print(report(outcomes, args))
    if args.json:
        print(
            json.dumps(
                {
                    o.name[: o.name.index(")") + 1]: None
                    if o.bill is None
                    else {
                        "requests": o.bill.requests,
                        "sent": o.bill.sent,
                        "full_price": o.bill.full,
                        "cache_read": o.bill.read,
                        "cache_write": o.bill.write,
                        "input_cost_usd": o.input_cost(),
                        "largest_request": o.bill.largest,
                        "compactions": o.compactions,
                        "mentra_usage": o.usage,
                        "mentra_cost_usd": o.cost_usd,
                    }
                    for o in outcomes
                }
            )
        )
    return 0


def report(outcomes: list[Outcome], args: argparse.Namespace) -> str:
    base = outcomes[0].input_cost()
    head = (
        f"prompt caching, {args.rounds}-round tool session, {args.result_bytes}-byte tool results, "
        f"Anthropic wire ({MODEL}, window {WINDOW:,} tokens), fake server on 127.0.0.1\n\n"
        "| scenario | requests | input tokens sent | billed at full price | cache reads | "
        "cache writes | input cost (USD) | ÷ (a) | largest request | mentra's cost_usd |\n"
        "|---|---|---|---|---|---|---|---|---|---|"
    )
    rows = [head]
    for o in outcomes:
        if o.bill is None:
            rows.append(f"| {o.name} | n/a ({o.na}) | | | | | | | | |")
            continue
        b, cost = o.bill, o.input_cost()
        ratio = f"{cost / base:.1%}" if cost is not None and base else "\N{EN DASH}"
        fits = "✓" if b.largest <= WINDOW else "✗ over the window"
        extra = f", {o.compactions} compactions, {b.summaries} summary requests" * bool(
            o.compactions or b.summaries
        ) + (f" ({o.note})" if o.note else "")
        rows.append(
            f"| {o.name}{extra} | {b.requests} | {b.sent:,} | {b.full:,} | {b.read:,} | "
            f"{b.write:,} | {cost:.4f} | {ratio} | {b.largest:,} {fits} | "
            f"{o.cost_usd if o.cost_usd is None else f'{o.cost_usd:.4f}'} |"
        )
    measured = next((o.bill for o in outcomes if o.bill and o.bill.result_chars), None)
    if measured:
        chars = measured.result_chars
        rows.append(
            f"\ntool results as sent: {min(chars):,}\N{EN DASH}{max(chars):,} chars; "
            f"mentra's cost_usd adds {OUTPUT_TOKENS} output tokens per request to the input cost."
        )
    # each compaction scenario against the target on its own, so none hides behind another
    for o in outcomes[2:]:
        c = o.input_cost()
        if c is not None and base:
            label = o.name.split(" ", 1)[0]
            rows.append(
                f"target: {label} ≤ 25% of (a)'s input cost: {c / base:.1%} "
                f"{'✓' if c <= base / 4 else '✗'}"
            )
    return "\n".join(rows)


if __name__ == "__main__":
    sys.exit(main())
