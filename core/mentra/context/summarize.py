"""Auto-compaction's pieces (reference layer 2): the tail kept as it is, the summary request
(no tools, strict JSON, an EXTRACTED FACTS block first), its reply read leniently, the summary
rendered as a user message, and the recent user turns kept verbatim.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Sequence
from typing import Any

from mentra.messages import (
    ImageBlock,
    Message,
    ReasoningBlock,
    TextBlock,
    ToolResultBlock,
    ToolUseBlock,
)

SUMMARY_KEYS = (
    "goal",
    "progress",
    "decisions",
    "constraints",
    "delegated_work",
    "artifacts",
    "open_questions",
    "next_steps",
)
SUMMARY_HEADER = "[Compaction summary]"
FACTS_HEADER = "=== EXTRACTED FACTS (must preserve verbatim) ==="
MAX_INPUT_CHARS = 80_000
MAX_SUMMARY_TOKENS = 2_000
KEPT_USER_TOKENS = 20_000
MAX_FACTS = 60

SUMMARY_SYSTEM = (
    "You compact the older part of an AI agent's working session so the agent can continue "
    "without it. Reply with only one JSON object (no prose, no code fence) with exactly these "
    "keys: " + ", ".join(SUMMARY_KEYS) + ". Each value is a string or a list of strings; use "
    '"" or [] when there is nothing to say. Be concrete: names, paths, commands, numbers. '
    "Every line of the EXTRACTED FACTS block must appear verbatim in the value it belongs to "
    "(paths in artifacts, test results in progress, permission decisions in constraints)."
)

_PATH_KEYS = ("path", "file", "file_path", "filename", "paths", "files", "dir", "directory")
_PATH_RE = re.compile(
    r"(?<![\w./-])(?:\.{0,2}/)?(?:[\w.-]+/)*[\w-][\w.-]*\.[A-Za-z][A-Za-z0-9]{0,7}\b"
)
_TEST_RE = re.compile(
    r"\b(?:\d+\s+(?:passed|failed|errors?|skipped|xfailed)|PASSED|FAILED|PASS|FAIL|"
    r"test result:|Tests?:\s+\d+)\b"
)
_DENIED = "Permission denied for `"


def split_tail(messages: Sequence[Message]) -> int:
    """Where the tail starts: the last assistant turn with its tool exchange when the
    conversation ends with that turn's results, else the last message alone."""
    n = len(messages)
    if n >= 2:
        last, before = messages[-1], messages[-2]
        results = any(isinstance(b, ToolResultBlock) for b in last.content)
        if last.role == "user" and results and before.role == "assistant" and before.tool_uses:
            return n - 2
    return max(n - 1, 0)


def is_real_user_turn(message: Message) -> bool:
    """A prompt a person (or a hook) wrote: a user message without tool results that is not
    itself a compaction summary."""
    if message.role != "user":
        return False
    if any(isinstance(b, ToolResultBlock) for b in message.content):
        return False
    return not message.text.startswith(SUMMARY_HEADER)


def recent_user_turns(
    older: Sequence[Message], estimate: Callable[[Sequence[Message]], int]
) -> list[Message]:
    """The most recent real user turns of ``older`` within `KEPT_USER_TOKENS`, oldest first."""
    kept: list[Message] = []
    used = 0
    for message in reversed(older):
        if not is_real_user_turn(message):
            continue
        cost = estimate([message])
        if used + cost > KEPT_USER_TOKENS:
            break
        kept.append(message)
        used += cost
    kept.reverse()
    return kept


