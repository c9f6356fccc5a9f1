"""Large tool results: the model gets head and tail, the full text stays on disk for paging.

A result over `MAX_RESULT_BYTES` or `MAX_RESULT_LINES` would crowd the context window (the
reference added this after one 1.8 MB result overflowed it). `shrink_result` keeps the first and
last lines, names a result id in a notice, and stores the full text under ``store_dir``; the
`read_tool_result` tool pages through it by lines.
"""

from __future__ import annotations

import os
import re
import tempfile
import uuid
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field

from mentra.tools.base import ArgsTool, ToolContext, ToolResult
from mentra.tools.services import ToolServices

MAX_RESULT_BYTES = 50 * 1024
MAX_RESULT_LINES = 2000
HEAD_LINES, HEAD_BYTES = 200, 20 * 1024
TAIL_LINES, TAIL_BYTES = 100, 10 * 1024
PAGE_BYTES = 40 * 1024  # a page stays under the shrink threshold
_ID = re.compile(r"^res_[0-9a-f]{16}$")


def results_dir_for(services: ToolServices) -> Path:
    """Where full results live: ``services.results_dir``, else a per-user temp directory."""
    given = services.results_dir
    path = Path(given) if given else Path(tempfile.gettempdir()) / f"mentra-results-{os.getuid()}"
    return path


def shrink_result(text: str, *, store_dir: Path) -> str:
    """``text`` unchanged when small; else head + notice + tail, the full text stored."""
    lines = text.splitlines(keepends=True)
    if len(text.encode("utf-8", errors="replace")) <= MAX_RESULT_BYTES and (
        len(lines) <= MAX_RESULT_LINES
    ):
        return text
    result_id = f"res_{uuid.uuid4().hex[:16]}"
    store_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
    target = store_dir / f"{result_id}.txt"
    temp = target.with_suffix(".tmp")
    temp.write_text(text, encoding="utf-8", errors="replace")
    temp.replace(target)
    head = _take(lines, HEAD_LINES, HEAD_BYTES)
    tail = _take(lines[len(head) :][::-1], TAIL_LINES, TAIL_BYTES)[::-1]
    omitted = len(lines) - len(head) - len(tail)
    notice = (
        f"[… result shortened: {len(lines)} lines, {len(text)} characters in all; lines "
        f"{len(head) + 1}-{len(head) + omitted} are not shown. The full text is kept as result "
        f"id {result_id}: call read_tool_result with id={result_id!r} and offset (line number) "
        "to page through it.]\n"
    )
    head_text = "".join(head)
    if head_text and not head_text.endswith("\n"):
        head_text += "\n"
    return head_text + notice + "".join(tail)


def _take(lines: list[str], max_lines: int, max_bytes: int) -> list[str]:
    taken: list[str] = []
    size = 0
    for line in lines[:max_lines]:
        size += len(line.encode("utf-8", errors="replace"))
        if size > max_bytes:
            if not taken:  # one enormous line: keep its start
                taken.append(line[: max_bytes // 4] + " [… line cut]\n")
            break
        taken.append(line)
    return taken


class ReadToolResultArgs(BaseModel):
    model_config = ConfigDict(extra="forbid")

    id: str = Field(description="The result id named in a shortened result (res_…).")
    offset: int = Field(1, ge=1, description="First line to return (1-based).")
    limit: int = Field(500, ge=1, le=2000, description="Most lines to return.")


class ReadToolResultTool(ArgsTool[ReadToolResultArgs]):
    name = "read_tool_result"
    description = (
        "Page through the full text of a tool result that was shortened because it was too "
        "large. Give the result id from the notice and a line offset."
    )
    mutates = False
    Args = ReadToolResultArgs

    async def run(self, args: ReadToolResultArgs, ctx: ToolContext) -> ToolResult:
        if not _ID.match(args.id):
            return ToolResult(f"{args.id!r} is not a result id (res_ + 16 hex digits).", True)
        path = results_dir_for(ctx.services) / f"{args.id}.txt"
        try:
            text = path.read_text(encoding="utf-8", errors="replace")
        except FileNotFoundError:
            return ToolResult(f"No stored result with id {args.id}.", is_error=True)
        lines = text.splitlines()
        first = args.offset - 1
        if first >= len(lines):
            return ToolResult(f"Offset {args.offset} is past the end ({len(lines)} lines).", True)
        page: list[str] = []
        size = 0
        for line in lines[first : first + args.limit]:
            size += len(line) + 1
            if size > PAGE_BYTES and page:
                break
            page.append(line[:PAGE_BYTES])
        last = first + len(page)
        header = f"[result {args.id}: lines {args.offset}-{last} of {len(lines)}]"
        more = f"\n[more: call again with offset={last + 1}]" if last < len(lines) else ""
        return ToolResult(header + "\n" + "\n".join(page) + more)
