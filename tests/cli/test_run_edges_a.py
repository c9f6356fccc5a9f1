"""`mentra run` edges: `--fail-on-denial`, a fenced `--json-schema` answer, an
`--approval-command` that cannot start, `--output-last-message` into a missing folder."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path
from typing import Any

DENIED_SCRIPT = """
turns:
  - text: creating a file
    tool_calls:
      - {name: shell, input: {command: "touch made-by-tool.txt"}}
  - text: finished anyway
"""


def _script(tmp_path: Path, text: str) -> Path:
    script = tmp_path / "s.yaml"
    script.write_text(text)
    return script


def _runs(store: Path) -> list[tuple[str, str | None]]:
    con = sqlite3.connect(store)
    try:
        return [tuple(r) for r in con.execute("SELECT status, error FROM runs").fetchall()]
    finally:
        con.close()


def test_fail_on_denial_ends_the_run_denied_with_exit_8(mentra: Any, tmp_path: Path) -> None:
    script = _script(tmp_path, DENIED_SCRIPT)
    store = tmp_path / "store.sqlite"
    r = mentra(
        "run", "-m", f"scripted:{script}", "go", "--store", str(store), "--fail-on-denial",
        cwd=tmp_path, timeout=30,
    )  # fmt: skip
    assert r.code == 8, r.stderr
    assert not (tmp_path / "made-by-tool.txt").exists()
    done = r.events[-1]
    assert done["type"] == "run_finished"
    assert done["status"] == "denied" and done["exit_code"] == 8
    assert done["permission_denials"][0]["subjects"] == ["touch made-by-tool.txt"]
    assert done["rounds"] == 1  # stopped after the round of the denial: no second round
    assert r.stderr.strip().splitlines() == [
        "mentra: denied: shell(touch made-by-tool.txt) was denied (by no_approver) and "
        "fail_on_denial is set"
    ]
    assert "Traceback" not in r.stderr
    assert [status for status, _ in _runs(store)] == ["denied"]


def test_without_fail_on_denial_a_denial_still_exits_0(mentra: Any, tmp_path: Path) -> None:
    script = _script(tmp_path, DENIED_SCRIPT)
    r = mentra("run", "-m", f"scripted:{script}", "go", "--ephemeral", cwd=tmp_path, timeout=30)
    assert r.code == 0, r.stderr
    assert r.events[-1]["status"] == "success" and r.events[-1]["permission_denials"]


def test_fail_on_denial_from_the_agent_config(mentra: Any, tmp_path: Path) -> None:
    script = _script(tmp_path, DENIED_SCRIPT)
    config = tmp_path / "agent.yaml"
    config.write_text(f"name: a\nmodel: scripted:{script}\npermissions:\n  fail_on_denial: true\n")
    r = mentra("run", "-c", str(config), "go", "--ephemeral", cwd=tmp_path, timeout=30)
    assert r.code == 8, r.stderr
    assert r.events[-1]["status"] == "denied"


def test_fail_on_denial_from_a_policy_file(mentra: Any, tmp_path: Path) -> None:
    script = _script(tmp_path, DENIED_SCRIPT)
    policy = tmp_path / "policy.yaml"
    policy.write_text("fail_on_denial: true\n")
    r = mentra(
        "run", "-m", f"scripted:{script}", "go", "--ephemeral", "--policy", str(policy),
        cwd=tmp_path, timeout=30,
    )  # fmt: skip
    assert r.code == 8, r.stderr
    assert r.events[-1]["status"] == "denied"
    assert r.events[-1]["type"] == "run_finished"


def test_fail_on_denial_is_in_the_events_schema(mentra: Any) -> None:
    r = mentra("schema", "events")
    assert r.code == 0, r.stderr
    assert '"denied"' in r.stdout
    json.loads(r.stdout)


SCHEMA = {
    "type": "object",
    "properties": {"version": {"type": "string"}},
    "required": ["version"],
    "additionalProperties": False,
}


def _schema_run(mentra: Any, tmp_path: Path, answers: list[str]) -> Any:
    turns = "".join(f"  - text: {json.dumps(a)}\n" for a in answers)
    script = _script(tmp_path, f"turns:\n{turns}")
    schema = tmp_path / "schema.json"
    schema.write_text(json.dumps(SCHEMA))
    return mentra(
        "run", "-m", f"scripted:{script}", "extract", "--ephemeral", "--json-schema",
        str(schema), "--output", "json", cwd=tmp_path, timeout=30,
    )  # fmt: skip


def test_json_schema_accepts_a_json_fence_with_text_around(mentra: Any, tmp_path: Path) -> None:
    answer = 'Here is the version:\n\n```json\n{"version": "1.2.3"}\n```\n\nAnything else?'
    r = _schema_run(mentra, tmp_path, [answer])
    assert r.code == 0, r.stderr
    done = json.loads(r.stdout)
    assert done["status"] == "success" and done["rounds"] == 1
    assert done["structured_output"] == {"version": "1.2.3"}
    assert done["final_text"] == answer  # the text stays as the model gave it


def test_json_schema_accepts_a_bare_fence(mentra: Any, tmp_path: Path) -> None:
    r = _schema_run(mentra, tmp_path, ['```\n{"version": "2"}\n```'])
    assert r.code == 0, r.stderr
    assert json.loads(r.stdout)["structured_output"] == {"version": "2"}


def test_json_schema_accepts_a_fence_never_closed(mentra: Any, tmp_path: Path) -> None:
    r = _schema_run(mentra, tmp_path, ['Result:\n```json\n{"version": "4"}\n'])
    assert r.code == 0, r.stderr
    assert json.loads(r.stdout)["structured_output"] == {"version": "4"}


def test_json_schema_ignores_a_fence_of_another_language(mentra: Any, tmp_path: Path) -> None:
    answer = 'Run:\n```sh\necho hi\n```\nthen:\n```json\n{"version": "3"}\n```'
    r = _schema_run(mentra, tmp_path, [answer])
    assert r.code == 0, r.stderr
    assert json.loads(r.stdout)["structured_output"] == {"version": "3"}


def test_json_schema_refuses_two_json_fences(mentra: Any, tmp_path: Path) -> None:
    two = '```json\n{"version": "1"}\n```\nor\n```json\n{"version": "2"}\n```'
    r = _schema_run(mentra, tmp_path, [two, two, two])  # the first answer and two retries
    assert r.code == 7, r.stderr
    done = json.loads(r.stdout)
    assert done["status"] == "invalid_output" and done["structured_output"] is None
    assert r.stderr.strip().splitlines() == [
        "mentra: invalid_output: final answer does not match --json-schema: "
        "2 fenced JSON blocks; give exactly one"
    ]


def _agents(store: Path) -> int:
    if not store.exists():
        return 0
    con = sqlite3.connect(store)
    try:
        return int(con.execute("SELECT count(*) FROM agents").fetchone()[0])
    finally:
        con.close()


def test_an_approval_command_that_cannot_start_is_refused_before_the_run(
    mentra: Any, tmp_path: Path
) -> None:
    script = _script(tmp_path, DENIED_SCRIPT)
    store = tmp_path / "store.sqlite"
    missing = str(tmp_path / "no-such-approver")
    r = mentra(
        "run", "-m", f"scripted:{script}", "go", "--store", str(store),
        "--approval-command", f"{missing} --json", cwd=tmp_path, timeout=30,
    )  # fmt: skip
    assert r.code == 2, (r.code, r.stdout, r.stderr)
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and missing in lines[0] and "no such file" in lines[0], r.stderr
    assert "Traceback" not in r.stderr
    assert r.stdout == ""  # refused before the run: no events at all
    assert _agents(store) == 0
    assert not (tmp_path / "made-by-tool.txt").exists()


def test_an_approval_command_not_on_path_is_refused(mentra: Any, tmp_path: Path) -> None:
    script = _script(tmp_path, DENIED_SCRIPT)
    r = mentra(
        "run", "-m", f"scripted:{script}", "go", "--ephemeral",
        "--approval-command", "mentra-no-such-approver-xyz", cwd=tmp_path, timeout=30,
    )  # fmt: skip
    assert r.code == 2, r.stderr
    assert r.stderr.strip().splitlines() == [
        "mentra: error: --approval-command 'mentra-no-such-approver-xyz': "
        "mentra-no-such-approver-xyz: command not found on PATH"
    ]
    assert r.stdout == ""


ANSWER_SCRIPT = "turns:\n  - text: the answer\n"


def test_output_last_message_into_a_missing_folder_is_refused_before_the_run(
    mentra: Any, tmp_path: Path
) -> None:
    script = _script(tmp_path, ANSWER_SCRIPT)
    store = tmp_path / "store.sqlite"
    target = tmp_path / "missing" / "last.txt"
    r = mentra(
        "run", "-m", f"scripted:{script}", "go", "--store", str(store),
        "--output-last-message", str(target), cwd=tmp_path, timeout=30,
    )  # fmt: skip
    assert r.code == 2, (r.code, r.stderr)
    assert r.stderr.strip().splitlines() == [
        f"mentra: error: --output-last-message {target}: the folder {target.parent} does not exist"
    ]
    assert r.stdout == ""
    assert _agents(store) == 0


def test_output_last_message_that_is_a_directory_is_refused(mentra: Any, tmp_path: Path) -> None:
    script = _script(tmp_path, ANSWER_SCRIPT)
    r = mentra(
        "run", "-m", f"scripted:{script}", "go", "--ephemeral",
        "--output-last-message", str(tmp_path), cwd=tmp_path, timeout=30,
    )  # fmt: skip
    assert r.code == 2, r.stderr
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and "--output-last-message" in lines[0], r.stderr
    assert "is a directory" in lines[0]
    assert r.stdout == ""


def test_a_failed_run_leaves_no_stale_last_message(mentra: Any, tmp_path: Path) -> None:
    target = tmp_path / "last.txt"
    ok = _script(tmp_path, ANSWER_SCRIPT)
    r = mentra(
        "run", "-m", f"scripted:{ok}", "go", "--ephemeral", "--output-last-message",
        str(target), cwd=tmp_path, timeout=30,
    )  # fmt: skip
    assert r.code == 0, r.stderr
    assert target.read_text() == "the answer"
    denied = tmp_path / "denied.yaml"
    denied.write_text(DENIED_SCRIPT)
    r = mentra(
        "run", "-m", f"scripted:{denied}", "go", "--ephemeral", "--fail-on-denial",
        "--output-last-message", str(target), cwd=tmp_path, timeout=30,
    )  # fmt: skip
    assert r.code == 8, r.stderr
    assert r.events[-1]["final_text"] is None
    assert target.read_text() == ""  # emptied: the earlier run's answer is gone


def test_a_last_message_that_cannot_be_written_fails_the_process(
    mentra: Any, tmp_path: Path
) -> None:
    script = _script(tmp_path, ANSWER_SCRIPT)
    r = mentra(
        "run", "-m", f"scripted:{script}", "go", "--ephemeral",
        "--output-last-message", "/dev/full", cwd=tmp_path, timeout=30,
    )  # fmt: skip
    assert r.code == 1, r.stderr
    assert r.events[-1]["type"] == "run_finished"
    assert r.stderr.strip().splitlines() == [
        "mentra: error: --output-last-message: cannot write /dev/full: No space left on device"
    ]
