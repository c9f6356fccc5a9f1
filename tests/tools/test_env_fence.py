"""A command's environment never holds a provider's API key (README "Secrets")."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from mentra.permissions.policy import RuntimePolicy

MENTRA = str(Path(sys.executable).parent / "mentra")
KEYS = {
    "OPENAI_API_KEY": "sk-openai-secret-value",
    "ANTHROPIC_API_KEY": "sk-ant-secret-value",
    "GEMINI_API_KEY": "gemini-secret-value",
    "OPENROUTER_API_KEY": "sk-or-secret-value",
}


@pytest.mark.parametrize(
    "allow", [["*"], ["PATH", *KEYS], ["OPENAI_API_KEY"], ["PATH", "*", "MY_TOKEN"]]
)
def test_child_env_drops_provider_keys(
    workspace: Path, monkeypatch: pytest.MonkeyPatch, allow: list[str]
) -> None:
    for name, value in KEYS.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("MY_TOKEN", "kept")
    env = RuntimePolicy(working_dir=workspace, env_allow=allow).child_env()
    assert not set(env) & set(KEYS)
    assert "*" not in env  # names, not patterns
    assert env.get("MY_TOKEN") == ("kept" if "MY_TOKEN" in allow else None)


@pytest.mark.parametrize("tool", ["shell", "word_env"])
def test_a_real_run_s_tools_never_see_the_keys(tmp_path: Path, tool: str) -> None:
    allow = ["PATH", "*", *KEYS]
    config = {
        "policy": {"env_allow": allow},
        "tools": {
            "custom": [
                {
                    "name": "word_env",
                    "description": "print the environment",
                    "command": ["env"],
                    "mutates": False,
                }
            ]
        },
    }
    (tmp_path / "agent.yaml").write_text(json.dumps(config))
    call = {"name": tool, "input": {"command": "env"} if tool == "shell" else {}}
    script = tmp_path / "script.yaml"
    script.write_text(json.dumps({"turns": [{"tool_calls": [call]}, {"text": "Done."}]}))
    argv = [MENTRA, "run", "-c", "agent.yaml", "-m", f"scripted:{script}", "--ephemeral"]
    done = subprocess.run(
        [*argv, "--no-user-config", "--permission-mode", "bypass", "go"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        stdin=subprocess.DEVNULL,
        timeout=60,
        env={**os.environ, **KEYS},
    )
    assert done.returncode == 0, done.stderr
    events = [json.loads(line) for line in done.stdout.splitlines()]
    (result,) = [e for e in events if e["type"] == "tool_completed"]
    assert not result["is_error"] and "PATH=" in result["output"]
    for name, value in KEYS.items():
        assert name not in result["output"] and value not in done.stdout


def test_a_declared_providers_key_never_reaches_a_command(
    workspace: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`providers.NAME.api_key_env` is a secret too, even when `env_allow` names it."""
    from mentra import Runtime
    from mentra.config import AgentConfig

    monkeypatch.setenv("MY_GATEWAY_KEY", "gw-secret-value")
    monkeypatch.setenv("MY_TOKEN", "kept")
    config = AgentConfig.model_validate(
        {
            "providers": {
                "gw": {
                    "wire": "openai-chat",
                    "base_url": "http://127.0.0.1:9/v1",
                    "api_key_env": "MY_GATEWAY_KEY",
                }
            },
            "policy": {"env_allow": ["MY_GATEWAY_KEY", "MY_TOKEN"]},
        }
    )
    env = Runtime(workspace=workspace).build_policy(config).child_env()
    assert env == {"MY_TOKEN": "kept"}
