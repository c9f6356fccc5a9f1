"""Malformed YAML is a config error at file:line:col (exit 2), never an internal error: alias
bombs, cycles, unhashable keys, control characters, deep nesting, huge integers."""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

import pytest

from mentra import _yaml
from mentra.config import load_agent_config
from mentra.errors import ConfigError
from tests.cli.conftest import MENTRA, REPO


def _bomb(levels: int = 9) -> str:
    lines = ["name: bomb", "a0: &a0 [x, x, x, x, x, x, x, x, x]"]
    for i in range(1, levels + 1):
        lines.append(f"a{i}: &a{i} [{', '.join([f'*a{i - 1}'] * 9)}]")
    return "\n".join(lines) + "\n"


BAD: dict[str, tuple[str, str, str]] = {
    # name: (text, file:line:col suffix, what the message says)
    "alias bomb": (_bomb(), ":7:10:", "aliases expand the document past 100000 values"),
    "self alias": (
        "name: x\npolicy: &p\n  read_roots: *p\n",
        ":3:15:",
        "alias *p points into the node that holds it",
    ),
    "list key": ("name: x\n? [a, b]\n: 1\n", ":2:3:", "a list used as a mapping key"),
    "mapping key": ("name: x\n{a: 1}: 2\n", ":2:1:", "a mapping used as a mapping key"),
    "nul byte": ("name: x\nsystem: 'a\x00b'\n", ":2:11:", "control character U+0000"),
    "c1 control": ("name: x\nsystem: 'ab\x9b'\n", ":2:12:", "control character U+009B"),
    "deep flow": (
        "name: x\nsystem: " + "[" * 5000 + "]" * 5000 + "\n",
        ":2:208:",
        "nested more than 200 levels deep",
    ),
    "deep block": (
        "name: x\nsystem:\n" + "".join("  " * (i + 1) + "-\n" for i in range(5000)),
        ":202:",
        "nested more than 200 levels deep",
    ),
    "huge int": (
        "name: x\nlimits:\n  max_rounds: " + "9" * 5000 + "\n",
        ":3:15:",
        "an integer of 5000 digits (at most 4300)",
    ),
    "bad date": ("name: x\nsystem: 2024-13-45\n", ":2:9:", "cannot read '2024-13-45'"),
}


@pytest.mark.parametrize("case", sorted(BAD))
def test_bad_yaml_is_a_located_config_error(tmp_path: Path, case: str) -> None:
    text, where, needle = BAD[case]
    path = tmp_path / "agent.yaml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(ConfigError) as info:
        load_agent_config(path)
    message = str(info.value)
    assert message.startswith(f"{path}{where}"), message
    assert needle in message
    assert info.value.exit_code == 2


def test_not_utf8_is_located(tmp_path: Path) -> None:
    path = tmp_path / "agent.yaml"
    path.write_bytes(b"name: x\nsystem: caf\xe9\n")
    with pytest.raises(ConfigError, match=r"agent.yaml:2:12: config is not valid UTF-8"):
        load_agent_config(path)


def test_shared_anchors_within_budget_still_load(tmp_path: Path) -> None:
    path = tmp_path / "agent.yaml"
    path.write_text(
        "name: x\npermissions:\n  allow: &rules ['shell(git *)']\n  ask: *rules\n",
        encoding="utf-8",
    )
    loaded, _ = load_agent_config(path)
    assert loaded.config.permissions.ask == ["shell(git *)"]


@pytest.mark.parametrize("case", ["alias bomb", "self alias", "list key", "nul byte", "huge int"])
def test_every_yaml_reader_uses_the_bounded_loader(tmp_path: Path, case: str) -> None:
    """Agent config, user config, policy files, scripts and SKILL.md front matter."""
    from mentra.permissions.layers import load_policy_file
    from mentra.providers.scripted import load_script
    from mentra.skills import load_skills

    text, _where, needle = BAD[case]
    body = text.replace("name: ", "description: ", 1) if case != "alias bomb" else text
    files = tmp_path / "f.yaml"
    files.write_text(body, encoding="utf-8")
    for load in (
        lambda: load_agent_config(None, user_config=files),
        lambda: load_policy_file(files),
        lambda: load_script(files),
    ):
        with pytest.raises(ConfigError) as info:
            load()
        assert needle in str(info.value) and str(files) in str(info.value)
    skill = tmp_path / "skills" / "s"
    skill.mkdir(parents=True)
    (skill / "SKILL.md").write_text(f"---\n{body}---\nbody\n", encoding="utf-8")
    with pytest.raises(ConfigError) as info:
        load_skills([tmp_path / "skills"])
    assert needle in str(info.value)


# Runs mentra and reports its wall time and peak RSS. A small process of its own, because a
# child's ru_maxrss includes the image it was forked from (pytest's, before exec).
_MEASURE = """
import json, os, subprocess, sys, time
started = time.monotonic()
proc = subprocess.Popen(sys.argv[1:], stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                        stderr=subprocess.PIPE)
out, err = proc.stdout.read(), proc.stderr.read()
_pid, status, usage = os.wait4(proc.pid, 0)
proc.returncode = os.waitstatus_to_exitcode(status)
print(json.dumps({"code": proc.returncode, "seconds": time.monotonic() - started,
                  "maxrss_kib": usage.ru_maxrss, "stdout": out.decode(), "stderr": err.decode()}))
"""


def test_alias_bomb_refused_fast_and_small_in_a_real_process(tmp_path: Path) -> None:
    """Wall time and the child's own peak RSS, generously bounded."""
    import json
    import sys

    path = tmp_path / "bomb.yaml"
    path.write_text(_bomb(12), encoding="utf-8")  # 9**12 values if expanded
    for args in (["validate", str(path)], ["run", "-c", str(path), "hi", "--ephemeral"]):
        proc = subprocess.run(
            [sys.executable, "-c", _MEASURE, MENTRA, *args],
            cwd=REPO,
            capture_output=True,
            text=True,
            check=True,
            timeout=60,
        )
        m = json.loads(proc.stdout)
        assert m["code"] == 2, m
        assert "aliases expand the document past" in m["stderr"] and f"{path}:" in m["stderr"]
        assert "Traceback" not in m["stderr"]
        assert m["seconds"] < 5.0, m  # start-up included; the refusal itself is milliseconds
        assert m["maxrss_kib"] < 100 * 1024, m


def test_malformed_yaml_through_real_processes(mentra: Any, tmp_path: Path) -> None:
    for case in ("self alias", "list key", "nul byte", "deep flow", "huge int"):
        text, where, needle = BAD[case]
        path = tmp_path / f"{case.replace(' ', '_')}.yaml"
        path.write_text(text, encoding="utf-8")
        r = mentra("run", "-c", str(path), "-m", "scripted:x.yaml", "hi", "--ephemeral")
        assert r.code == 2, (case, r.stderr)
        assert r.stderr.count("\n") == 1 and f"{path}{where}" in r.stderr and needle in r.stderr
        assert "Traceback" not in r.stderr and r.stdout == ""


def test_escaped_dollar_is_literal(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HOME_THING", "home")
    path = tmp_path / "agent.yaml"
    path.write_text("system: 'cost $${HOME_THING} and ${HOME_THING}'\n", encoding="utf-8")
    loaded, _ = load_agent_config(path)
    assert loaded.config.system == "cost ${HOME_THING} and home"
    assert _yaml.escape_env("a ${B} $${C}") == "a $${B} $$${C}"
