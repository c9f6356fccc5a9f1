"""The effective permission rules, built from layers (lowest first):

1. the user policy file ``<user config dir>/policy.yaml`` (skipped with ``--no-user-config``);
2. the project file ``<workspace>/.mentra/policy.yaml``: *found, not chosen*, so unless the
   workspace is trusted (``--trust-project`` or listed in ``trusted_folders``) it may only
   narrow: its deny and ask rules apply, a mode narrower than the one below it applies, and its
   allow rules and any wider mode are ignored with a notice;
3. ``--policy`` files, in the order given (trusted: the user named them);
4. the agent config's ``permissions:`` block;
5. flags: ``--allow``/``--ask``/``--deny`` and ``--permission-mode``.

Rules accumulate across layers (a deny anywhere wins, see `decide`); the mode is the one set by
the highest layer that sets it. A policy file is YAML ``{mode?, allow?, ask?, deny?}`` (the user
file may also hold ``trusted_folders``), without ``${VAR}`` interpolation so shell patterns keep
their dollars; errors name file:line:col.

Remembered answers ("always" at a prompt) live in the store, not in files: scope ``global`` for
every workspace and ``project:<workspace path>`` for one. Keeping them out of the workspace
means a cloned repository cannot ship pre-approved answers. Session answers live in memory.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, Literal, Protocol, cast

from pydantic import BaseModel, ConfigDict, Field

from mentra import _yaml
from mentra.errors import ConfigError
from mentra.permissions.decide import (
    MODE_ORDER,
    MODES,
    Approver,
    Authorizer,
    PermissionMode,
    RememberedRule,
    RuleText,
    Scope,
)
from mentra.permissions.rules import Rule, parse_rule

USER_POLICY_FILE = "policy.yaml"
PROJECT_POLICY_FILE = Path(".mentra") / "policy.yaml"
_KINDS = ("allow", "ask", "deny")


class PolicyFile(BaseModel):
    """A policy file; ``trusted_folders`` is honoured in the user file only."""

    model_config = ConfigDict(extra="forbid", defer_build=True)  # most runs read none

    mode: PermissionMode | None = None
    allow: list[RuleText] = Field(default_factory=list)
    ask: list[RuleText] = Field(default_factory=list)
    deny: list[RuleText] = Field(default_factory=list)
    trusted_folders: list[str] = Field(default_factory=list)
    # the run ends `denied` after a denied call; honoured from any file (it only makes a run
    # stricter), an untrusted project's too
    fail_on_denial: bool = False
    # wiring: user hooks; validated by mentra.user_hooks.sources (a trusted file's only)
    hooks: dict[str, Any] = Field(default_factory=dict)


class PermissionsSource(Protocol):
    """Anything shaped like the agent config's ``permissions:`` block."""

    @property
    def mode(self) -> str: ...

    @property
    def allow(self) -> Sequence[str]: ...

    @property
    def ask(self) -> Sequence[str]: ...

    @property
    def deny(self) -> Sequence[str]: ...


class _Layer:
    def __init__(self, name: str, mode: str | None = None) -> None:
        self.name = name
        self.mode = mode
        self.fail_on_denial = False
        self.rules: dict[str, list[Rule]] = {k: [] for k in _KINDS}


