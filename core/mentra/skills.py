"""Skills: ``SKILL.md`` files whose names and descriptions go into the system prompt.

A skills directory holds one folder per skill, each with a ``SKILL.md`` that opens with YAML front
matter (``name``, ``description``) between ``---`` lines; the rest is the body. The model sees
only names and descriptions up front and loads a body with the `load_skill` tool when a task
calls for it, so many skills cost little context.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from mentra import _yaml
from mentra.errors import ConfigError
from mentra.tools.base import (
    ToolContext,
    ToolInputError,
    ToolResult,
    canonical_json,
    format_validation_error,
    model_schema,
)

_FRONT_MATTER = re.compile(r"\A---[ \t]*\r?\n(.*?)^---[ \t]*(?:\r?\n|\Z)", re.DOTALL | re.MULTILINE)
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")


class SkillFrontMatter(BaseModel):
    model_config = ConfigDict(extra="allow")  # other keys (license, tags…) are kept, unused

    name: str = Field(pattern=_NAME.pattern)
    description: str = Field(min_length=1, max_length=1024)


@dataclass(frozen=True, slots=True)
class Skill:
    name: str
    description: str
    body: str
    path: Path


def parse_skill(text: str, *, path: Path) -> Skill:
    """A `Skill` from the text of a ``SKILL.md``; `ConfigError` naming the file if malformed."""
    file = str(path)
    match = _FRONT_MATTER.match(text)
    if match is None:
        raise ConfigError(
            "a SKILL.md must start with YAML front matter between '---' lines "
            "(with `name` and `description`)",
            location=f"{file}:1:1",
        )
    # a leading newline, as the '---' line: line numbers in errors are the file's own
    front = "\n" + match.group(1)
    data, marks = _yaml.parse_yaml(front, file=file, what="skill front matter", env=False)
    meta = _yaml.validate(SkillFrontMatter, data, file=file, marks=marks, what="skill front matter")
    body = text[match.end() :].strip("\n")
    if not body.strip():
        raise ConfigError(f"skill {meta.name!r} has no body", location=file)
    return Skill(name=meta.name, description=meta.description.strip(), body=body, path=path)


class SkillSet:
    """The skills of some directories, by name (a later directory's skill wins)."""

    def __init__(self, skills: list[Skill]) -> None:
        self._skills: dict[str, Skill] = {}
        for skill in skills:
            self._skills[skill.name] = skill

    def __len__(self) -> int:
        return len(self._skills)

    def __iter__(self) -> Iterator[Skill]:
        return iter(self._skills.values())

    def names(self) -> list[str]:
        return sorted(self._skills)

    def get(self, name: str) -> Skill | None:
        return self._skills.get(name)

    def system_prompt_section(self) -> str:
        """Names and descriptions for the system prompt; empty when there are no skills."""
        if not self._skills:
            return ""
        lines = [
            "## Skills",
            "These skills hold instructions for particular tasks. When a task matches one, call "
            "`load_skill` with its name first and follow what it says.",
            "",
        ]
        lines += [f"- {s.name}: {s.description}" for s in sorted(self, key=lambda s: s.name)]
        return "\n".join(lines)


def load_skills(dirs: list[Path]) -> SkillSet:
    """Read ``*/SKILL.md`` under each directory (a missing directory is a `ConfigError`)."""
    skills: list[Skill] = []
    for directory in dirs:
        if not directory.is_dir():
            raise ConfigError(f"skills directory not found: {directory}")
        for path in sorted(directory.glob("*/SKILL.md")):
            try:
                text = path.read_text(encoding="utf-8")
            except (OSError, UnicodeDecodeError) as exc:
                raise ConfigError(f"cannot read skill: {exc}", location=str(path)) from None
            skills.append(parse_skill(text, path=path))
    return SkillSet(skills)


class LoadSkillArgs(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(description="The skill's name, as listed in the system prompt.")


class LoadSkillTool:
    """``load_skill``: the body of one skill, by name. (Instance attributes rather than an
    `ArgsTool`, so it type-checks as a `Tool` wherever one is expected.)"""

    def __init__(self, skills: SkillSet) -> None:
        self.skills = skills
        self.name = "load_skill"
        self.description = (
            "Load the full instructions of a skill listed in the system prompt, by name."
        )
        self.mutates = False

    @property
    def input_schema(self) -> dict[str, Any]:
        return model_schema(LoadSkillArgs)

    def parse_input(self, raw: dict[str, Any]) -> LoadSkillArgs:
        try:
            return LoadSkillArgs.model_validate(raw)
        except ValidationError as exc:
            raise ToolInputError(format_validation_error(self.name, exc)) from None

    def is_mutating(self, args: LoadSkillArgs) -> bool:
        return False

    def permission_subjects(self, args: LoadSkillArgs) -> list[str]:
        return [canonical_json(args.model_dump(mode="json"))]

    async def run(self, args: LoadSkillArgs, ctx: ToolContext) -> ToolResult:
        skill = self.skills.get(args.name)
        if skill is None:
            known = ", ".join(self.skills.names()) or "none"
            return ToolResult(f"No skill named {args.name!r}. Known skills: {known}.", True)
        return ToolResult(f"# Skill: {skill.name}\n\n{skill.body}")
