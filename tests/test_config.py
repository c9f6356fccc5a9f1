"""Agent config loading: strict keys, locations, interpolation, variables, user defaults."""

from __future__ import annotations

from pathlib import Path

import pytest

from mentra.config import load_agent_config, split_model
from mentra.errors import ConfigError


def write(tmp_path: Path, text: str, name: str = "agent.yaml") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


@pytest.mark.parametrize(
    ("text", "where", "needle"),
    [
        ("name: x\nlimits:\n  max_rounds: 0\n", ":3:15:", "greater than or equal to 1"),
        ("name: x\npolicy:\n  command_timeout: soon\n", ":3:20:", "invalid duration"),
        ("name: x\ntools:\n  only: files\n", ":3:9:", "valid list"),
        ("name: x\nmodel: gpt-5\n", ":2:8:", "PROVIDER:MODEL"),
        (
            "name: x\npermissions:\n  allow: ['shell(git *']\n",
            ":3:11:",
            "malformed permission rule",
        ),
        ("name: x\nprovidres: {}\n", ":2:1:", "unknown key 'providres'"),
        ("- just\n- a list\n", ":1:1:", "mapping"),
        ("name: x\n  bad indent: 1\n", ":2:", "invalid YAML"),
        ("", ":1:1:", "empty"),
    ],
)
def test_errors_name_file_line_col(tmp_path: Path, text: str, where: str, needle: str) -> None:
    path = write(tmp_path, text)
    with pytest.raises(ConfigError) as info:
        load_agent_config(path)
    message = str(info.value)
    assert message.startswith(f"{path}{where}"), message
    assert needle in message
    assert info.value.exit_code == 2


def test_env_interpolation(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AGENT_MODEL", "anthropic:claude-x")
    monkeypatch.delenv("UNSET_THING", raising=False)
    path = write(tmp_path, "model: ${AGENT_MODEL}\nsystem: 'mode ${UNSET_THING:-fallback}'\n")
    loaded, _ = load_agent_config(path)
    assert loaded.config.model == "anthropic:claude-x"
    assert loaded.config.system == "mode fallback"
    path = write(tmp_path, "model: ${UNSET_THING}\n")
    with pytest.raises(ConfigError, match=r":1:8: environment variable UNSET_THING is not set"):
        load_agent_config(path)


def test_template_variables(tmp_path: Path) -> None:
    path = write(tmp_path, "system: 'Review {{ branch }} for {{team}}'\n")
    loaded, _ = load_agent_config(path, variables={"branch": "main", "team": "core"})
    assert loaded.config.system == "Review main for core"
    with pytest.raises(ConfigError, match=r"\{\{team\}\} has no value \(pass --var team=...\)"):
        load_agent_config(path, variables={"branch": "main"})


def test_user_config_is_laid_under_the_agent_file(tmp_path: Path) -> None:
    user = write(
        tmp_path,
        "model: openai:gpt-x\nlimits: {max_rounds: 7, timeout: 60}\ntrusted_folders: [/srv]\n",
        "user.yaml",
    )
    path = write(tmp_path, "name: a\nlimits: {max_rounds: 3}\n")
    loaded, user_config = load_agent_config(path, user_config=user)
    assert loaded.config.model == "openai:gpt-x"  # from the user defaults
    assert loaded.config.limits.max_rounds == 3  # the file wins
    assert loaded.config.limits.timeout == 60.0  # merged key by key
    assert user_config is not None and user_config.trusted_folders == ["/srv"]


def test_example_configs_load(monkeypatch: pytest.MonkeyPatch) -> None:
    root = Path(__file__).resolve().parents[1]
    for path in sorted((root / "examples" / "agents").glob("*.yaml")):
        loaded, _ = load_agent_config(path)
        assert loaded.config.name


def test_split_model() -> None:
    assert split_model("scripted:examples/s.yaml") == ("scripted", "examples/s.yaml")
    assert split_model("ollama:llama3:8b") == ("ollama", "llama3:8b")
    with pytest.raises(ValueError):
        split_model("gpt-5")
