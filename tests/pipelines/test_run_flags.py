"""`run` and `resume` share one declaration of their flags (`run_options.RunFlags`): both
list the same flags, parse them the same way, and shell completion offers them."""

from __future__ import annotations

import os
import re
import subprocess
from dataclasses import fields

from typer.testing import CliRunner

from mentra_cli.app import app
from mentra_cli.commands.run_options import RunFlags
from tests.cli.conftest import MENTRA, REPO

runner = CliRunner()


def _flags(command: str) -> set[str]:
    result = runner.invoke(app, [command, "--help"], env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    return set(re.findall(r"(?<![\w-])--[a-z][a-z-]*", result.stdout))


def test_run_and_resume_list_the_same_shared_flags() -> None:
    run, resume = _flags("run"), _flags("resume")
    assert resume - run == {"--last", "--fork"} or resume - run == {"--last"}
    assert run - resume == set()
    declared = {f"--{f.name.replace('_', '-')}" for f in fields(RunFlags)}
    assert declared <= run  # every field is a flag of both commands


def test_a_shared_flag_is_parsed_the_same_by_both(tmp_path: object) -> None:
    for command in (["run", "hi"], ["resume", "someone"]):
        result = runner.invoke(app, [*command, "--max-rounds", "0", "--ephemeral"])
        assert result.exit_code == 2
        assert "--max-rounds" in result.output and "Traceback" not in result.output


def test_shell_completion_offers_the_shared_flags_on_resume() -> None:
    env = {**os.environ, "_MENTRA_COMPLETE": "complete_bash", "COMP_CWORD": "2"}
    for words, expected in (("mentra resume --eff", "--effort"), ("mentra run --las", "")):
        done = subprocess.run(
            [MENTRA], env={**env, "COMP_WORDS": words}, capture_output=True, text=True,
            cwd=REPO, timeout=60,
        )  # fmt: skip
        assert done.returncode == 0, done.stderr
        assert done.stdout.split() == ([expected] if expected else [])
