"""The process edge, through real `mentra` processes: closed pipes, help, NO_COLOR, the store
path, shell completion."""

from __future__ import annotations

import json
import os
import pty
import subprocess
import sys
from pathlib import Path

import pytest

from mentra.messages import Message, TextBlock
from mentra.store.base import AgentRecord, RunRecord
from mentra.store.sqlite import SQLiteStore
from tests.cli.conftest import MENTRA, REPO

DEMO = "examples/agents/demo.yaml"


def _seed(path: Path, workspace: Path, count: int) -> list[str]:
    """A store holding ``count`` agents of ``workspace``; their ids, newest last."""
    ids = [f"{i:020x}" for i in range(count)]
    with SQLiteStore(path) as store:
        for agent_id in ids:
            store.create_agent(
                AgentRecord(
                    id=agent_id,
                    name="n" * 40,
                    model="scripted:demo.yaml",
                    workspace=str(workspace),
                    config={},
                )
            )
    return ids


def _into_closed_pipe(*args: str, cwd: Path = REPO) -> subprocess.CompletedProcess[str]:
    """Run mentra with stdout a pipe whose read end is already closed."""
    read_end, write_end = os.pipe()
    os.close(read_end)
    try:
        return subprocess.run(
            [MENTRA, *args],
            stdout=write_end,
            stderr=subprocess.PIPE,
            stdin=subprocess.DEVNULL,
            text=True,
            cwd=cwd,
            timeout=60,
        )
    finally:
        os.close(write_end)


@pytest.fixture
def big_store(tmp_path: Path) -> tuple[Path, list[str]]:
    # 600 agents: about 150 KB of JSON lines, more than a pipe buffer holds
    path = tmp_path / "big.sqlite"
    ids = _seed(path, REPO.resolve(), 600)
    with SQLiteStore(path) as store:  # a transcript for `show` and `export`
        run = RunRecord(id="r1", agent_id=ids[0], prompt="hi")
        store.begin_run(run)
        reply = Message(role="assistant", content=[TextBlock(text="hello")])
        store.commit_round(ids[0], run.id, [Message.user_text("hi"), reply], run)
        run.status = "success"
        store.finish_run(run)
    return path, ids


def test_list_agents_into_head_exits_141_every_time(big_store: tuple[Path, list[str]]) -> None:
    store, _ids = big_store
    script = (
        "codes=''; for i in $(seq 1 20); do "
        f"'{MENTRA}' list-agents --store '{store}' | head -c 10 >/dev/null; "
        'codes="$codes ${PIPESTATUS[0]}"; done; echo $codes'
    )
    done = subprocess.run(
        ["bash", "-c", script], capture_output=True, text=True, cwd=REPO, timeout=300
    )
    assert done.stdout.split() == ["141"] * 20
    assert done.stderr == ""


@pytest.mark.parametrize(
    "args",
    [
        ("list-agents", "-o", "jsonl"),
        ("list-agents", "-o", "json"),
        ("list-agents", "-o", "table"),
        ("show", "AGENT"),
        ("export", "AGENT"),
        ("delete-agent", "AGENT", "--dry-run"),
        ("schema", "events"),
        ("schema", "config"),
        ("tools", "-c", DEMO, "-o", "json"),
        ("models", "-c", DEMO, "-o", "jsonl"),
        ("validate", DEMO),
        ("permissions", "check", "shell", '{"command": "ls"}'),
        ("--version",),
        ("--help",),
        (),
    ],
)
def test_every_command_exits_141_silently_on_a_closed_pipe(
    big_store: tuple[Path, list[str]], args: tuple[str, ...]
) -> None:
    store, ids = big_store
    argv = [ids[0] if a == "AGENT" else a for a in args]
    if argv and argv[0] in ("list-agents", "show", "export", "delete-agent"):
        argv += ["--store", str(store)]
    done = _into_closed_pipe(*argv)
    assert (done.returncode, done.stderr) == (141, "")


@pytest.mark.parametrize("args", [("list-agents",), ("schema", "events"), ("--version",)])
def test_a_closed_stdout_exits_141_not_an_internal_error(
    big_store: tuple[Path, list[str]], args: tuple[str, ...]
) -> None:
    extra = ("--store", str(big_store[0])) if args[0] == "list-agents" else ()
    line = " ".join(f"'{a}'" for a in [MENTRA, *args, *extra])
    done = subprocess.run(
        ["bash", "-c", f"{line} >&-"], capture_output=True, text=True, cwd=REPO, timeout=60
    )
    assert (done.returncode, done.stderr) == (141, "")


def test_bare_mentra_prints_the_help_and_exits_0(mentra) -> None:  # type: ignore[no-untyped-def]
    done = mentra()
    assert done.code == 0
    assert done.stdout.startswith("Usage: mentra [OPTIONS] COMMAND")
    assert "list-agents" in done.stdout and done.stderr == ""
    group = mentra("permissions")
    assert group.code == 0 and group.stdout.startswith("Usage: mentra permissions")
    assert group.stderr == ""


