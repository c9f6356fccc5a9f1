"""The composition root (`mentra.Runtime`) used from Python, without the CLI."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import mentra
from tests.providers.harness import KEY_ENV, Reply, TcpHarness


def _config(path: Path, base_url: str) -> Any:
    path.write_text(
        "model: corp:m-1\n"
        "providers:\n"
        "  corp:\n"
        "    wire: openai-responses\n"
        f"    base_url: {base_url}\n"
        f"    api_key_env: {KEY_ENV}\n"
    )
    loaded, _ = mentra.load_agent_config(path)
    return loaded


async def test_two_configs_with_a_same_named_provider_reach_their_own_endpoints(
    tcp: TcpHarness, tmp_path: Path
) -> None:
    other = TcpHarness()
    await other.start()
    try:
        tcp.queue(Reply.sse("openai-responses", "text.sse"))
        other.queue(Reply.sse("openai-responses", "text.sse"))
        runtime = mentra.Runtime(workspace=tmp_path, no_user_config=True)
        first = runtime.spawn(_config(tmp_path / "a.yaml", tcp.base_url), mentra.RunOverrides())
        second = runtime.spawn(_config(tmp_path / "b.yaml", other.base_url), mentra.RunOverrides())
        for agent in (first, second):
            events: list[Any] = []
            outcome = await mentra.Session(agent).drive("hi", sink=events.append)
            assert outcome.status == "success", outcome.error
        await runtime.aclose()
        assert len(tcp.requests) == 1 and len(other.requests) == 1
    finally:
        await other.stop()
