"""The public Python API (`import mentra` only): one test per `Runtime` method, offline.

Sessions run on the shipped scripted provider; providers that talk HTTP are served from
127.0.0.1 (`tests/providers/harness.py`)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import UTC
from pathlib import Path
from typing import Any, ClassVar

import pytest
from pydantic import BaseModel

import mentra

MENTRA = str(Path(sys.executable).parent / "mentra")
TOOL_ROUND = (
    "turns:\n"
    "  - text: Looking.\n"
    "    tool_calls: [{name: files, input: {operations: [{op: list, path: .}]}}]\n"
    "  - text: done\n"
)


def script(tmp_path: Path, text: str = 'turns:\n  - text: "hello"\n') -> Path:
    path = tmp_path / "script.yaml"
    path.write_text(text)
    return path


def events_of(session: mentra.Session, prompt: str) -> list[Any]:
    import asyncio

    async def main() -> list[Any]:
        return [event async for event in session.run(prompt)]

    return asyncio.run(main())


def test_builder_has_builtin_tools_and_empty_builder_has_none(tmp_path: Path) -> None:
    full = mentra.Runtime.builder(tmp_path).build()
    empty = mentra.Runtime.empty_builder(tmp_path).build()
    assert {"files", "shell"} <= {d.name for d in full.tools()}
    assert empty.tools() == []


class Greeting(BaseModel):
    who: str


class AppState:
    def __init__(self, greeting: str) -> None:
        self.greeting = greeting


class GreetTool(mentra.ArgsTool[Greeting]):
    name: ClassVar[str] = "greet"
    description: ClassVar[str] = "Greet someone with the app's greeting."
    Args = Greeting

    async def run(self, args: Greeting, ctx: mentra.ToolContext) -> mentra.ToolResult:
        return mentra.ToolResult(f"{ctx.app_context(AppState).greeting}, {args.who}!")


def test_register_tool_and_tools_and_tool_descriptor(tmp_path: Path) -> None:
    runtime = mentra.Runtime.empty_builder(tmp_path).build()
    runtime.register_tool(GreetTool())
    assert [d.name for d in runtime.tools()] == ["greet"]
    desc = runtime.tool_descriptor("greet")
    assert desc.source == "registered" and desc.input_schema["required"] == ["who"]
    with pytest.raises(mentra.ConfigError, match="unknown tool 'nope'"):
        runtime.tool_descriptor("nope")


def test_register_context_reaches_a_custom_tool_through_its_context(tmp_path: Path) -> None:
    runtime = mentra.Runtime.empty_builder(tmp_path).tool(GreetTool()).build()
    runtime.register_context(AppState("Hej"))
    assert runtime.app_context(AppState).greeting == "Hej"
    path = script(tmp_path, "turns:\n  - tool_calls: [{name: greet, input: {who: Ada}}]\n"
                  "  - text: greeted\n")  # fmt: skip
    session = runtime.create_session("greeter", f"scripted:{path}")
    events = events_of(session, "greet Ada")
    done = next(e for e in events if e.type == "tool_completed")
    assert done.output == "Hej, Ada!" and not done.is_error
    with pytest.raises(LookupError):
        runtime.app_context(Greeting)


def test_register_skills_dir(tmp_path: Path) -> None:
    skill = tmp_path / "skills" / "haiku"
    skill.mkdir(parents=True)
    (skill / "SKILL.md").write_text("---\nname: haiku\ndescription: Write haiku.\n---\nBe brief.\n")
    runtime = mentra.Runtime.empty_builder(tmp_path).build()
    runtime.register_skills_dir(tmp_path / "skills")
    agent = runtime.spawn("poet", f"scripted:{script(tmp_path)}")
    assert "haiku" in (agent.setup.system or "")
    assert [d.name for d in runtime.tools()] == ["load_skill"]


def test_spawn_by_name_and_model(tmp_path: Path) -> None:
    runtime = mentra.Runtime.builder(tmp_path).build()
    agent = runtime.spawn("helper", f"scripted:{script(tmp_path)}")
    assert agent.setup.name == "helper" and agent.setup.provider_name == "scripted"


def test_spawn_with_config_without_the_cli(tmp_path: Path) -> None:
    config = mentra.AgentConfig.model_validate(
        {"system": "Be terse.", "tools": {"only": ["files"]}, "limits": {"max_rounds": 3}}
    )
    runtime = mentra.Runtime.builder(tmp_path).build()
    agent = runtime.spawn_with_config("terse", f"scripted:{script(tmp_path)}", config)
    assert agent.setup.name == "terse" and agent.setup.system == "Be terse."
    assert list(agent.setup.tools) == ["files"] and agent.setup.limits.max_rounds == 3


def _stored(tmp_path: Path) -> mentra.Runtime:
    store = mentra.open_store(tmp_path / "s.sqlite")
    return mentra.Runtime.builder(tmp_path).store(store, str(tmp_path / "s.sqlite")).build()


def test_resume_agent_restores_the_transcript(tmp_path: Path) -> None:
    runtime = _stored(tmp_path)
    session = runtime.create_session("a", f"scripted:{script(tmp_path)}")
    events_of(session, "hi")
    agent = runtime.resume_agent(session.agent_id)
    assert [m.role for m in agent.history] == ["user", "assistant"]
    runtime.close()


def test_resume_and_resume_all_and_list_persisted_agents(tmp_path: Path) -> None:
    runtime = _stored(tmp_path)
    path = script(tmp_path)
    here = runtime.spawn("here", f"scripted:{path}")
    there = runtime.create_session("there", f"scripted:{path}", project_id="team-b")
    assert [r.id for r in runtime.list_persisted_agents()] == [here.id]
    assert [r.id for r in runtime.list_persisted_agents("team-b")] == [there.agent_id]
    assert [a.id for a in runtime.resume()] == [here.id]
    assert [a.id for a in runtime.resume("team-b")] == [there.agent_id]
    assert {a.id for a in runtime.resume_all()} == {here.id, there.agent_id}
    runtime.close()


def test_create_session_yields_events_and_sets_the_outcome(tmp_path: Path) -> None:
    runtime = mentra.Runtime.builder(tmp_path).build()
    session = runtime.create_session("a", f"scripted:{script(tmp_path)}")
    events = events_of(session, "hi")
    assert [e.type for e in events] == [
        "session_started", "user_message", "assistant_message_completed",
        "memory_updated",  # the run's episode, ingested into long-term memory
        "run_finished",
    ]  # fmt: skip
    assert session.outcome is not None and session.outcome.final_text == "hello"
    assert {e.run_id for e in events} == {session.run_id}


def test_create_session_with_a_config_file(tmp_path: Path) -> None:
    config = tmp_path / "agent.yaml"
    config.write_text("system: From the file.\n")
    runtime = mentra.Runtime.builder(tmp_path).build()
    session = runtime.create_session("filed", f"scripted:{script(tmp_path)}", config)
    assert session.agent.setup.system == "From the file."


def test_resume_session_continues_a_stored_agent(tmp_path: Path) -> None:
    runtime = _stored(tmp_path)
    path = script(tmp_path, "turns:\n  - text: one\n  - text: two\n")
    first = runtime.create_session("a", f"scripted:{path}")
    events_of(first, "hi")
    again = runtime.resume_session(first.agent_id)
    events = events_of(again, "and again")
    assert events[0].resumed is True and events[-1].final_text == "two"
    with pytest.raises(mentra.MentraError, match="no agent"):
        runtime.resume_session(first.agent_id, project_id="elsewhere")
    runtime.close()


def test_session_cancel_interrupts_with_the_signal_number(tmp_path: Path) -> None:
    import asyncio

    runtime = mentra.Runtime.builder(tmp_path).policy(mode="bypass").build()
    path = script(tmp_path, "turns:\n  - tool_calls: [{name: shell, input: {command: sleep 5}}]\n")
    session = runtime.create_session("a", f"scripted:{path}")

    async def main() -> list[Any]:
        seen = []
        async for event in session.run("sleep"):
            seen.append(event)
            if event.type == "tool_started":
                session.cancel(15)
        return seen

    events = asyncio.run(main())
    assert events[-1].type == "run_finished" and events[-1].status == "interrupted"
    assert events[-1].exit_code == 143


def test_providers_and_register_ollama_and_lmstudio(tmp_path: Path) -> None:
    runtime = mentra.Runtime.empty_builder(tmp_path).build()
    assert {"openai", "anthropic", "scripted"} <= set(runtime.providers())
    runtime.register_ollama("http://127.0.0.1:9/v1")
    runtime.register_lmstudio("http://127.0.0.1:8/v1")
    assert runtime.provider_settings("ollama").base_url == "http://127.0.0.1:9/v1"
    assert runtime.provider_settings("lmstudio").base_url == "http://127.0.0.1:8/v1"
    assert runtime.provider_settings("lmstudio").wire == "openai-chat"


class NamedModels(mentra.ScriptedProvider):
    def __init__(self, name: str, models: list[mentra.ModelInfo]) -> None:
        super().__init__(name=name)
        self.models = models
        self.listed = 0

    async def list_models(self) -> list[mentra.ModelInfo]:
        self.listed += 1
        return list(self.models)


def test_register_provider_instance_list_models_and_resolve_model(tmp_path: Path) -> None:
    from datetime import datetime

    def at(day: int) -> datetime:
        return datetime(2026, 1, day, tzinfo=UTC)

    provider = NamedModels(
        "mine",
        [
            mentra.ModelInfo(id="b", provider="mine", created=at(2)),
            mentra.ModelInfo(id="a", provider="mine", created=at(2)),
            mentra.ModelInfo(id="old", provider="mine", created=at(1)),
            mentra.ModelInfo(id="z", provider="mine"),
        ],
    )
    runtime = mentra.Runtime.empty_builder(tmp_path).provider_instance(provider).build()
    assert "mine" in runtime.providers()
    import asyncio

    assert [m.id for m in asyncio.run(runtime.list_models("mine"))] == ["b", "a", "old", "z"]
    newest = asyncio.run(runtime.resolve_model("mine", "newest"))
    assert newest is not None and newest.id == "a"  # created desc, then id asc
    listed = provider.listed
    exact = asyncio.run(runtime.resolve_model("mine", "some-id"))
    assert exact is not None and exact.id == "some-id" and provider.listed == listed  # no call
    session = runtime.create_session("x", f"mine:{script(tmp_path)}")
    assert events_of(session, "hi")[-1].final_text == "hello"


async def test_register_provider_uses_the_given_key(tmp_path: Path, tcp: Any) -> None:
    from tests.providers.harness import Reply

    tcp.queue(Reply.sse("openai-responses", "text.sse"))
    runtime = (
        mentra.Runtime.empty_builder(tmp_path)
        .providers({"corp": mentra_settings(tcp.base_url)})
        .provider("corp", "sk-given-by-python")
        .build()
    )
    session = runtime.create_session("k", "corp:m-1")
    events = [e async for e in session.run("hi")]
    await runtime.aclose()
    assert events[-1].status == "success", events[-1].errors
    assert tcp.requests[0].headers["authorization"] == "Bearer sk-given-by-python"


def mentra_settings(base_url: str) -> Any:
    from mentra.providers.registry import ProviderSettings

    return ProviderSettings(
        wire="openai-responses", base_url=base_url, api_key_env="MENTRA_TEST_UNSET_KEY"
    )


def test_builder_policy_and_hooks_apply_to_every_agent(tmp_path: Path) -> None:
    calls: list[str] = []

    def add(pipeline: mentra.HookPipeline) -> None:
        async def note(call: mentra.ToolCall) -> None:
            calls.append(call.use.name)

        pipeline.before_tool.append(note)

    runtime = mentra.Runtime.builder(tmp_path).policy(deny=["files"]).hooks(add).build()
    session = runtime.create_session("p", f"scripted:{script(tmp_path, TOOL_ROUND)}")
    events = events_of(session, "look")
    resolved = next(e for e in events if e.type == "permission_resolved")
    assert resolved.outcome == "deny" and resolved.rule == "files"
    assert calls == ["files"]


def test_a_python_session_yields_exactly_the_events_the_cli_prints(tmp_path: Path) -> None:
    path = script(tmp_path, TOOL_ROUND)
    env = {**os.environ, "MENTRA_CONFIG_DIR": str(tmp_path / "cfg")}
    proc = subprocess.run(
        [MENTRA, "run", "-m", f"scripted:{path}", "look", "--ephemeral", "--no-user-config",
         "-C", str(tmp_path)],
        capture_output=True, text=True, env=env, stdin=subprocess.DEVNULL, timeout=60,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    cli = [json.loads(line) for line in proc.stdout.splitlines()]
    runtime = mentra.Runtime.builder(tmp_path).build()
    session = runtime.create_session("agent", f"scripted:{path}")
    py = [e.model_dump(mode="json") for e in events_of(session, "look")]
    assert [e["type"] for e in py] == [e["type"] for e in cli]
    # ids and timings differ run to run (an episode's record id names its agent)
    drop = {"ts", "agent_id", "run_id", "duration_ms", "agent_name", "output", "key", "record_id"}
    for mine, theirs in zip(py, cli, strict=True):
        assert {k: v for k, v in mine.items() if k not in drop} == {
            k: v for k, v in theirs.items() if k not in drop
        }


class ServerTools(mentra.ToolSet):
    """A tool set that, like an MCP server, only knows its tools once started."""

    source = "server"

    def __init__(self) -> None:
        self.log: list[str] = []

    async def __aenter__(self) -> mentra.ToolSet:
        self.log.append("start")
        return self

    async def __aexit__(self, *exc: object) -> None:
        self.log.append("stop")

    async def list_tools(self) -> list[mentra.Tool]:
        self.log.append("list")
        return [GreetTool()]


def test_register_toolset_is_entered_listed_and_closed_around_each_session(
    tmp_path: Path,
) -> None:
    server = ServerTools()
    runtime = mentra.Runtime.empty_builder(tmp_path).context(AppState("Hi")).build()
    runtime.register_toolset(server)
    path = script(tmp_path, "turns:\n  - tool_calls: [{name: greet, input: {who: Bo}}]\n"
                  "  - text: ok\n")  # fmt: skip
    session = runtime.create_session("s", f"scripted:{path}")
    assert server.log == []  # nothing starts before the session
    events = events_of(session, "greet")
    assert server.log == ["start", "list", "stop"]
    assert events[0].tools == ["greet"]
    done = next(e for e in events if e.type == "tool_completed")
    assert done.output == "Hi, Bo!"


def test_only_and_hide_wrap_a_toolset_and_keep_their_config_errors(tmp_path: Path) -> None:
    import asyncio

    inner = mentra.StaticToolSet([GreetTool()], "registered")
    from mentra.tools.toolset import HideTools, OnlyTools

    assert asyncio.run(OnlyTools(inner, ["greet"], lambda i: None).list_tools())[0].name == "greet"
    assert asyncio.run(HideTools(inner, ["greet"], lambda i: None).list_tools()) == []
    with pytest.raises(mentra.ConfigError, match=r"a\.yaml:3:9: unknown tool 'x' in tools\.hide"):
        HideTools(inner, ["x"], lambda i: "a.yaml:3:9").static_tools()
