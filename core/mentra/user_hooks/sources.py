"""The hooks of one agent, gathered from the layers the permissions read, lowest first:

1. the user policy file (skipped with ``--no-user-config``);
2. the project's ``.mentra/policy.yaml``, only when the workspace is trusted (``--trust-project``
   or ``trusted_folders``): a cloned repository must not run its commands on the user's machine
   just by being opened, so an untrusted project's hooks are ignored with a notice;
3. ``--policy`` files (the user named them);
4. the agent config, with the user config under it.

Hooks of every layer run, in this order.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from mentra import _yaml
from mentra.permissions.layers import (
    PROJECT_POLICY_FILE,
    USER_POLICY_FILE,
    is_trusted,
    load_policy_file,
)
from mentra.user_hooks.config import HOOK_NAMES, HooksConfig
from mentra.user_hooks.runner import UserHooks


def _file_hooks(path: Path, what: str) -> tuple[HooksConfig, list[str]]:
    policy, marks = load_policy_file(path, what=what)
    sub = {k[1:]: v for k, v in marks.items() if k[:1] == ("hooks",)}
    hooks = _yaml.validate(
        HooksConfig, policy.hooks, file=str(path), marks=sub, what=f"{what} hooks"
    )
    return hooks, list(policy.trusted_folders)


def gather_hooks(
    *,
    workspace: Path,
    config_hooks: HooksConfig | None,
    user_config_dir: Path | None = None,
    no_user_config: bool = False,
    trust_project: bool = False,
    trusted_folders: list[str] | None = None,
    policy_files: list[Path] | None = None,
) -> tuple[HooksConfig, list[str]]:
    """All the hooks in effect, as one config, and notices (an untrusted project's hooks)."""
    layers: list[HooksConfig] = []
    notices: list[str] = []
    trusted: list[str] = list(trusted_folders or [])
    if not no_user_config and user_config_dir is not None:
        user_file = Path(user_config_dir) / USER_POLICY_FILE
        if user_file.is_file():
            hooks, folders = _file_hooks(user_file, "user policy")
            layers.append(hooks)
            trusted += folders
    project_file = Path(workspace) / PROJECT_POLICY_FILE
    if project_file.is_file():
        hooks, _ = _file_hooks(project_file, "project policy")
        if trust_project or is_trusted(Path(workspace), trusted):
            layers.append(hooks)
        elif not hooks.is_empty():
            n = sum(len(hooks.entries(h)) for h in HOOK_NAMES)
            notices.append(
                f"ignored {n} hook{'s' if n != 1 else ''} in untrusted project policy "
                f"{project_file}: a project's hooks run only in a trusted workspace (pass "
                "--trust-project or add the folder to trusted_folders)"
            )
    for path in policy_files or []:
        layers.append(_file_hooks(Path(path), "policy")[0])
    if config_hooks is not None:
        layers.append(config_hooks)
    merged: dict[str, Any] = {
        h: [e for layer in layers for e in layer.entries(h)] for h in HOOK_NAMES
    }
    # the highest layer that sets it decides how often stop hooks may send the model on
    for layer in layers:
        if "max_continues" in layer.model_fields_set:
            merged["max_continues"] = layer.max_continues
    return HooksConfig.model_validate(merged), notices


def attach_user_hooks(
    runtime: Any,
    loaded: Any,
    overrides: Any,
    policy: Any,
    services: dict[str, Any],
    notices: list[str],
) -> UserHooks | None:
    """Build an agent's hooks (None when it has none), put them in the tool ``services`` and
    their notices in ``notices`` (said after ``session_started``)."""
    config, found = gather_hooks(
        workspace=runtime.workspace,
        config_hooks=loaded.config.hooks if loaded is not None else None,
        user_config_dir=runtime.user_config_dir,
        no_user_config=runtime.no_user_config,
        trust_project=overrides.trust_project,
        trusted_folders=list(runtime.trusted_folders),
        policy_files=list(overrides.policy_files),
    )
    notices.extend(found)
    if config.is_empty():
        return None
    hooks = UserHooks(
        config,
        cwd=runtime.workspace,
        env=policy.child_env,
        max_output_bytes=policy.max_output_bytes,
    )
    services["user_hooks"] = hooks
    return hooks
