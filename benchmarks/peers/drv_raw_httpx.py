"""The floor: a raw httpx loop over Chat Completions streaming, no SDK, no agent framework.

Per delta it does what any client must: read the line, ``json.loads`` it, take the text.
Tool calls are accumulated, run (in threads when there are several) and sent back.
"""

from __future__ import annotations

import json
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx
from _driver import main

TOOL_SCHEMA = {
    "type": "object",
    "properties": {"i": {"type": "integer"}},
    "required": ["i"],
}


def make(base_url: str) -> Any:
    client = httpx.Client(base_url=base_url, headers={"authorization": "Bearer dummy"})
    pool = ThreadPoolExecutor(max_workers=8)

    def run(model: str, tool: Any) -> str:
        messages: list[dict[str, Any]] = [{"role": "user", "content": "hello"}]
        tools = []
        if tool is not None:
            tools = [
                {
                    "type": "function",
                    "function": {"name": tool.__name__, "parameters": TOOL_SCHEMA},
                }
            ]
        while True:
            body: dict[str, Any] = {"model": model, "messages": messages, "stream": True}
            if tools:
                body["tools"] = tools
            text: list[str] = []
            calls: dict[int, dict[str, Any]] = {}
            with client.stream("POST", "/chat/completions", json=body) as resp:
                resp.raise_for_status()
                for line in resp.iter_lines():
                    if not line.startswith("data: ") or line == "data: [DONE]":
                        continue
                    chunk = json.loads(line[6:])
                    if not chunk["choices"]:
                        continue
                    delta = chunk["choices"][0]["delta"]
                    content = delta.get("content")
                    if content:
                        text.append(content)
                    for tc in delta.get("tool_calls") or ():
                        call = calls.setdefault(tc["index"], {"id": "", "name": "", "args": ""})
                        call["id"] = tc.get("id") or call["id"]
                        fn = tc.get("function") or {}
                        call["name"] = fn.get("name") or call["name"]
                        call["args"] += fn.get("arguments") or ""
            if not calls:
                return "".join(text)
            ordered = [calls[k] for k in sorted(calls)]
            messages.append(
                {
                    "role": "assistant",
                    "content": None,
                    "tool_calls": [
                        {
                            "id": c["id"],
                            "type": "function",
                            "function": {"name": c["name"], "arguments": c["args"]},
                        }
                        for c in ordered
                    ],
                }
            )
            assert tool is not None
            args = [json.loads(c["args"]) for c in ordered]
            if len(ordered) > 1:
                outputs = list(pool.map(lambda a: tool(**a), args))
            else:
                outputs = [tool(**args[0])]
            for c, out in zip(ordered, outputs, strict=True):
                messages.append({"role": "tool", "tool_call_id": c["id"], "content": out})

    return run


if __name__ == "__main__":
    main(make)
