"""Property: whatever a config or scripted-provider script holds, `validate` and `run` end with a
documented exit code, one clean error line and no traceback; a run that started ends with
`run_finished`. Mutated copies of valid files, in-process (CliRunner) and through real
processes."""

from __future__ import annotations

import json
import subprocess
import tempfile
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from mentra_cli.app import app
from tests.cli.conftest import MENTRA, REPO

CONFIG = """\
name: fuzz
model: scripted:SCRIPT
system: "Answer {{who}} in ${LANG_X:-English}."
tools:
  only: [files]
policy:
  command_timeout: 5s
  read_roots: [.]
permissions:
  mode: read-only
  allow: ['files(read:*)']
  deny: ['shell(rm *)']
limits: {max_rounds: 3, timeout: 20s}
model_options: {temperature: 0.2}
"""

SCRIPT = """\
model: fuzz-model
turns:
  - text: "Let me look."
    tool_calls:
      - name: files
        input: {operations: [{op: read, path: README.md}]}
  - error: {status: 429, retry_after: 0, times: 1}
  - text: "Done: it is a runtime."
    usage: {input_tokens: 10, output_tokens: 3}
"""

TOKENS = [
    "*a", "&a ", "&a [*a]", "[", "]", "{", "}", ": ", "- ", "? [x]\n: 1\n", "\n", "\t", "  ",
    "\x00", "\x85", "\x9b", "\ud800", '"\\ud800"', "!!python/object:os.system ", "!!binary x",
    "!!int ", "9" * 4400, "1e400", "-1", "2024-13-45", "~", "null", "${NOPE}", "${HOME}",
    "{{v}}", "{{who}}", "$${", "<<: *a\n", "---\n", "...\n", "'", '"', "#", "\ufeff", "é",
    "\u202e", "[" * 300, "{a: " * 50, "text: ", "turns: ", "tool_calls: ", "input_raw: '{'",
    "error: {status: 999}", "delay_ms: -1", "mode: bypass", "Shell(rm *)", "bash(x)",
]  # fmt: skip
DOCUMENTED_RUN = {0, 2, 3, 4, 5}  # a mutated config or script never means a runtime error
DOCUMENTED_VALIDATE = {0, 2}


@st.composite
def mutated(draw: st.DrawFn, seed: str) -> bytes:
    text = seed
    for _ in range(draw(st.integers(1, 4))):
        pos = draw(st.integers(0, len(text)))
        end = min(len(text), pos + draw(st.integers(0, 12)))
        token = draw(st.sampled_from(TOKENS) | st.text(max_size=6))
        op = draw(st.sampled_from(["insert", "replace", "delete"]))
        if op == "insert":
            text = text[:pos] + token + text[pos:]
        elif op == "replace":
            text = text[:pos] + token + text[end:]
        else:
            text = text[:pos] + text[end:]
    data = text.encode("utf-8", "surrogatepass")  # lone surrogates become invalid UTF-8
    if draw(st.booleans()) and draw(st.booleans()):
        data += b"\xe9\xff"  # and sometimes plain Latin-1 bytes
    return data


runner = CliRunner()


def _check(code: int, stdout: str, stderr: str, allowed: set[int], *, run: bool) -> None:
    assert code in allowed, (code, stderr[-2000:])
    assert "Traceback" not in stderr and "Traceback" not in stdout
    assert "internal error" not in stderr, stderr[-2000:]
    if code != 0:
        assert stderr.strip(), "a failure says why on stderr"
    if run and stdout.strip():
        events = [json.loads(line) for line in stdout.splitlines()]
        assert events[0]["type"] == "session_started"
        assert events[-1]["type"] == "run_finished" and events[-1]["exit_code"] == code


def _files(folder: Path, config: bytes, script: bytes) -> tuple[Path, Path]:
    script_path = folder / "script.yaml"
    script_path.write_bytes(script)
    config_path = folder / "agent.yaml"
    config_path.write_bytes(config.replace(b"SCRIPT", str(script_path).encode()))
    return config_path, script_path


FUZZ = settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)


@FUZZ
@given(config=mutated(CONFIG), script=mutated(SCRIPT))
def test_mutated_config_and_script_in_process(config: bytes, script: bytes) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        config_path, _ = _files(Path(tmp), config, script)
        result = runner.invoke(
            app, ["validate", str(config_path), "--var", "who=me", "-C", str(REPO)]
        )
        assert result.exception is None or isinstance(result.exception, SystemExit), result
        _check(result.exit_code, result.stdout, result.stderr, DOCUMENTED_VALIDATE, run=False)
        result = runner.invoke(
            app,
            ["run", "-c", str(config_path), "hi", "--var", "who=me", "--ephemeral",
             "-C", str(REPO), "--permission-mode", "read-only"],
        )  # fmt: skip
        assert result.exception is None or isinstance(result.exception, SystemExit), result
        _check(result.exit_code, result.stdout, result.stderr, DOCUMENTED_RUN, run=True)


@FUZZ
@given(script=mutated(SCRIPT))
def test_mutated_script_alone_in_process(script: bytes) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        _config, script_path = _files(Path(tmp), b"", script)
        result = runner.invoke(
            app,
            ["run", "-m", f"scripted:{script_path}", "hi", "--ephemeral", "-C", str(REPO),
             "--permission-mode", "read-only"],
        )  # fmt: skip
        assert result.exception is None or isinstance(result.exception, SystemExit), result
        _check(result.exit_code, result.stdout, result.stderr, DOCUMENTED_RUN, run=True)


@settings(max_examples=6, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(config=mutated(CONFIG), script=mutated(SCRIPT))
def test_mutated_inputs_through_real_processes(config: bytes, script: bytes) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        config_path, _ = _files(Path(tmp), config, script)
        for args, allowed, is_run in (
            (["validate", str(config_path), "--var", "who=me"], DOCUMENTED_VALIDATE, False),
            (
                ["run", "-c", str(config_path), "hi", "--var", "who=me", "--ephemeral",
                 "--permission-mode", "read-only"],
                DOCUMENTED_RUN,
                True,
            ),
        ):  # fmt: skip
            proc = subprocess.run(
                [MENTRA, *args],
                cwd=REPO,
                capture_output=True,
                text=True,
                errors="replace",
                stdin=subprocess.DEVNULL,
                timeout=60,
            )
            _check(proc.returncode, proc.stdout, proc.stderr, allowed, run=is_run)
