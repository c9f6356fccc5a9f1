"""Subagents through real `mentra` processes, continued: the parent's `--timeout` stops a
child's command (its whole process group, before the run ends) and cancels a child's MCP call
on the wire, and a child's `ask` is answered at the terminal like the parent's own (stdin and
stderr a pty)."""

from __future__ import annotations

import json
import os
import pty
import select
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from tests.cli.conftest import MENTRA, REPO
from tests.hooks.conftest import pid_alive
from tests.mcp.helpers import FAULT, wait_gone
from tests.subagents.conftest import Reply, RoutedChat, calls
from tests.subagents.test_process import _of, _setup
from tests.subagents.test_profiles_signals import _popen, _wait_for


def _group_members(pgid: int) -> list[int]:
    """Live (not zombie) processes of process group ``pgid`` (/proc scan)."""
    members = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if fields[2] == str(pgid) and fields[0] not in ("Z", "X"):
            members.append(int(entry.name))
    return members


def test_the_parents_timeout_kills_a_childs_command_group_before_the_run_ends(
    mentra: Any, chat: RoutedChat, tmp_path: Path
) -> None:
    shell_pid, grandchild_pid = tmp_path / "shell.pid", tmp_path / "grandchild.pid"
    chat.scripts["PARENT"] = [calls(("task", {"prompt": "CHILD sleep"})), Reply("never")]
    chat.scripts["CHILD"] = [
        calls(
            (
                "shell",
                {
                    # a group of two: the shell and a background sleep it waits for
                    "command": f"sleep 120 & echo $! > {grandchild_pid}; "
                    f"echo $$ > {shell_pid}; wait"
                },
            )
        ),
        Reply("never"),
    ]
    config, store = _setup(tmp_path, chat)
    began = time.monotonic()
    proc = _popen(config, store, "--permission-mode", "bypass", "--timeout", "4s")
    assert proc.stdout is not None
    _wait_for(shell_pid)
    _wait_for(grandchild_pid)
    pgid, grandchild = int(shell_pid.read_text()), int(grandchild_pid.read_text())
    assert set(_group_members(pgid)) >= {pgid, grandchild}  # the command runs in its own group
    events = []
    for line in proc.stdout:
        events.append(json.loads(line))
        if events[-1]["type"] == "subagent_finished":
            break
    # the run has not ended yet: freeze mentra, so its exit (and its guard process, which
    # stops leftover groups when mentra is gone) cannot be what stops the group
    proc.send_signal(signal.SIGSTOP)
    try:
        left = _group_members(pgid)
    finally:
        proc.send_signal(signal.SIGCONT)
    assert left == [], f"the child's command group outlived the timeout: {left}"
    out, err = proc.communicate(timeout=30)
    assert proc.returncode == 5, err
    assert time.monotonic() - began < 20  # not the sleep's 120 s
    events += [json.loads(line) for line in out.splitlines()]
    assert events[-1]["type"] == "run_finished" and events[-1]["status"] == "timeout"
    assert len(_of(events, "run_finished")) == 1
    (done,) = _of(events, "subagent_finished")
    assert done["status"] == "timeout"
    assert not pid_alive(pgid) and not pid_alive(grandchild)
    parent_id, child_id = events[0]["agent_id"], done["child_agent_id"]
    listing = mentra("list-agents", "--store", store, "--children", "-o", "json", "--all")
    rows = {a["id"]: a for a in json.loads(listing.stdout)}
    assert rows[parent_id]["last_run"] == "timeout" and rows[child_id]["last_run"] == "timeout"