def test_a_usage_error_points_to_the_subcommands_help(mentra) -> None:  # type: ignore[no-untyped-def]
    done = mentra("list-agents", "--bogus")
    assert done.code == 2
    assert done.stderr.strip().endswith("(see mentra list-agents --help)")
    assert len(done.stderr.splitlines()) == 1
    nested = mentra("permissions", "check", "--bogus")
    assert nested.stderr.strip().endswith("(see mentra permissions check --help)")


def test_the_permission_mode_error_names_the_flag_once(mentra) -> None:  # type: ignore[no-untyped-def]
    done = mentra("tools", "--permission-mode", "sometimes", "-c", DEMO)
    assert done.code == 2
    assert done.stderr.count("--permission-mode") == 1, done.stderr
    assert "sometimes" in done.stderr


def test_the_table_shows_ids_whole_on_a_narrow_terminal(mentra, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    store = tmp_path / "s.sqlite"
    ids = _seed(store, REPO.resolve(), 3)
    done = mentra("list-agents", "--store", str(store), "-o", "table", env={"COLUMNS": "40"})
    assert done.code == 0, done.stderr
    for agent_id in ids:
        assert agent_id in done.stdout


def _on_a_terminal(args: list[str], env: dict[str, str]) -> bytes:
    """What mentra writes to a terminal (stdout and stderr both a pty)."""
    leader, follower = pty.openpty()
    try:
        proc = subprocess.Popen(
            [MENTRA, *args],
            stdin=subprocess.DEVNULL,
            stdout=follower,
            stderr=follower,
            cwd=REPO,
            env={**os.environ, "TERM": "xterm-256color", "COLUMNS": "120", **env},
        )
        os.close(follower)
        follower = -1
        out = b""
        while True:
            try:
                chunk = os.read(leader, 65536)
            except OSError:  # EIO: the terminal's other side closed
                break
            if not chunk:
                break
            out += chunk
        assert proc.wait(timeout=60) == 0, out
        return out
    finally:
        if follower != -1:
            os.close(follower)
        os.close(leader)


@pytest.mark.parametrize(
    "args",
    [
        ["run", "-c", DEMO, "What is this project?", "--ephemeral"],  # the people's view
        ["tools", "-c", DEMO, "-o", "table"],  # a table with a bold header
    ],
)
def test_no_color_means_no_escape_sequences_at_all(args: list[str]) -> None:
    assert b"\x1b[" in _on_a_terminal(args, {})  # the control: styled without NO_COLOR
    assert b"\x1b[" not in _on_a_terminal(args, {"NO_COLOR": "1"})


def test_a_relative_mentra_store_is_made_absolute(mentra, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    script = tmp_path / "one.yaml"
    script.write_text("turns:\n  - text: hi\n")
    done = mentra(
        "run", "-m", f"scripted:{script}", "hi", cwd=tmp_path, env={"MENTRA_STORE": "rel.sqlite"}
    )
    assert done.code == 0, done.stderr
    started = done.events[0]
    assert started["store"] == str(tmp_path / "rel.sqlite")
    listed = mentra(
        "list-agents",
        "-C",
        str(tmp_path),
        "-o",
        "json",
        cwd=tmp_path,
        env={"MENTRA_STORE": "rel.sqlite"},
    )
    assert [a["id"] for a in json.loads(listed.stdout)] == [started["agent_id"]]


@pytest.mark.parametrize(
    ("shell", "needle"),
    [
        ("bash", "complete -o default -F _mentra_completion mentra"),
        ("zsh", "#compdef mentra"),
        ("fish", "complete --command mentra"),
    ],
)
def test_show_completion_for_each_shell(shell: str, needle: str) -> None:
    # the shell is detected from the parent process, as when a user types it in that shell
    done = subprocess.run(
        ["bash", "-c", f"exec -a {shell} bash -c \"'{MENTRA}' --show-completion; exit $?\""],
        capture_output=True,
        text=True,
        cwd=REPO,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    assert needle in done.stdout


def test_install_completion_writes_the_script(tmp_path: Path) -> None:
    env = {**os.environ, "HOME": str(tmp_path)}
    done = subprocess.run(
        ["bash", "-c", f"exec -a bash bash -c \"'{MENTRA}' --install-completion; exit $?\""],
        capture_output=True,
        text=True,
        cwd=REPO,
        timeout=60,
        env=env,
    )
    assert done.returncode == 0, done.stderr
    assert "_MENTRA_COMPLETE" in (tmp_path / ".bashrc").read_text() or any(
        "_MENTRA_COMPLETE" in p.read_text() for p in tmp_path.rglob("*") if p.is_file()
    )


def test_the_shell_gets_completions() -> None:
    env = {
        **os.environ,
        "_MENTRA_COMPLETE": "complete_bash",
        "COMP_WORDS": "mentra list-a",
        "COMP_CWORD": "1",
    }
    done = subprocess.run([MENTRA], capture_output=True, text=True, env=env, timeout=60, cwd=REPO)
    assert (done.returncode, done.stdout.split()) == (0, ["list-agents"])


if sys.platform != "linux":  # pragma: no cover
    pytestmark = pytest.mark.skip("pipes and ptys as on Linux")
