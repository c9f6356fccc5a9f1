"""What the CLI's inspection commands ask of the public `Runtime` (`import mentra` only): the
permission engine and requests of a config, and a scripted model's script."""

from __future__ import annotations

from pathlib import Path

import pytest

import mentra


def _loaded(tmp_path: Path, text: str) -> mentra.LoadedConfig:
    path = tmp_path / "agent.yaml"
    path.write_text(text)
    loaded, _user = mentra.load_agent_config(path)
    return loaded


def test_permission_engine_and_request_judge_a_call_as_a_run_would(tmp_path: Path) -> None:
    runtime = mentra.Runtime(workspace=tmp_path, no_user_config=True)
    loaded = _loaded(
        tmp_path, "permissions:\n  allow: ['shell(git status)']\n  deny: ['shell(rm *)']\n"
    )
    authorizer, notices = runtime.permission_engine(loaded, mentra.RunOverrides())
    assert notices == []
    shell = {t.name: t for t, _src in runtime.tool_set(loaded).values()}["shell"]
    allowed = runtime.permission_request(shell, {"command": "git status"}, loaded)
    assert allowed.subjects == ["git status"] and allowed.mutates
    assert authorizer.evaluate(allowed).outcome == "allow"
    # a compound command is split into its commands, as the run's engine splits it
    denied = runtime.permission_request(shell, {"command": "git status && rm -rf x"}, loaded)
    assert authorizer.evaluate(denied).outcome == "deny"
    with pytest.raises(mentra.ToolInputError):
        runtime.permission_request(shell, {"commandx": 1}, loaded)


def test_permission_engine_takes_the_flags_over_the_config(tmp_path: Path) -> None:
    runtime = mentra.Runtime(workspace=tmp_path, no_user_config=True)
    authorizer, _ = runtime.permission_engine(
        None, mentra.RunOverrides(permission_mode="read-only")
    )
    assert authorizer.mode == "read-only"


def test_script_model_reads_and_checks_the_script(tmp_path: Path) -> None:
    runtime = mentra.Runtime(workspace=tmp_path, no_user_config=True)
    (tmp_path / "s.yaml").write_text("model: demo-1\nturns:\n  - text: hi\n")
    info = runtime.script_model("scripted", "s.yaml")
    assert (info.id, info.provider, info.display_name) == (
        "demo-1",
        "scripted",
        str(runtime.workspace / "s.yaml"),
    )
    (tmp_path / "bare.yaml").write_text("turns:\n  - text: hi\n")
    assert runtime.script_model("scripted", "bare.yaml").id == "bare.yaml"
    with pytest.raises(mentra.ConfigError, match="script file not found"):
        runtime.script_model("scripted", "missing.yaml")
    (tmp_path / "bad.yaml").write_text("turns: []\n")
    with pytest.raises(mentra.ConfigError):
        runtime.script_model("scripted", "bad.yaml")