def load_policy_file(path: Path, *, what: str = "policy") -> tuple[PolicyFile, _yaml.Marks]:
    """Read and validate one policy file. An empty file is an empty policy."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(f"{what} file not found: {path}") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"cannot read {what} file {path}: {exc}") from None
    if not text.strip():
        return PolicyFile(), {}
    data, marks = _yaml.parse_yaml(text, file=str(path), what=what, env=False)
    if not isinstance(data, dict):
        raise ConfigError(
            f"a {what} file must be a mapping with mode, allow, ask or deny",
            location=f"{path}:1:1",
        )
    return _yaml.validate(PolicyFile, data, file=str(path), marks=marks, what=what), marks


def _file_layer(path: Path, *, what: str) -> tuple[_Layer, PolicyFile]:
    policy, marks = load_policy_file(path, what=what)
    layer = _Layer(f"{what} {path}", policy.mode)
    layer.fail_on_denial = policy.fail_on_denial
    for kind in _KINDS:
        for i, text in enumerate(getattr(policy, kind)):
            where = _yaml.location(str(path), marks, (kind, i))
            layer.rules[kind].append(parse_rule(text, source=where))
    return layer, policy


def _config_layer(
    config: PermissionsSource, *, file: str | None, marks: _yaml.Marks | None
) -> _Layer:
    fields_set = getattr(config, "model_fields_set", None)
    explicit_mode = fields_set is None or "mode" in fields_set
    mode = str(config.mode) if explicit_mode else None
    if mode is not None and mode not in MODES:
        raise ConfigError(f"unknown permission mode {mode!r} (one of {', '.join(MODES)})")
    layer = _Layer("agent config", mode)
    layer.fail_on_denial = bool(getattr(config, "fail_on_denial", False))
    for kind in _KINDS:
        for i, text in enumerate(getattr(config, kind)):
            path = ("permissions", kind, i)
            if file is not None:
                where = _yaml.location(file, marks or {}, path)
            else:
                where = f"agent config permissions.{kind}[{i}]"
            layer.rules[kind].append(parse_rule(text, source=where))
    return layer


def _flag_layer(
    allow: Sequence[str], ask: Sequence[str], deny: Sequence[str], mode: str | None
) -> _Layer:
    if mode is not None and mode not in MODES:
        raise ConfigError(
            f"must be one of {', '.join(MODES)}, got {mode!r}",
            location="--permission-mode",
        )
    layer = _Layer("flags", mode)
    for kind, texts in (("allow", allow), ("ask", ask), ("deny", deny)):
        for text in texts:
            layer.rules[kind].append(parse_rule(text, source=f"--{kind}"))
    return layer


def is_trusted(workspace: Path, trusted_folders: Sequence[str | Path]) -> bool:
    """True when ``workspace`` is one of ``trusted_folders`` or inside one."""
    real = Path(os.path.realpath(workspace))
    for folder in trusted_folders:
        root = Path(os.path.realpath(Path(folder).expanduser()))
        if real == root or real.is_relative_to(root):
            return True
    return False


def _narrowed(layer: _Layer, current_mode: str, notices: list[str]) -> _Layer:
    ignored: list[str] = []
    if layer.rules["allow"]:
        n = len(layer.rules["allow"])
        ignored.append(f"{n} allow rule{'s' if n != 1 else ''}")
        layer.rules["allow"] = []
    if layer.mode is not None and MODE_ORDER[layer.mode] > MODE_ORDER[current_mode]:
        ignored.append(f"mode {layer.mode}")
        layer.mode = None
    if ignored:
        notices.append(
            f"ignored {' and '.join(ignored)} in untrusted {layer.name}: a project file may only "
            "narrow permissions (pass --trust-project or add the folder to trusted_folders)"
        )
    return layer


class StoreRuleMemory:
    """Remembered answers in the store: scope ``global`` or ``project:<workspace>``.

    The default store is one per workspace, so "everywhere" answers go to ``global_store`` (one
    per user) when there is one; without it they live in the workspace's store."""

    def __init__(self, store: Any, workspace: Path, *, global_store: Any = None) -> None:
        self.store = store
        self.global_store = global_store if global_store is not None else store
        self.project_scope = f"project:{os.path.realpath(workspace)}"

    def _scope(self, scope: Scope) -> str:
        return "global" if scope == "global" else self.project_scope

    def _store_for(self, scope: str) -> Any:
        return self.global_store if scope == "global" else self.store

    def save(self, scope: Scope, rule: str, decision: Literal["allow", "deny"]) -> None:
        from mentra.store.base import PermissionRuleRecord

        stored = self._scope(scope)
        self._store_for(stored).add_permission_rule(
            PermissionRuleRecord(scope=stored, rule=rule, decision=decision)
        )

    def load(self, *, include_global: bool, notices: list[str]) -> list[RememberedRule]:
        out: list[RememberedRule] = []
        wanted: list[tuple[str, Scope]] = [(self.project_scope, "project")]
        if include_global:
            wanted.insert(0, ("global", "global"))
        for stored, scope in wanted:
            for record in self._store_for(stored).list_permission_rules(stored):
                if record.decision not in ("allow", "deny"):
                    continue
                try:
                    rule = parse_rule(record.rule, source=f"remembered ({scope})")
                except ConfigError as exc:
                    notices.append(f"skipped a remembered rule that no longer parses: {exc}")
                    continue
                out.append(RememberedRule(rule, record.decision, scope))
        return out


