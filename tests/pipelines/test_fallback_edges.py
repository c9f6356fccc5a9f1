"""`--fallback-model` when the fallback fails too (#20 item 4): the run ends
`provider_error` (exit 3) and `run_finished.errors` names every model that failed, not only
the last. Real `mentra` processes against a fake Chat Completions server on 127.0.0.1."""

from __future__ import annotations

import socket
from pathlib import Path
from typing import Any

from tests.pipelines.fakeserver import RuleServer


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_a_fallback_that_fails_too_names_both(
    mentra: Any, rules: RuleServer, tmp_path: Path
) -> None:
    rules.status_by_model["model-a"] = 529
    extra = (
        f"  down:\n    wire: openai-chat\n    base_url: http://127.0.0.1:{_closed_port()}/v1\n"
        "    retries: {max_attempts: 1}\n"
    )
    config = tmp_path / "agent.yaml"
    config.write_text(rules.config(extra=extra), encoding="utf-8")
    done = mentra("run", "-c", str(config), "hi", "--fallback-model", "down:model-x", "--ephemeral")
    assert done.code == 3, done.stderr
    assert done.types[-1] == "run_finished" and done.types.count("model_switched") == 1
    errors = done.events[-1]["errors"]
    assert len(errors) == 2, errors
    assert errors[0].startswith("fake:model-a: ") and "529" in errors[0]
    assert errors[1].startswith("down:model-x: ") and "cannot connect" in errors[1]
    assert done.stderr.count("\n") == 1 and "down:model-x" in done.stderr
    assert "Traceback" not in done.stderr