def extract_facts(messages: Sequence[Message], extra: Sequence[str] = ()) -> list[str]:
    """File paths seen in tool exchanges, test-runner lines with pass/fail words, permission
    decisions, and what ``pre_compact`` hooks asked to keep; each once, in order."""
    facts: dict[str, None] = {}

    def add(line: str) -> None:
        line = line.strip()
        if line and len(facts) < MAX_FACTS:
            facts.setdefault(line[:300], None)

    for message in messages:
        for block in message.content:
            if isinstance(block, ToolUseBlock):
                for key, value in block.input.items():
                    values = value if isinstance(value, list) else [value]
                    for v in values:
                        if key in _PATH_KEYS and isinstance(v, str) and v:
                            add(f"path: {v}")
                        elif isinstance(v, str):
                            for path in _PATH_RE.findall(v):
                                add(f"path: {path}")
            elif isinstance(block, ToolResultBlock):
                text = block.content
                if text.startswith(_DENIED):
                    add(f"permission: {text.split('. The call did not run', 1)[0]}")
                    continue
                for line in text.splitlines():
                    if _TEST_RE.search(line):
                        add(f"test: {line}")
    for text in extra:
        add(f"keep: {text}")
    return list(facts)


def transcript_text(messages: Sequence[Message], max_chars: int = MAX_INPUT_CHARS) -> str:
    """The conversation as plain text for the summary request, cut to ``max_chars`` (at most
    `MAX_INPUT_CHARS`; the start and the end are kept, the middle goes)."""
    names: dict[str, str] = {}
    parts: list[str] = []
    for message in messages:
        for block in message.content:
            if isinstance(block, TextBlock):
                parts.append(f"{message.role.upper()}: {block.text}")
            elif isinstance(block, ToolUseBlock):
                names[block.id] = block.name
                args = block.raw_input if block.raw_input is not None else json.dumps(block.input)
                parts.append(f"TOOL CALL {block.name}: {args}")
            elif isinstance(block, ToolResultBlock):
                name = names.get(block.tool_use_id, "tool")
                error = " (error)" if block.is_error else ""
                parts.append(f"TOOL RESULT {name}{error}: {block.content}")
            elif isinstance(block, ImageBlock):
                parts.append(f"{message.role.upper()}: [image]")
            elif isinstance(block, ReasoningBlock):
                continue
    text = "\n".join(parts)
    limit = min(max_chars, MAX_INPUT_CHARS)
    if len(text) <= limit:
        return text
    half = limit // 2
    cut = len(text) - 2 * half
    return f"{text[:half]}\n[... {cut} characters left out ...]\n{text[-half:]}"


def summary_prompt(
    older: Sequence[Message], facts: Sequence[str], max_chars: int = MAX_INPUT_CHARS
) -> str:
    lines = [FACTS_HEADER, *(f"- {f}" for f in facts)] if facts else [FACTS_HEADER, "(none)"]
    return (
        "\n".join(lines)
        + "\n\n=== CONVERSATION TO SUMMARIZE ===\n"
        + transcript_text(older, max_chars)
        + "\n\nReply with the JSON object now."
    )


def parse_summary(text: str) -> dict[str, Any]:
    """The reply as the summary's fields; a reply that is not a JSON object is its progress."""
    body = text.strip()
    fence = re.fullmatch(r"```(?:json)?\s*(.*?)\s*```", body, re.DOTALL)
    if fence:
        body = fence.group(1)
    start, end = body.find("{"), body.rfind("}")
    if start != -1 and end > start:
        try:
            value = json.loads(body[start : end + 1])
        except ValueError:
            value = None
        if isinstance(value, dict):
            return {k: value[k] for k in SUMMARY_KEYS if k in value}
    return {"progress": text.strip()}


def render_summary(fields: dict[str, Any], facts: Sequence[str] = ()) -> str:
    """``[Compaction summary]\\nGoal: …\\nProgress: …``; the facts follow, so none is lost
    even when the model left them out."""
    lines = [SUMMARY_HEADER]
    for key in SUMMARY_KEYS:
        value = fields.get(key)
        label = key.replace("_", " ").capitalize()
        if isinstance(value, list):
            items = [str(v).strip() for v in value if str(v).strip()]
            if items:
                lines.append(f"{label}:")
                lines.extend(f"- {item}" for item in items)
        elif value is not None and str(value).strip():
            lines.append(f"{label}: {str(value).strip()}")
    if facts:
        lines.append("Extracted facts:")
        lines.extend(f"- {f}" for f in facts)
    return "\n".join(lines)
