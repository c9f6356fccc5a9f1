"""Permission rules must name tools that exist: ``--deny 'Shell(rm *)'`` or ``bash(rm *)`` would
be accepted and never match, so a deny the user relies on would silently not apply.

Kept apart from the runtime and the permission engine: it takes the rules (from the config,
its ``--policy`` files and the flags) and the tool names, and says what is wrong, with a
did-you-mean. Called by ``validate``, ``permissions check`` and where a run builds its
permissions.
"""

from __future__ import annotations

import difflib
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mentra.errors import ConfigError

if TYPE_CHECKING:
    from mentra.config import LoadedConfig

KINDS = ("allow", "ask", "deny")

# what people coming from other agents write; a hint only, never accepted as the name
_FAMILIAR = {
    "bash": "shell",
    "sh": "shell",
    "exec": "shell",
    "read": "files",
    "write": "files",
    "edit": "files",
    "multiedit": "files",
    "glob": "files",
    "grep": "files",
}


def external_tool_name(name: str) -> bool:
    """Tool names that live outside this process's tool set and are accepted as written.

    The hook for MCP: a name shaped ``mcp__SERVER__TOOL`` (or a glob such as ``mcp__gh__*``)
    is accepted, since MCP tools are named so (DESIGN section 7). Once MCP servers are
    configured, this is where such names get checked against the servers' tool lists."""
    server, sep, tool = name.removeprefix("mcp__").partition("__")
    return name.startswith("mcp__") and bool(server) and bool(sep) and bool(tool)


@dataclass(frozen=True, slots=True)
class WrittenRule:
    text: str
    kind: str  # allow | ask | deny
    where: str | None  # file:line:col when known
    origin: str  # "--deny", "permissions.deny", "policy file X"


def rules_of(
    loaded: LoadedConfig | None,
    *,
    allow: Sequence[str] = (),
    ask: Sequence[str] = (),
    deny: Sequence[str] = (),
    policy_files: Sequence[Path] = (),
) -> list[WrittenRule]:
    """The rules a user wrote for this run: the agent config, ``--policy`` files, the flags."""
    from mentra import _yaml

    out: list[WrittenRule] = []
    if loaded is not None:
        perms = loaded.config.permissions
        for kind in KINDS:
            for i, text in enumerate(getattr(perms, kind)):
                out.append(
                    WrittenRule(
                        text, kind, loaded.location("permissions", kind, i), f"permissions.{kind}"
                    )
                )
    for path in policy_files:
        from mentra.permissions.layers import load_policy_file

        try:
            policy, marks = load_policy_file(path)
        except ConfigError:
            continue  # reported where the policy is built
        for kind in KINDS:
            for i, text in enumerate(getattr(policy, kind)):
                where = _yaml.location(str(path), marks, (kind, i))
                out.append(WrittenRule(text, kind, where, f"policy file {path}"))
    for kind, texts in (("allow", allow), ("ask", ask), ("deny", deny)):
        out += [WrittenRule(t, kind, None, f"--{kind}") for t in texts]
    return out


def known_tool_names(loaded: LoadedConfig | None, effective: Iterable[str]) -> set[str]:
    """Every tool a rule may name: the effective set, plus what ``tools.only``/``hide`` took
    away (a rule about a hidden tool is harmless, and user-level rules span agents)."""
    from mentra.tools.builtin import builtin_tools

    names = {*effective, *(t.name for t in builtin_tools()), "load_skill"}
    if loaded is not None:
        names.update(loaded.config.tools.hide)
        for raw in loaded.config.tools.custom:
            if isinstance(raw.get("name"), str):
                names.add(raw["name"])
    return names


def _suggestion(name: str, known: Sequence[str]) -> str | None:
    lowered = {k.lower(): k for k in known}
    if name.lower() in lowered:
        return lowered[name.lower()]
    familiar = _FAMILIAR.get(name.lower())
    if familiar in known:
        return familiar
    close = difflib.get_close_matches(name.lower(), list(lowered), n=1, cutoff=0.6)
    return lowered[close[0]] if close else None


def did_you_mean(name: str, known: Iterable[str]) -> str:
    """``"did you mean 'x'? "`` for the closest known name, or an empty string."""
    hint = _suggestion(name, sorted(set(known)))
    return f"did you mean {hint!r}? " if hint else ""


def rule_tool_problems(
    rules: Iterable[WrittenRule],
    known: Iterable[str],
    *,
    accept: Callable[[str], bool] = external_tool_name,
) -> list[ConfigError]:
    """One error per rule whose tool is not one of ``known`` (globs must match one)."""
    from mentra.permissions.rules import parse_rule

    names = sorted(set(known))
    problems: list[ConfigError] = []
    for rule in rules:
        try:
            parsed = parse_rule(rule.text)
        except ConfigError:
            continue  # malformed: the rule parser reports it
        tool = parsed.tool
        if tool in names or accept(tool):
            continue
        if any(ch in tool for ch in "*?[") and any(parsed.matches_tool(n) for n in names):
            continue
        mean = did_you_mean(tool, names)
        problems.append(
            ConfigError(
                f"{rule.origin}: rule {rule.text!r} names no tool of this agent: "
                f"{tool!r} ({mean}tools: {', '.join(names)})",
                location=rule.where,
            )
        )
    return problems


def require_known_rule_tools(
    loaded: LoadedConfig | None, overrides: Any, effective: Iterable[str]
) -> None:
    """Raise the first unknown-tool rule (with a count of the rest) as a config error."""
    rules = rules_of(
        loaded,
        allow=overrides.allow,
        ask=overrides.ask,
        deny=overrides.deny,
        policy_files=overrides.policy_files,
    )
    problems = rule_tool_problems(rules, known_tool_names(loaded, effective))
    if not problems:
        return
    first = problems[0]
    if len(problems) > 1:
        more = len(problems) - 1
        raise ConfigError(f"{first.message} (and {more} more rule{'s' if more > 1 else ''})")
    raise first