class RememberedRules:
    """Read-only access to the remembered answers of a workspace's store (``--store``,
    ``$MENTRA_STORE`` or the default) and of the user's global store. Opens only stores that
    exist, creates no file, and closes them after reading."""

    def __init__(self, store_flag: str | None = None) -> None:
        self.store_flag = store_flag

    def load(
        self, workspace: Path, *, include_global: bool, notices: list[str]
    ) -> list[RememberedRule]:
        from mentra.store.location import (
            UserRuleStore,
            global_store_path,
            open_store,
            resolve_store_path,
        )

        path = resolve_store_path(self.store_flag, workspace)
        project: Any = None
        global_store = UserRuleStore(global_store_path())
        try:
            if path.exists():
                project = open_store(path)
            source = StoreRuleMemory(
                project if project is not None else _NoRules(),
                workspace,
                global_store=global_store,
            )
            return source.load(include_global=include_global, notices=notices)
        except Exception as exc:  # an unreadable store: no remembered answers, said so
            notices.append(f"remembered answers not read: {exc}")
            return []
        finally:
            if project is not None:
                project.close()
            global_store.close()


class _NoRules:
    def list_permission_rules(self, scope: str | None = None) -> list[Any]:
        return []


def build_authorizer(
    *,
    workspace: Path,
    user_config_dir: Path | None = None,
    no_user_config: bool = False,
    trust_project: bool = False,
    trusted_folders: Sequence[str | Path] = (),
    policy_files: Sequence[str | Path] = (),
    config: PermissionsSource | None = None,
    config_file: str | None = None,
    config_marks: _yaml.Marks | None = None,
    flag_allow: Sequence[str] = (),
    flag_ask: Sequence[str] = (),
    flag_deny: Sequence[str] = (),
    flag_mode: str | None = None,
    flag_fail_on_denial: bool = False,
    approver: Approver | None = None,
    store: Any = None,
    global_store: Any = None,
    remembered_from: Any = None,
) -> tuple[Authorizer, list[str]]:
    """The `Authorizer` for one agent, and notices for people (ignored project rules…).

    Raises `ConfigError` (file:line:col) for a malformed policy file or rule. ``config_file``
    and ``config_marks`` (from the loaded agent config) let rule errors in the config point at
    their line. ``store`` keeps "always" answers for the project and global scopes; without it
    they last for the session. ``remembered_from`` is where remembered answers are read when
    there is no ``store`` to keep new ones (an ephemeral run, ``permissions check``): a
    `RememberedRules` source, read once; nothing is written back.
    """
    notices: list[str] = []
    layers: list[_Layer] = []
    trusted = list(trusted_folders)
    if not no_user_config and user_config_dir is not None:
        user_file = Path(user_config_dir) / USER_POLICY_FILE
        if user_file.is_file():
            layer, policy = _file_layer(user_file, what="user policy")
            layers.append(layer)
            trusted += policy.trusted_folders
    project_file = Path(workspace) / PROJECT_POLICY_FILE
    if project_file.is_file():
        layer, policy = _file_layer(project_file, what="project policy")
        if policy.trusted_folders:
            raise ConfigError(
                "trusted_folders belongs in the user policy file, not in a project",
                location=f"{project_file}:1:1",
            )
        if not (trust_project or is_trusted(Path(workspace), trusted)):
            layer = _narrowed(layer, _mode_of(layers), notices)
        layers.append(layer)
    for path in policy_files:
        layer, policy = _file_layer(Path(path), what="policy")
        if policy.trusted_folders:
            raise ConfigError(
                "trusted_folders belongs in the user policy file", location=f"{path}:1:1"
            )
        layers.append(layer)
    if config is not None:
        layers.append(_config_layer(config, file=config_file, marks=config_marks))
    layers.append(_flag_layer(flag_allow, flag_ask, flag_deny, flag_mode))
    layers[-1].fail_on_denial = flag_fail_on_denial

    memory: StoreRuleMemory | None = None
    remembered: list[RememberedRule] = []
    if store is not None:
        memory = StoreRuleMemory(store, Path(workspace), global_store=global_store)
        remembered = memory.load(include_global=not no_user_config, notices=notices)
    load_remembered: Callable[[], list[RememberedRule]] | None = None
    if store is None and remembered_from is not None:
        source, include_global = remembered_from, not no_user_config

        def _load() -> list[RememberedRule]:
            return list(
                source.load(Path(workspace), include_global=include_global, notices=notices)
            )

        load_remembered = _load
    authorizer = Authorizer(
        mode=_mode_of(layers),
        allow=[r for layer in layers for r in layer.rules["allow"]],
        ask=[r for layer in layers for r in layer.rules["ask"]],
        deny=[r for layer in layers for r in layer.rules["deny"]],
        approver=approver,
        remembered=remembered,
        memory=memory,
        load_remembered=load_remembered,
        fail_on_denial=any(layer.fail_on_denial for layer in layers),
    )
    return authorizer, notices


def _mode_of(layers: Sequence[_Layer]) -> PermissionMode:
    for layer in reversed(layers):
        if layer.mode is not None:
            return cast(PermissionMode, layer.mode)
    return "default"
