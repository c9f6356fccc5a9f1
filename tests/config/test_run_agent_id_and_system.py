"""`run --agent-id`, `--append-system`/`--append-system-file` and `--effort` (#20 items 2
and 5), through real `mentra` processes and typer's CliRunner against a fake Chat
Completions server."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from mentra_cli.app import app
from tests.config.fakechat import FakeChat

runner = CliRunner()


def _config(tmp_path: Path, fakechat: FakeChat, system: str = "base prompt") -> Path:
    path = tmp_path / "agent.yaml"
    path.write_text(
        f"model: fakechat:fake-1\nsystem: '{system}'\n" + fakechat.provider_yaml(),
        encoding="utf-8",
    )
    return path


def test_agent_id_then_resume_by_it(mentra: Any, fakechat: FakeChat, tmp_path: Path) -> None:
    config, store = _config(tmp_path, fakechat), str(tmp_path / "s.sqlite")
    first = mentra("run", "-c", str(config), "hello", "--agent-id", "pr-123", "--store", store)
    assert first.code == 0, first.stderr
    assert {e["agent_id"] for e in first.events} == {"pr-123"}
    again = mentra("resume", "pr-123", "and then?", "--store", store)
    assert again.code == 0, again.stderr
    assert again.events[0]["resumed"] is True and again.events[-1]["agent_id"] == "pr-123"
    contents = [m["content"] for m in fakechat.requests[1]["messages"]]
    assert contents == ["base prompt", "hello", "ok", "and then?"]
    taken = mentra("run", "-c", str(config), "hi", "--agent-id", "pr-123", "--store", store)
    assert taken.code == 2
    assert taken.stderr.strip().splitlines() == [
        "mentra: error: --agent-id 'pr-123': an agent with that id already exists"
    ]
    assert taken.stdout == "" and len(fakechat.requests) == 2  # nothing ran, nothing stored
    listed = mentra("list-agents", "--all", "--store", store, "-o", "json")
    assert listed.code == 0 and listed.stdout.count('"pr-123"') == 1


def test_an_id_that_is_a_prefix_of_another_is_still_new(fakechat: FakeChat, tmp_path: Path) -> None:
    config, store = _config(tmp_path, fakechat), str(tmp_path / "s.sqlite")
    for agent_id in ("pr-123-b", "pr-123"):
        result = runner.invoke(
            app, ["run", "-c", str(config), "hi", "--agent-id", agent_id, "--store", store]
        )
        assert result.exit_code == 0, result.output
        assert f'"agent_id":"{agent_id}"' in result.stdout.replace(" ", "")


@pytest.mark.parametrize("bad", ["../x", "a b", "-flag", "x" * 65, "é", ""])
def test_agent_id_charset_is_checked(fakechat: FakeChat, tmp_path: Path, bad: str) -> None:
    config = _config(tmp_path, fakechat)
    result = runner.invoke(app, ["run", "-c", str(config), "hi", "--agent-id", bad, "--ephemeral"])
    assert result.exit_code == 2, result.output
    assert "--agent-id" in result.stderr and "Traceback" not in result.stderr
    assert fakechat.requests == []


def test_append_system_and_effort_reach_the_request(
    mentra: Any, fakechat: FakeChat, tmp_path: Path
) -> None:
    config, store = _config(tmp_path, fakechat), str(tmp_path / "s.sqlite")
    extra = tmp_path / "extra.md"
    extra.write_text("from a file\n", encoding="utf-8")
    run = mentra(
        "run", "-c", str(config), "hi", "--append-system", "one more rule",
        "--append-system-file", str(extra), "--effort", "high", "--store", store,
        "--agent-id", "sys",
    )  # fmt: skip
    assert run.code == 0, run.stderr
    body = fakechat.requests[0]
    assert body["messages"][0] == {
        "role": "system",
        "content": "base prompt\n\none more rule\n\nfrom a file\n",
    }
    assert body["reasoning_effort"] == "high"
    # the flags are per run: a resume without them sends the config's prompt and no effort
    plain = mentra("resume", "sys", "again", "--store", store)
    assert plain.code == 0, plain.stderr
    assert fakechat.requests[1]["messages"][0]["content"] == "base prompt"
    assert "reasoning_effort" not in fakechat.requests[1]
    tuned = mentra("resume", "sys", "once more", "--append-system", "be brief", "--effort",
                   "low", "--store", store)  # fmt: skip
    assert tuned.code == 0, tuned.stderr
    assert fakechat.requests[2]["messages"][0]["content"] == "base prompt\n\nbe brief"
    assert fakechat.requests[2]["reasoning_effort"] == "low"


def test_append_system_adds_to_system_flag_and_to_no_prompt(
    fakechat: FakeChat, tmp_path: Path
) -> None:
    config = _config(tmp_path, fakechat)
    args = ["run", "-c", str(config), "hi", "--ephemeral", "--append-system", "tail"]
    assert runner.invoke(app, [*args, "--system", "replaced"]).exit_code == 0
    assert fakechat.requests[0]["messages"][0]["content"] == "replaced\n\ntail"
    bare = tmp_path / "bare.yaml"
    bare.write_text("model: fakechat:fake-1\n" + fakechat.provider_yaml(), encoding="utf-8")
    result = runner.invoke(app, ["run", "-c", str(bare), "hi", "--ephemeral",
                                 "--append-system", "only this"])  # fmt: skip
    assert result.exit_code == 0, result.output
    assert fakechat.requests[1]["messages"][0] == {"role": "system", "content": "only this"}


@pytest.mark.parametrize(
    ("flags", "message"),
    [
        (["--effort", "max"], "--effort must be low, medium or high, got 'max'"),
        (["--append-system-file", "missing.md"], "--append-system-file missing.md: cannot read"),
        (["--append-system-file", "empty.md"], "--append-system-file empty.md: the file is empty"),
    ],
)
def test_bad_system_and_effort_flags_exit_2(
    fakechat: FakeChat, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, flags: list[str],
    message: str,
) -> None:  # fmt: skip
    monkeypatch.chdir(tmp_path)
    (tmp_path / "empty.md").write_text("  \n", encoding="utf-8")
    config = _config(tmp_path, fakechat)
    result = runner.invoke(app, ["run", "-c", str(config), "hi", "--ephemeral", *flags])
    assert result.exit_code == 2, result.output
    assert message in result.stderr and "Traceback" not in result.stderr
    assert fakechat.requests == []
