"""McpToolSet against real servers: server-everything (stdio, Streamable HTTP), mcp-server-time,
and the fault server (tests/mcp/fault_server.py)."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import pytest

from mentra.errors import ConfigError
from mentra.mcp.client import McpTool, McpToolSet
from mentra.mcp.config import HttpServerConfig, StdioServerConfig, load_mcp_config_file
from mentra.permissions.policy import RuntimePolicy
from mentra.tools.base import ToolContext
from tests.mcp.helpers import alive_with, fault_args, wait_gone

Servers = dict[str, StdioServerConfig | HttpServerConfig]


def policy(tmp_path: Path) -> RuntimePolicy:
    return RuntimePolicy(working_dir=tmp_path, read_roots=[tmp_path], write_roots=[tmp_path])


def fault(tmp_path: Path, mode: str = "ok", **kw: Any) -> StdioServerConfig:
    return StdioServerConfig(command=sys.executable, args=fault_args(mode, tmp_path), **kw)


async def tools_of(ts: McpToolSet) -> dict[str, McpTool]:
    return {t.name: t for t in await ts.list_tools()}


async def test_echo_over_stdio(tmp_path: Path, everything_js: str) -> None:
    servers: Servers = {"everything": StdioServerConfig(command="node", args=[everything_js])}
    async with McpToolSet(servers, policy(tmp_path)) as ts:
        tools = await tools_of(ts)
        echo = tools["mcp__everything__echo"]
        assert echo.input_schema["properties"]["message"]["type"] == "string"
        assert echo.description
        result = await echo.run({"message": "hi"}, ToolContext(policy=policy(tmp_path)))
    assert (result.content, result.is_error) == ("Echo: hi", False)
    assert wait_gone(everything_js) == []


async def test_echo_over_streamable_http(tmp_path: Path, everything_http: str) -> None:
    servers: Servers = {"remote": HttpServerConfig(url=everything_http)}
    async with McpToolSet(servers, policy(tmp_path)) as ts:
        status = ts.statuses()[0]
        assert (status.transport, status.status) == ("http", "running")
        echo = (await tools_of(ts))["mcp__remote__echo"]
        result = await echo.run({"message": "hi"}, ToolContext(policy=policy(tmp_path)))
    assert result.content == "Echo: hi"


async def test_time_server_answers_over_stdio(tmp_path: Path, time_server: list[str]) -> None:
    servers: Servers = {"time": StdioServerConfig(command=time_server[0], args=time_server[1:])}
    async with McpToolSet(servers, policy(tmp_path)) as ts:
        tool = (await tools_of(ts))["mcp__time__get_current_time"]
        assert tool.mutates is False  # declared readOnlyHint
        result = await tool.run({"timezone": "UTC"}, ToolContext(policy=policy(tmp_path)))
    assert not result.is_error
    first, _ = json.JSONDecoder().raw_decode(result.content)
    assert first["timezone"] == "UTC"


async def test_tool_errors_progress_and_read_only_hint(tmp_path: Path) -> None:
    seen: list[tuple[str, str]] = []
    ctx = ToolContext(policy=policy(tmp_path), progress=lambda m, s: seen.append((m, s)))
    async with McpToolSet({"fault": fault(tmp_path)}, policy(tmp_path)) as ts:
        tools = await tools_of(ts)
        failed = await tools["mcp__fault__fail"].run({}, ctx)
        done = await tools["mcp__fault__progress"].run({}, ctx)
        assert tools["mcp__fault__peek"].mutates is False
        assert tools["mcp__fault__fail"].mutates is True
    assert failed.is_error and "fail" in failed.content
    assert done.content == "done" and not done.is_error
    assert [m for m, _ in seen] == ["1/3 step 1", "2/3 step 2", "3/3 step 3"]


async def test_hanging_tool_is_an_error_at_tool_timeout_and_is_cancelled(tmp_path: Path) -> None:
    import time

    async with McpToolSet({"fault": fault(tmp_path, tool_timeout=1.0)}, policy(tmp_path)) as ts:
        hang = (await tools_of(ts))["mcp__fault__hang"]
        start = time.monotonic()
        result = await hang.run({"seconds": 30}, ToolContext(policy=policy(tmp_path)))
        took = time.monotonic() - start
        for _ in range(50):  # the server sees notifications/cancelled
            if (tmp_path / "cancelled").exists():
                break
            import asyncio

            await asyncio.sleep(0.05)
    assert result.is_error and "timed out after 1s" in result.content
    assert 0.9 < took < 5
    assert (tmp_path / "cancelled").read_text() == "yes"


async def test_server_dying_mid_run_is_an_error_result_and_a_notice(
    tmp_path: Path, everything_js: str
) -> None:
    notices: list[str] = []
    servers: Servers = {
        "fault": fault(tmp_path),
        "everything": StdioServerConfig(command="node", args=[everything_js]),
    }
    ctx = ToolContext(policy=policy(tmp_path))
    async with McpToolSet(servers, policy(tmp_path), on_notice=notices.append) as ts:
        tools = await tools_of(ts)
        died = await tools["mcp__fault__die"].run({}, ctx)
        again = await tools["mcp__fault__peek"].run({}, ctx)
        other = await tools["mcp__everything__echo"].run({"message": "still"}, ctx)
        left = sorted(await tools_of(ts))
    assert died.is_error and again.is_error
    assert other.content == "Echo: still"
    assert len(notices) == 1 and "'fault'" in notices[0]
    assert not any(n.startswith("mcp__fault__") for n in left)


async def test_list_changed_gives_the_fresh_list(tmp_path: Path) -> None:
    async with McpToolSet({"fault": fault(tmp_path)}, policy(tmp_path)) as ts:
        before = await tools_of(ts)
        assert "mcp__fault__fresh" not in before
        await before["mcp__fault__grow"].run({}, ToolContext(policy=policy(tmp_path)))
        after = await tools_of(ts)
    assert "mcp__fault__fresh" in after


async def test_enabled_and_disabled_tools(tmp_path: Path) -> None:
    servers: Servers = {
        "a": fault(tmp_path, enabled_tools=["peek", "fail"]),
        "b": fault(tmp_path, disabled_tools=["die"]),
    }
    async with McpToolSet(servers, policy(tmp_path)) as ts:
        names = set(await tools_of(ts))
    assert {n for n in names if n.startswith("mcp__a__")} == {"mcp__a__peek", "mcp__a__fail"}
    assert "mcp__b__die" not in names and "mcp__b__hang" in names


async def test_stdio_env_is_the_policy_allow_list_plus_its_own(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "sk-secret")
    monkeypatch.setenv("MENTRA_TEST_OTHER", "x")
    servers: Servers = {"fault": fault(tmp_path, env={"TOKEN": "t0k"})}
    async with McpToolSet(servers, policy(tmp_path)) as ts:
        tool = (await tools_of(ts))["mcp__fault__env"]
        text = (await tool.run({}, ToolContext(policy=policy(tmp_path)))).content
        env, _ = json.JSONDecoder().raw_decode(text)
    assert env["TOKEN"] == "t0k"
    assert "OPENAI_API_KEY" not in env and "MENTRA_TEST_OTHER" not in env
    allowed = set(policy(tmp_path).env_allow) | {"TOKEN"}
    assert set(env) - allowed <= {"PWD", "SHLVL", "_", "LC_CTYPE"}  # set by the interpreter


async def test_failing_server_raises_config_error_naming_it_with_stderr(tmp_path: Path) -> None:
    servers: Servers = {"broken": fault(tmp_path, "exit-at-start")}
    with pytest.raises(ConfigError) as err:
        async with McpToolSet(servers, policy(tmp_path)):
            pass
    assert "'broken'" in err.value.message
    assert "cannot open its database" in err.value.message
    assert "\n" not in err.value.message


async def test_server_that_never_initialises_fails_at_startup_timeout(tmp_path: Path) -> None:
    import time

    servers: Servers = {"slow": fault(tmp_path, "hang-init", startup_timeout=1.0)}
    start = time.monotonic()
    with pytest.raises(ConfigError) as err:
        async with McpToolSet(servers, policy(tmp_path)):
            pass
    assert time.monotonic() - start < 8
    assert "'slow'" in err.value.message and "within 1s" in err.value.message
    assert "warming up forever" in err.value.message
    assert wait_gone(str(tmp_path)) == []


async def test_optional_server_failing_is_a_notice(tmp_path: Path) -> None:
    servers: Servers = {
        "maybe": fault(tmp_path / "x", "exit-at-start", optional=True),
        "fault": fault(tmp_path),
    }
    (tmp_path / "x").mkdir()
    async with McpToolSet(servers, policy(tmp_path)) as ts:
        names = set(await tools_of(ts))
        notices = list(ts.notices)
    assert "mcp__fault__peek" in names and not any("maybe" in n for n in names)
    assert len(notices) == 1 and "'maybe'" in notices[0]


async def test_no_server_process_is_left_after_exit(tmp_path: Path) -> None:
    servers: Servers = {"fault": fault(tmp_path)}
    with pytest.raises(RuntimeError):
        async with McpToolSet(servers, policy(tmp_path)):
            assert alive_with(str(tmp_path)) != []
            raise RuntimeError("the session failed")
    assert wait_gone(str(tmp_path)) == []


def test_claude_code_json_and_var_expansion(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("REMOTE_TOKEN", "abc")
    path = tmp_path / ".mcp.json"
    path.write_text(
        json.dumps(
            {
                "mcpServers": {
                    "everything": {"command": "node", "args": ["x.js"], "env": {"A": "1"}},
                    "remote": {
                        "type": "http",
                        "url": "http://127.0.0.1:1/mcp",
                        "headers": {"Authorization": "Bearer ${REMOTE_TOKEN}"},
                    },
                    "legacy": {"type": "sse", "url": "http://127.0.0.1:1/sse"},
                }
            }
        )
    )
    servers = load_mcp_config_file(path)
    assert isinstance(servers["everything"], StdioServerConfig)
    assert servers["everything"].env == {"A": "1"}
    remote = servers["remote"]
    assert isinstance(remote, HttpServerConfig) and remote.transport == "http"
    assert remote.headers["Authorization"] == "Bearer abc"
    assert servers["legacy"].transport == "sse"
    path.write_text('{"mcpServers": {"x": {"type": "ws", "url": "u"}}}')
    with pytest.raises(ConfigError, match="type must be stdio, http or sse"):
        load_mcp_config_file(path)
    path.write_text('{"mcpServers": {"x": {"url": "${NOPE_UNSET_VAR}"}}}')
    with pytest.raises(ConfigError, match="NOPE_UNSET_VAR"):
        load_mcp_config_file(path)


def test_structured_content_is_added_once_and_only_when_the_text_lacks_it() -> None:
    from mcp import types

    from mentra.mcp.client import result_text

    def text_of(texts: list[str], data: dict[str, Any] | None) -> str:
        blocks = [types.TextContent(type="text", text=t) for t in texts]
        return result_text(types.CallToolResult(content=list(blocks), structuredContent=data))

    data = {"b": 1, "a": [2]}
    assert text_of(['{"a":[2],"b":1}'], data) == '{"a":[2],"b":1}'  # the same JSON, re-spaced
    assert text_of(["weather:"], data) == 'weather:\n{"a": [2], "b": 1}'
    assert text_of(['{"a": 3}'], data) == '{"a": 3}\n{"a": [2], "b": 1}'  # different JSON
    assert text_of(["42"], {"result": "42"}) == "42"  # the SDK's wrapped text result
    assert text_of(["plain"], None) == "plain"