class Terminal:
    """A `mentra run` whose stdin and stderr are a pty (a person at a terminal) and whose
    stdout is a pipe (the JSONL events)."""

    def __init__(self, args: list[str]) -> None:
        self.leader, follower = pty.openpty()
        self.proc = subprocess.Popen(
            [MENTRA, *args],
            stdin=follower,
            stdout=subprocess.PIPE,
            stderr=follower,
            cwd=REPO,
            env={**os.environ, "TERM": "xterm", "COLUMNS": "200", "NO_COLOR": "1"},
        )
        os.close(follower)
        self.screen = ""

    def read_until(self, text: str, *, count: int = 1, seconds: float = 30) -> str:
        """Read the terminal until ``text`` has appeared ``count`` times in all; returns all."""
        end = time.monotonic() + seconds
        while self.screen.count(text) < count:
            assert time.monotonic() < end, f"never saw {text!r} x{count}: {self.screen!r}"
            self._read(0.1)
        return self.screen

    def settle(self, seconds: float) -> str:
        """Everything the terminal shows after ``seconds`` more."""
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            self._read(0.05)
        return self.screen

    def _read(self, timeout: float) -> None:
        ready, _, _ = select.select([self.leader], [], [], timeout)
        if ready:
            try:
                self.screen += os.read(self.leader, 65536).decode(errors="replace")
            except OSError:  # EIO: the process closed its side
                time.sleep(timeout)

    def exit_or_see(self, text: str, count: int, seconds: float = 30) -> None:
        """Read until the process exits or ``text`` has appeared ``count`` times."""
        end = time.monotonic() + seconds
        while self.proc.poll() is None and self.screen.count(text) < count:
            assert time.monotonic() < end, f"still running: {self.screen!r}"
            self._read(0.1)

    def type(self, line: str) -> None:
        os.write(self.leader, line.encode() + b"\r")

    def finish(self) -> list[dict[str, Any]]:
        out, _ = self.proc.communicate(timeout=60)
        self.settle(0.2)
        os.close(self.leader)
        return [json.loads(line) for line in out.decode().splitlines()]


PROMPT = "choice [y/s/p/g/n]:"


def _run_at_a_terminal(config: Path, store: str) -> Terminal:
    args = ["run", "-c", str(config), "PARENT go", "--store", store, "-C", str(config.parent)]
    return Terminal(args)


def test_a_childs_ask_is_answered_at_the_terminal_like_the_parents_own(
    chat: RoutedChat, tmp_path: Path
) -> None:
    own, made, refused = (tmp_path / "ws" / n for n in ("own", "made", "refused"))
    chat.scripts["PARENT"] = [
        calls(("shell", {"command": f"touch {own}"})),
        calls(("task", {"prompt": "CHILD make"})),
        calls(("task", {"prompt": "OTHER make"})),
        Reply("p: {result}"),
    ]
    chat.scripts["CHILD"] = [calls(("shell", {"command": f"touch {made}"})), Reply("made")]
    chat.scripts["OTHER"] = [calls(("shell", {"command": f"touch {refused}"})), Reply("{result}")]
    config, store = _setup(tmp_path, chat)
    term = _run_at_a_terminal(config, store)
    screen = term.read_until(PROMPT)  # the parent's own ask
    assert f"touch {own}" in screen and "shell" in screen and "wants to run" in screen
    term.type("y")
    screen = term.read_until(PROMPT, count=2)  # the child's: the same prompt
    child_screen = screen.split(PROMPT)[1]
    assert f"touch {made}" in child_screen and "wants to run" in child_screen
    assert "always allow, this session" in child_screen
    term.type("y")
    screen = term.read_until(PROMPT, count=3)
    assert f"touch {refused}" in screen.split(PROMPT)[2]
    term.type("n not in this test")
    events = term.finish()
    assert term.proc.returncode == 0, term.screen
    assert own.exists() and made.exists() and not refused.exists()
    parent_id = events[0]["agent_id"]
    children = [s["child_agent_id"] for s in _of(events, "subagent_started")]
    resolved = _of(events, "permission_resolved")
    assert [(e["agent_id"], e["decided_by"], e["outcome"]) for e in resolved] == [
        (parent_id, "prompt", "allow"),
        (children[0], "prompt", "allow"),
        (children[1], "prompt", "deny"),
    ]
    assert events[-1]["final_text"].startswith("p: ")
    assert "not in this test" in events[-1]["final_text"]  # the reason reached the child


@pytest.mark.parametrize(("signum", "code"), [(signal.SIGINT, 130), (signal.SIGTERM, 143)])
def test_a_signal_while_a_childs_prompt_waits_ends_the_run_at_once(
    chat: RoutedChat, tmp_path: Path, signum: int, code: int
) -> None:
    never = tmp_path / "ws" / "never"
    chat.scripts["PARENT"] = [calls(("task", {"prompt": "CHILD make"})), Reply("p: {result}")]
    chat.scripts["CHILD"] = [calls(("shell", {"command": f"touch {never}"})), Reply("made")]
    config, store = _setup(tmp_path, chat)
    term = _run_at_a_terminal(config, store)
    term.read_until(PROMPT)
    term.proc.send_signal(signum)
    events = term.finish()
    assert term.proc.returncode == code, term.screen
    assert "Traceback" not in term.screen
    assert events[-1]["type"] == "run_finished" and events[-1]["status"] == "interrupted"
    (done,) = _of(events, "subagent_finished")
    assert done["status"] == "interrupted"
    assert not never.exists()


