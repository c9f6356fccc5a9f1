"""The hook points called directly, with real hook commands: pre_compact (compaction does not
exist yet, so its call is tested here), the protocol's edges, how layers are gathered."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from mentra.errors import ConfigError
from mentra.events import HookCompleted, Notice
from mentra.user_hooks import gates
from mentra.user_hooks.config import HooksConfig
from mentra.user_hooks.runner import UserHooks
from mentra.user_hooks.sources import gather_hooks
from tests.hooks.conftest import write_hook


class Collect:
    agent_id = "a1"
    run_id = "r1"

    def __init__(self) -> None:
        self.events: list[Any] = []

    def emit(self, cls: type[Any], **fields: Any) -> Any:
        event = cls(seq=len(self.events) + 1, ts="t", agent_id="a1", run_id="r1", **fields)
        self.events.append(event)
        return event


def _hooks(ws: Path, config: dict[str, Any]) -> UserHooks:
    return UserHooks(
        HooksConfig.model_validate(config), cwd=ws, env=lambda: {"PATH": "/usr/bin:/bin"}
    )


async def test_pre_compact_hooks_get_the_event_and_give_context(tmp_path: Path) -> None:
    write_hook(
        tmp_path,
        "keep.py",
        "print(json.dumps({'additional_context': f\"keep {event['trigger']} {event['items']}\"}))",
    )
    write_hook(tmp_path, "bad.py", "sys.exit(5)")
    hooks = _hooks(
        tmp_path, {"pre_compact": [{"command": ["./keep.py"]}, {"command": ["./bad.py"]}]}
    )
    emitter = Collect()
    kept = await gates.before_compact(hooks, emitter, trigger="auto", items=40)
    assert kept == ["keep auto 40"]
    done = [e for e in emitter.events if isinstance(e, HookCompleted)]
    assert [(e.hook, e.decision, e.exit_code) for e in done] == [
        ("pre_compact", "context", 0),
        ("pre_compact", "error", 5),
    ]
    assert any(isinstance(e, Notice) and "failed: exit code 5" in e.message for e in emitter.events)
    assert await gates.before_compact(None, emitter, trigger="auto", items=1) == []


async def test_a_string_command_runs_in_sh_with_the_hook_env(tmp_path: Path) -> None:
    hooks = _hooks(
        tmp_path,
        {
            "session_start": [
                {"command": 'printf \'{"additional_context": "%s in %s"}\' "$MENTRA_HOOK" "$(pwd)"'}
            ]
        },
    )
    await gates.start_run(hooks, Collect(), None)
    assert hooks.take_context() == [
        f"[session_start hook `{hooks.config.session_start[0].command}`]\n"
        f"session_start in {tmp_path}"
    ]


async def test_stdout_that_is_not_a_json_object_is_no_answer(tmp_path: Path) -> None:
    hooks = _hooks(tmp_path, {"pre_tool": [{"command": "echo '[1, 2]'"}, {"command": "echo hi"}]})
    emitter = Collect()
    verdict = await gates.run_pre_tool(hooks, emitter, name="shell", call_id="c", input={"a": 1})
    assert verdict.decision is None and verdict.input == {"a": 1}
    assert [e.decision for e in emitter.events] == ["none", "none"]


async def test_ask_beats_allow_and_the_first_deny_ends_it(tmp_path: Path) -> None:
    say = 'echo \'{"decision": "%s"}\''
    hooks = _hooks(
        tmp_path,
        {
            "pre_tool": [
                {"command": say % "allow"},
                {"command": say % "ask"},
                {"command": say % "allow"},
            ]
        },
    )
    verdict = await gates.run_pre_tool(hooks, Collect(), name="x", call_id="c", input={})
    assert verdict.decision == "ask" and verdict.by is not None and "ask" in verdict.by.command
    hooks = _hooks(tmp_path, {"pre_tool": [{"command": say % "deny"}, {"command": "touch ran"}]})
    verdict = await gates.run_pre_tool(hooks, Collect(), name="x", call_id="c", input={})
    assert verdict.decision == "deny" and not (tmp_path / "ran").exists()


def test_layers_gather_in_order_and_the_highest_max_continues_wins(tmp_path: Path) -> None:
    user_dir = tmp_path / "user"
    user_dir.mkdir()
    (user_dir / "policy.yaml").write_text(
        "hooks:\n  stop:\n    - command: user\n  max_continues: 1\n", encoding="utf-8"
    )
    policy = tmp_path / "p.yaml"
    policy.write_text("hooks:\n  stop:\n    - command: flag\n", encoding="utf-8")
    config = HooksConfig.model_validate({"stop": [{"command": "agent"}], "max_continues": 5})
    merged, notices = gather_hooks(
        workspace=tmp_path, config_hooks=config, user_config_dir=user_dir, policy_files=[policy]
    )
    assert [e.command for e in merged.stop] == ["user", "flag", "agent"]
    assert merged.max_continues == 5 and notices == []
    merged, _ = gather_hooks(
        workspace=tmp_path, config_hooks=None, user_config_dir=user_dir, no_user_config=True
    )
    assert merged.is_empty() and merged.max_continues == 3


def test_a_bad_hooks_block_in_a_policy_file_names_its_line(tmp_path: Path) -> None:
    policy = tmp_path / "p.yaml"
    policy.write_text(
        "hooks:\n  pre_tool:\n    - command: [x]\n      timeout: soon\n", encoding="utf-8"
    )
    with pytest.raises(ConfigError) as info:
        gather_hooks(workspace=tmp_path, config_hooks=None, policy_files=[policy])
    assert str(info.value).startswith(f"{policy}:4:16: pre_tool.0.timeout: invalid duration")
