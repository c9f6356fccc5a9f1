"""Help text, durations, `--image` signatures, the approval-command check and the 404 hint."""

from __future__ import annotations

import json
import os
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
import typer

from mentra._duration import parse_duration
from mentra.errors import ConfigError
from mentra_cli.app import COMMANDS, GROUPS, build_app, run_app

DEMO = "examples/agents/demo.yaml"


def _help(capsys: pytest.CaptureFixture[str], *args: str) -> str:
    assert run_app([*args, "--help"]) == 0
    return capsys.readouterr().out


def _all_command_paths() -> list[tuple[str, ...]]:
    paths: list[tuple[str, ...]] = [(name,) for name in COMMANDS]
    for name, group in GROUPS.items():
        command = typer.main.get_command(group)
        paths += [(name, sub) for sub in getattr(command, "commands", {})]
    return paths


@pytest.mark.parametrize("path", _all_command_paths(), ids=" ".join)
def test_help_shows_no_python_type_labels(
    capsys: pytest.CaptureFixture[str], path: tuple[str, ...]
) -> None:
    text = _help(capsys, *path)
    for label in ("<list[", "range>", "<str>", "<int>", "<float>", "<path>", "<file>"):
        assert label not in text, f"{' '.join(path)} --help shows {label}:\n{text}"
    assert "[default: True]" not in text


def test_models_and_tools_options_all_have_help() -> None:
    for name in ("models", "tools"):
        command = typer.main.get_command(build_app(name)).commands[name]  # type: ignore[attr-defined]
        missing = [p.name for p in command.params if not getattr(p, "help", None)]
        assert missing == [], f"{name}: options without help: {missing}"


def test_readable_metavars_names_values() -> None:
    from mentra_cli.app import readable_metavars

    command = typer.main.get_command(build_app("run"))
    readable_metavars(command)
    run = command.commands["run"]  # type: ignore[attr-defined]
    shown = {p.name: p.metavar for p in run.params if not getattr(p, "is_flag", False)}
    assert shown["allow"] == "RULE" and shown["max_rounds"] == "N"
    assert shown["max_cost"] == "USD" and shown["timeout"] == "DURATION"


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("90", 90.0),
        ("1.5", 1.5),
        ("500ms", 0.5),
        ("15m", 900.0),
        ("1w", 604800.0),
        ("1h30m", 5400.0),
        ("2d12h", 216000.0),
        ("1m30s", 90.0),
        ("1h 30m", 5400.0),
        ("1m500ms", 60.5),
    ],
)
def test_compound_durations(text: str, seconds: float) -> None:
    assert parse_duration(text) == seconds


@pytest.mark.parametrize("text", ["", "abc", "30m1h", "1h1h", "1x", "-1s", "0", "1h-30m", "h"])
def test_bad_durations(text: str) -> None:
    with pytest.raises(ValueError):
        parse_duration(text)


def test_compound_durations_everywhere_they_are_read(mentra: Any, tmp_path: Path) -> None:
    done = mentra("delete-agent", "--older-than", "1w", "--dry-run", "--store", str(tmp_path / "s"))
    assert (done.code, done.stderr) == (0, "")
    run = mentra("run", "-c", DEMO, "hi", "--ephemeral", "--timeout", "1h30m")
    assert run.code == 0, run.stderr
    config = tmp_path / "agent.yaml"
    config.write_text(
        "model: scripted:x.yaml\nlimits: {timeout: 1h30m}\npolicy: {command_timeout: 1m30s}\n"
    )
    (tmp_path / "x.yaml").write_text("turns:\n  - text: done\n")
    checked = mentra("validate", str(config), "-C", str(tmp_path))
    assert checked.code == 0, checked.stderr


def test_an_image_is_checked_by_its_bytes_not_its_name(mentra: Any, tmp_path: Path) -> None:
    fake = tmp_path / "x.png"
    fake.write_text("just some text\n")
    done = mentra("run", "-c", DEMO, "hi", "--ephemeral", "-i", str(fake))
    assert done.code == 2
    assert len(done.stderr.splitlines()) == 1 and "not a PNG, JPEG, GIF or WebP" in done.stderr
    assert "Traceback" not in done.stderr


def test_check_approval_command(tmp_path: Path) -> None:
    from mentra.permissions.approval import check_approval_command

    script = tmp_path / "approve.sh"
    script.write_text("#!/bin/sh\necho allow\n")
    script.chmod(0o755)
    plain = tmp_path / "plain.sh"
    plain.write_text("echo allow\n")
    for ok in ("cat", "sh -c 'echo allow'", "FOO=1 cat", "./approve.sh", str(script), "exec cat"):
        check_approval_command(ok, tmp_path)
    bad = {
        "no-such-approver-xyz --flag": "command not found",
        "./missing.sh": "no such file",
        "./plain.sh": "not executable",
        f"{tmp_path}": "is a directory",
        "": "names no command",
        "'unclosed": "cannot be parsed",
    }
    for command, needle in bad.items():
        with pytest.raises(ConfigError, match=needle) as info:
            check_approval_command(command, tmp_path)
        assert info.value.exit_code == 2
        assert "--approval-command" in info.value.message


class _NotFound(BaseHTTPRequestHandler):
    def do_POST(self) -> None:
        self._send(404, {"error": {"message": "The model `nope` does not exist"}})

    def do_GET(self) -> None:
        self._send(200, {"object": "list", "data": [{"id": "small", "object": "model"}]})

    def _send(self, status: int, body: dict[str, Any]) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture
def fake_server() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _NotFound)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/v1"
    finally:
        server.shutdown()
        server.server_close()


def test_the_404_hint_works_as_printed(mentra: Any, tmp_path: Path, fake_server: str) -> None:
    config = tmp_path / "agent.yaml"
    config.write_text(
        "model: fakechat:nope\n"
        f"providers:\n  fakechat: {{wire: openai-chat, base_url: '{fake_server}', "
        "api_key_env: FAKE_KEY}\n"
    )
    env = {
        "FAKE_KEY": "test-key-0123456789",
        **{k: v for k, v in os.environ.items() if k.endswith("_PROXY")},
    }
    done = mentra("run", "-c", str(config), "hi", "--ephemeral", env=env)
    assert done.code == 3
    assert "`mentra models --provider fakechat -c CONFIG`" in done.stderr
    listed = mentra("models", "--provider", "fakechat", "-c", str(config), "-o", "json", env=env)
    assert listed.code == 0, listed.stderr
    assert [m["id"] for m in json.loads(listed.stdout)] == ["small"]
    without = mentra("models", "--provider", "fakechat", env=env)
    assert without.code == 2 and "-c FILE" in without.stderr
