"""Layers: user file, project file (trusted or not), --policy files, agent config, flags."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from mentra.errors import ConfigError
from mentra.permissions.decide import (
    ApprovalAnswer,
    Authorizer,
    PermissionRequest,
    PermissionsConfig,
)
from mentra.permissions.layers import build_authorizer, is_trusted


def shell(cmd: str) -> PermissionRequest:
    return PermissionRequest(tool="shell", subjects=[cmd], mutates=True, kind="shell")


class Env:
    def __init__(self, tmp_path: Path) -> None:
        self.workspace = tmp_path / "ws"
        self.config_dir = tmp_path / "cfg"
        self.workspace.mkdir()
        self.config_dir.mkdir()
        self.tmp = tmp_path

    def user(self, text: str) -> None:
        (self.config_dir / "policy.yaml").write_text(text)

    def project(self, text: str) -> Path:
        (self.workspace / ".mentra").mkdir(exist_ok=True)
        path = self.workspace / ".mentra" / "policy.yaml"
        path.write_text(text)
        return path

    def policy(self, text: str, name: str = "extra.yaml") -> Path:
        path = self.tmp / name
        path.write_text(text)
        return path

    def build(self, **kw: Any) -> tuple[Authorizer, list[str]]:
        kw.setdefault("workspace", self.workspace)
        kw.setdefault("user_config_dir", self.config_dir)
        return build_authorizer(**kw)


@pytest.fixture
def env(tmp_path: Path) -> Env:
    return Env(tmp_path)


# Each row: the layer contents, the command, and the decision. Layers are lowest first:
# user < project < --policy < config < flags. Rules accumulate; the highest mode wins.
LAYER_TABLE: list[tuple[str, dict[str, Any], str, str, str | None]] = [
    ("nothing: mode default asks", {}, "make", "ask", None),
    ("user allow", {"user": "allow: ['shell(make*)']"}, "make", "allow", "shell(make*)"),
    (
        "user deny beats flag allow",
        {"user": "deny: ['shell(make*)']", "flag_allow": ["shell"]},
        "make",
        "deny",
        "shell(make*)",
    ),
    (
        "flag deny beats user allow",
        {"user": "allow: [shell]", "flag_deny": ["shell(make*)"]},
        "make",
        "deny",
        "shell(make*)",
    ),
    (
        "config ask beats policy allow",
        {"policy": "allow: [shell]", "config": {"ask": ["shell(make*)"]}},
        "make",
        "ask",
        "shell(make*)",
    ),
    ("user mode bypass", {"user": "mode: bypass"}, "make", "allow", None),
    (
        "policy mode overrides user mode",
        {"user": "mode: bypass", "policy": "mode: read-only"},
        "make",
        "deny",
        None,
    ),
    (
        "config mode overrides policy mode",
        {"policy": "mode: read-only", "config": {"mode": "bypass"}},
        "make",
        "allow",
        None,
    ),
    (
        "config without mode keeps policy mode",
        {"policy": "mode: read-only", "config": {}},
        "make",
        "deny",
        None,
    ),
    (
        "flag mode overrides config",
        {"config": {"mode": "bypass"}, "flag_mode": "read-only"},
        "make",
        "deny",
        None,
    ),
    (
        "untrusted project deny applies",
        {"user": "allow: [shell]", "project": "deny: ['shell(make*)']"},
        "make",
        "deny",
        "shell(make*)",
    ),
    (
        "untrusted project ask applies",
        {"user": "mode: bypass", "project": "ask: ['shell(make*)']"},
        "make",
        "ask",
        "shell(make*)",
    ),
    ("untrusted project allow ignored", {"project": "allow: [shell]"}, "make", "ask", None),
    ("untrusted project bypass ignored", {"project": "mode: bypass"}, "make", "ask", None),
    (
        "untrusted project may narrow the mode",
        {"user": "mode: bypass", "project": "mode: read-only"},
        "make",
        "deny",
        None,
    ),
    (
        "trusted project allow applies",
        {"project": "allow: [shell]", "trust_project": True},
        "make",
        "allow",
        "shell",
    ),
    (
        "trusted project bypass applies",
        {"project": "mode: bypass", "trust_project": True},
        "make",
        "allow",
        None,
    ),
    (
        "project narrowing is overridden by a higher layer's mode",
        {"project": "mode: read-only", "flag_mode": "bypass"},
        "make",
        "allow",
        None,
    ),
    (
        "no_user_config skips the user file",
        {"user": "allow: [shell]", "no_user_config": True},
        "make",
        "ask",
        None,
    ),
]


@pytest.mark.parametrize(
    ("layers", "cmd", "outcome", "rule"),
    [row[1:] for row in LAYER_TABLE],
    ids=[row[0] for row in LAYER_TABLE],
)
def test_layers(env: Env, layers: dict[str, Any], cmd: str, outcome: str, rule: str | None) -> None:
    kw: dict[str, Any] = {}
    if "user" in layers:
        env.user(layers["user"])
    if "project" in layers:
        env.project(layers["project"])
    if "policy" in layers:
        kw["policy_files"] = [env.policy(layers["policy"])]
    if "config" in layers:
        kw["config"] = PermissionsConfig.model_validate(layers["config"])
    for key in (
        "flag_allow",
        "flag_ask",
        "flag_deny",
        "flag_mode",
        "trust_project",
        "no_user_config",
    ):
        if key in layers:
            kw[key] = layers[key]
    authorizer, _ = env.build(**kw)
    decision = authorizer.evaluate(shell(cmd))
    assert (decision.outcome, decision.rule) == (outcome, rule)


def test_untrusted_project_notice(env: Env) -> None:
    path = env.project("mode: bypass\nallow: [shell, files]\ndeny: ['shell(rm *)']\n")
    authorizer, notices = env.build()
    assert len(notices) == 1
    assert "2 allow rules and mode bypass" in notices[0] and str(path) in notices[0]
    assert "--trust-project" in notices[0]
    assert authorizer.mode == "default"
    assert authorizer.evaluate(shell("rm x")).source == f"{path}:3:8"


def test_narrowing_project_without_allow_gives_no_notice(env: Env) -> None:
    env.project("deny: ['shell(rm *)']\n")
    _, notices = env.build()
    assert notices == []


def test_trusted_folders(env: Env) -> None:
    env.project("allow: [shell]")
    authorizer, notices = env.build(trusted_folders=[env.tmp])
    assert notices == [] and authorizer.evaluate(shell("make")).outcome == "allow"
    env.user(f"trusted_folders: ['{env.workspace}']")
    authorizer, notices = env.build()
    assert notices == [] and authorizer.evaluate(shell("make")).outcome == "allow"


def test_is_trusted(tmp_path: Path) -> None:
    (tmp_path / "a" / "b").mkdir(parents=True)
    assert is_trusted(tmp_path / "a" / "b", [tmp_path / "a"])
    assert not is_trusted(tmp_path / "a", [tmp_path / "a" / "b"])
    assert not is_trusted(tmp_path / "ab", [tmp_path / "a"])


def test_project_file_cannot_trust_itself(env: Env) -> None:
    path = env.project(f"trusted_folders: ['{env.workspace}']\nallow: [shell]\n")
    with pytest.raises(ConfigError) as info:
        env.build()
    assert info.value.location == f"{path}:1:1"


# -- bad files and rules -> ConfigError with file:line:col -------------------------------------


@pytest.mark.parametrize(
    ("text", "where", "message"),
    [
        ("allow:\n  - shell(git status)\n  - 'shell('\n", "3:5", "malformed permission rule"),
        ("deny: ['files()']\n", "1:8", "empty pattern"),
        ("mode: yolo\n", "1:7", "mode"),
        ("allow: [shell]\nalow: [files]\n", "2:1", "unknown key 'alow'"),
        ("allow: shell\n", "1:8", "allow"),
        ("allow: [shell\n", "2:1", "invalid YAML"),
        ("- shell\n", "1:1", "must be a mapping"),
    ],
)
def test_bad_policy_file(env: Env, text: str, where: str, message: str) -> None:
    path = env.policy(text)
    with pytest.raises(ConfigError) as info:
        env.build(policy_files=[path])
    assert info.value.location == f"{path}:{where}"
    assert message in info.value.message
    assert info.value.exit_code == 2


def test_bad_user_and_project_files_name_their_file(env: Env) -> None:
    env.user("deny: ['shell(']")
    with pytest.raises(ConfigError, match=r"policy\.yaml:1:8"):
        env.build()
    path = env.project("ask: ['(x)']")
    with pytest.raises(ConfigError) as info:
        env.build(no_user_config=True)
    assert info.value.location == f"{path}:1:7"


def test_missing_policy_file(env: Env) -> None:
    with pytest.raises(ConfigError, match="not found"):
        env.build(policy_files=[env.tmp / "nope.yaml"])


def test_empty_policy_file_is_empty_policy(env: Env) -> None:
    authorizer, _ = env.build(policy_files=[env.policy("\n")])
    assert authorizer.evaluate(shell("make")).outcome == "ask"


def test_policy_files_keep_dollars(env: Env) -> None:
    authorizer, _ = env.build(policy_files=[env.policy("deny: ['shell(rm -rf ${HOME}*)']")])
    assert authorizer.evaluate(shell("rm -rf ${HOME}/x")).outcome == "deny"


@pytest.mark.parametrize("flag", ["flag_allow", "flag_ask", "flag_deny"])
def test_bad_flag_rule(env: Env, flag: str) -> None:
    with pytest.raises(ConfigError) as info:
        env.build(**{flag: ["shell("]})
    assert info.value.location == "--" + flag.removeprefix("flag_")


def test_bad_flag_mode(env: Env) -> None:
    with pytest.raises(ConfigError, match="--permission-mode"):
        env.build(flag_mode="yolo")


def test_config_rule_location_from_marks(env: Env) -> None:
    class Loose:  # a config object that did not validate its rules
        mode = "default"
        allow = ["shell("]
        ask: list[str] = []
        deny: list[str] = []

    marks = {("permissions", "allow", 0): (7, 11)}
    with pytest.raises(ConfigError) as info:
        env.build(config=Loose(), config_file="agent.yaml", config_marks=marks)
    assert info.value.location == "agent.yaml:7:11"


def test_agent_config_rule_errors_point_at_the_line(env: Env) -> None:
    from mentra import _yaml

    path = env.policy("permissions:\n  allow: ['shell(git status)', 'shell(']\n", "agent.yaml")
    data, marks = _yaml.load_yaml(path, what="config")

    from pydantic import BaseModel, ConfigDict

    class Agent(BaseModel):
        model_config = ConfigDict(extra="forbid")
        permissions: PermissionsConfig

    with pytest.raises(ConfigError) as info:
        _yaml.validate(Agent, data, file=str(path), marks=marks, what="agent config")
    assert info.value.location == f"{path}:2:32"


# -- remembered answers in the store ------------------------------------------------------------


class Yes:
    kind = "prompt"

    def __init__(self, scope: Any) -> None:
        self.scope = scope

    async def approve(self, request: PermissionRequest) -> ApprovalAnswer:
        return ApprovalAnswer(True, scope=self.scope)


async def test_project_and_global_answers_persist_in_the_store(env: Env) -> None:
    from mentra.store.sqlite import SQLiteStore

    store = SQLiteStore(env.tmp / "store.db")
    other = env.tmp / "other"
    other.mkdir()
    try:
        a, _ = env.build(store=store, approver=Yes("project"))
        await a.resolve(shell("make"), a.evaluate(shell("make")))
        b, _ = env.build(store=store, approver=Yes("global"))
        await b.resolve(shell("make lint"), b.evaluate(shell("make lint")))
        c, _ = env.build(store=store, approver=Yes("session"))
        await c.resolve(shell("make docs"), c.evaluate(shell("make docs")))

        fresh, _ = env.build(store=store)
        assert fresh.evaluate(shell("make")).decided_by == "remembered"
        assert fresh.evaluate(shell("make lint")).scope == "global"
        assert fresh.evaluate(shell("make docs")).outcome == "ask"  # session only

        elsewhere, _ = env.build(store=store, workspace=other)
        assert elsewhere.evaluate(shell("make")).outcome == "ask"
        assert elsewhere.evaluate(shell("make lint")).outcome == "allow"
        ci, _ = env.build(store=store, workspace=other, no_user_config=True)
        assert ci.evaluate(shell("make lint")).outcome == "ask"
        scopes = {r.scope for r in store.list_permission_rules()}
        assert scopes == {"global", f"project:{env.workspace.resolve()}"}
    finally:
        store.close()


def test_project_file_cannot_preapprove_remembered_answers(env: Env) -> None:
    (env.workspace / ".mentra").mkdir()
    (env.workspace / ".mentra" / "permissions.local.yaml").write_text("allow: [shell]\n")
    authorizer, _ = env.build()
    assert authorizer.evaluate(shell("make")).outcome == "ask"
