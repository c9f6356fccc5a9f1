from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from mentra.errors import ConfigError
from mentra.skills import LoadSkillTool, load_skills
from mentra.tools.base import Tool, ToolResult

Run = Callable[[Tool, dict[str, Any]], ToolResult]
EXAMPLES = Path(__file__).resolve().parents[2] / "examples" / "skills"


@pytest.mark.parametrize("skill_dir", sorted(p.parent for p in EXAMPLES.glob("*/SKILL.md")))
def test_every_example_skill_loads(skill_dir: Path, run: Run) -> None:
    skills = load_skills([EXAMPLES])
    skill = skills.get(skill_dir.name)
    assert skill is not None, f"{skill_dir} should declare name: {skill_dir.name}"
    assert len(skill.description) > 20 and len(skill.body) > 200
    assert f"- {skill.name}: {skill.description}" in skills.system_prompt_section()
    loaded = run(LoadSkillTool(skills), {"name": skill.name})
    assert not loaded.is_error and skill.body in loaded.content


def test_examples_include_git_and_test() -> None:
    assert {"git", "test"} <= set(load_skills([EXAMPLES]).names())


def _write(root: Path, folder: str, text: str) -> Path:
    (root / folder).mkdir(parents=True, exist_ok=True)
    path = root / folder / "SKILL.md"
    path.write_text(text)
    return path


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ("no front matter\n", "must start with YAML front matter"),
        ("---\nname: x\n---\nbody\n", "description"),
        ("---\nname: [x\ndescription: d\n---\nbody\n", "invalid YAML"),
        ("---\nname: 'bad name!'\ndescription: d\n---\nbody\n", "name"),
        ("---\nname: ok\ndescription: d\n---\n\n", "no body"),
    ],
)
def test_bad_front_matter_names_the_file(tmp_path: Path, text: str, fragment: str) -> None:
    path = _write(tmp_path, "bad", text)
    with pytest.raises(ConfigError) as info:
        load_skills([tmp_path])
    assert str(path) in str(info.value) and fragment in str(info.value)


def test_error_location_points_into_the_file(tmp_path: Path) -> None:
    _write(tmp_path, "s", "---\nname: s\ndescription: d\nwhat: [\n---\nbody\n")
    with pytest.raises(ConfigError) as info:
        load_skills([tmp_path])
    assert info.value.location is not None and ":5:" in info.value.location
    _write(tmp_path, "s", "---\ndescription: d\nname: 'no good'\n---\nbody\n")
    with pytest.raises(ConfigError) as info:
        load_skills([tmp_path])
    assert info.value.location is not None and info.value.location.endswith("SKILL.md:3:7")


def test_later_directory_wins_and_unknown_skill(tmp_path: Path, run: Run) -> None:
    _write(tmp_path / "a", "s", "---\nname: s\ndescription: first\n---\nfirst body\n")
    _write(tmp_path / "b", "s", "---\nname: s\ndescription: second\n---\nsecond body\n")
    skills = load_skills([tmp_path / "a", tmp_path / "b"])
    assert len(skills) == 1 and "second" in skills.system_prompt_section()
    missing = run(LoadSkillTool(skills), {"name": "nope"})
    assert missing.is_error and "Known skills: s" in missing.content


def test_missing_directory_and_empty_set(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="not found"):
        load_skills([tmp_path / "absent"])
    assert load_skills([tmp_path]).system_prompt_section() == ""
