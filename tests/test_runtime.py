"""The `Runtime` API: what a spawned agent is given, from config and overrides."""

from __future__ import annotations

from pathlib import Path

import pytest

from mentra.config import load_agent_config
from mentra.errors import ConfigError
from mentra.runtime import RunOverrides, Runtime

REPO = Path(__file__).resolve().parents[1]


def runtime() -> Runtime:
    return Runtime(workspace=REPO, no_user_config=True)


def test_system_prompt_lists_skills_and_the_output_schema() -> None:
    loaded, _ = load_agent_config(REPO / "examples" / "agents" / "demo.yaml")
    schema = {"type": "object", "required": ["answer"]}
    agent = runtime().spawn(loaded, RunOverrides(json_schema=schema))
    system = agent.setup.system or ""
    assert system.startswith("You are a concise assistant")
    assert "git" in system and "test" in system  # the example skills, by name
    assert '"required": [\n    "answer"\n  ]' in system
    assert [t.name for t in agent.setup.tool_specs] == ["files", "load_skill"]


def test_overrides_win_over_the_config() -> None:
    loaded, _ = load_agent_config(REPO / "examples" / "agents" / "demo.yaml")
    agent = runtime().spawn(
        loaded, RunOverrides(system="Be terse.", max_rounds=2, timeout=9.0, model="scripted:x.yaml")
    )
    assert agent.setup.system is not None and agent.setup.system.startswith("Be terse.")
    assert agent.setup.limits.max_rounds == 2 and agent.setup.limits.timeout == 9.0
    assert agent.setup.model == str(REPO / "x.yaml")


def test_unknown_tool_in_hide_names_its_line(tmp_path: Path) -> None:
    path = tmp_path / "a.yaml"
    path.write_text("model: scripted:s.yaml\ntools:\n  hide: [files, nosuch]\n")
    loaded, _ = load_agent_config(path)
    with pytest.raises(ConfigError, match=r"a\.yaml:3:17: unknown tool 'nosuch' in tools.hide"):
        runtime().spawn(loaded, RunOverrides())


def test_repeated_spawns_do_not_accumulate_state() -> None:
    loaded, _ = load_agent_config(REPO / "examples" / "agents" / "demo.yaml")
    rt = runtime()
    first = rt.spawn(loaded, RunOverrides())
    second = rt.spawn(loaded, RunOverrides())
    assert first.setup.system == second.setup.system
    assert first.id != second.id