def test_two_childrens_asks_at_one_terminal_are_asked_one_at_a_time(
    chat: RoutedChat, tmp_path: Path
) -> None:
    first, second = tmp_path / "ws" / "first", tmp_path / "ws" / "second"
    chat.scripts["PARENT"] = [
        calls(("task", {"prompt": "ONE make"}), ("task", {"prompt": "TWO make"})),
        Reply("p: {result}"),
    ]
    chat.scripts["ONE"] = [calls(("shell", {"command": f"touch {first}"})), Reply("one")]
    chat.scripts["TWO"] = [calls(("shell", {"command": f"touch {second}"})), Reply("two")]
    config, store = _setup(tmp_path, chat)
    term = _run_at_a_terminal(config, store)
    screen = term.read_until(PROMPT)
    # both children are asking by now; the terminal shows one prompt, the other waits for it
    screen = term.settle(2.0)
    assert screen.count(PROMPT) == 1, screen
    asked_first = first if f"touch {first}" in screen else second
    asked_then = second if asked_first == first else first
    term.type("y")
    screen = term.read_until(PROMPT, count=2)
    assert f"touch {asked_then}" in screen.split(PROMPT)[1]
    term.type("n")
    events = term.finish()
    assert term.proc.returncode == 0, term.screen
    # each answer went to the call it was shown for
    assert asked_first.exists() and not asked_then.exists()
    children = {s["child_agent_id"] for s in _of(events, "subagent_started")}
    resolved = [e for e in _of(events, "permission_resolved") if e["agent_id"] in children]
    assert sorted(e["outcome"] for e in resolved) == ["allow", "deny"]
    assert all(e["decided_by"] == "prompt" for e in resolved)


def test_always_this_session_at_a_childs_prompt_holds_for_the_parent(
    chat: RoutedChat, tmp_path: Path
) -> None:
    made = tmp_path / "ws" / "made"
    command = f"touch {made}"
    chat.scripts["PARENT"] = [
        calls(("task", {"prompt": "CHILD make"})),
        calls(("shell", {"command": command})),
        Reply("p: {result}"),
    ]
    chat.scripts["CHILD"] = [calls(("shell", {"command": command})), Reply("made")]
    config, store = _setup(tmp_path, chat)
    term = _run_at_a_terminal(config, store)
    term.read_until(PROMPT)
    term.type("s")
    term.exit_or_see(PROMPT, count=2)
    asked_again = term.screen.count(PROMPT) > 1
    if asked_again:
        term.type("n")
    events = term.finish()
    assert not asked_again, "the parent's same call was asked again"
    assert term.proc.returncode == 0, term.screen
    parent_id = events[0]["agent_id"]
    (child_id,) = [s["child_agent_id"] for s in _of(events, "subagent_started")]
    resolved = _of(events, "permission_resolved")
    assert [(e["agent_id"], e["decided_by"]) for e in resolved] == [
        (child_id, "prompt"),
        (parent_id, "remembered"),
    ]
    assert resolved[0]["scope"] == "session"


def test_the_parents_timeout_cancels_a_childs_mcp_call_on_the_wire(
    mentra: Any, chat: RoutedChat, tmp_path: Path
) -> None:
    markers = tmp_path / "markers"
    markers.mkdir()
    chat.scripts["PARENT"] = [calls(("task", {"prompt": "CHILD wait"})), Reply("never")]
    chat.scripts["CHILD"] = [calls(("mcp__fault__hang", {"seconds": 60})), Reply("never")]
    server = json.dumps(
        {
            "command": sys.executable,
            "args": [str(FAULT), "ok", str(markers)],
            "tool_timeout": "120s",
        }
    )
    config, store = _setup(tmp_path, chat, f"mcp_servers:\n  fault: {server}\n")
    proc = _popen(config, store, "--permission-mode", "bypass", "--timeout", "4s")
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 5, err
    events = [json.loads(line) for line in out.splitlines()]
    assert events[-1]["type"] == "run_finished" and events[-1]["status"] == "timeout"
    (done,) = _of(events, "subagent_finished")
    assert done["status"] == "timeout"
    child_calls = [
        e for e in _of(events, "tool_started") if e["agent_id"] == done["child_agent_id"]
    ]
    assert [e["name"] for e in child_calls] == ["mcp__fault__hang"]
    received = [json.loads(line) for line in (markers / "received.jsonl").read_text().splitlines()]
    (request,) = [m for m in received if m["method"] == "tools/call"]
    cancels = [m for m in received if m["method"] == "notifications/cancelled"]
    assert [c["params"]["requestId"] for c in cancels] == [request["id"]], received
    assert wait_gone(str(markers)) == []
