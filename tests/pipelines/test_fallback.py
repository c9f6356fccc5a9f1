"""`--fallback-model` and `fallback_models:` (#20 item 4): a request that fails overloaded or
unreachable after its retries goes to the next model, said by a notice and `model_switched`;
later requests stay there; `run_finished.usage_by_model` splits usage per model. Real `mentra`
processes against fake Chat Completions servers on 127.0.0.1."""

from __future__ import annotations

import json
import socket
from pathlib import Path
from typing import Any

from tests.pipelines.fakeserver import RuleServer


def _config(tmp_path: Path, rules: RuleServer, extra: str = "") -> str:
    config = tmp_path / "agent.yaml"
    config.write_text(rules.config(extra=extra), encoding="utf-8")
    return str(config)


def test_529_on_a_then_success_on_b(mentra: Any, rules: RuleServer, tmp_path: Path) -> None:
    rules.status_by_model["model-a"] = 529
    config = _config(tmp_path, rules)
    done = mentra("run", "-c", config, "hi", "--fallback-model", "fake:model-b", "--ephemeral")
    assert done.code == 0, done.stderr
    switched = [e for e in done.events if e["type"] == "model_switched"]
    assert len(switched) == 1
    assert switched[0]["from"] == "fake:model-a" and switched[0]["to"] == "fake:model-b"
    assert "529" in switched[0]["reason"]
    notices = [e["message"] for e in done.events if e["type"] == "notice"]
    assert any("fake:model-a failed" in n and "fake:model-b" in n for n in notices)
    assert [r["model"] for r in rules.requests] == ["model-a", "model-b"]
    assert rules.requests[0]["messages"] == rules.requests[1]["messages"]  # the same request
    finished = done.events[-1]
    assert finished["type"] == "run_finished" and finished["final_text"] == "answer 1"
    by_model = finished["usage_by_model"]
    assert list(by_model) == ["fake:model-b"]
    assert by_model["fake:model-b"]["input_tokens"] == 10
    assert by_model["fake:model-b"]["output_tokens"] == 2
    assert "cost_usd" in by_model["fake:model-b"]


def test_without_a_fallback_it_exits_3(mentra: Any, rules: RuleServer, tmp_path: Path) -> None:
    rules.status_by_model["model-a"] = 529
    done = mentra("run", "-c", _config(tmp_path, rules), "hi", "--ephemeral")
    assert done.code == 3, done.stderr
    assert "model_switched" not in done.types and done.types[-1] == "run_finished"
    assert len(rules.requests) == 1


def test_a_rejected_request_does_not_fall_back(
    mentra: Any, rules: RuleServer, tmp_path: Path
) -> None:
    rules.status_by_model["model-a"] = 400  # not transient: the next model would fail too
    config = _config(tmp_path, rules)
    done = mentra("run", "-c", config, "hi", "--fallback-model", "fake:model-b", "--ephemeral")
    assert done.code == 3
    assert [r["model"] for r in rules.requests] == ["model-a"]


def test_later_turns_stay_on_the_model_that_answered(
    mentra: Any, rules: RuleServer, tmp_path: Path
) -> None:
    rules.status_by_model["model-a"] = 503
    config = _config(tmp_path, rules)
    stdin = "".join(json.dumps({"type": "user", "text": t}) + "\n" for t in ("one", "two"))
    done = mentra(
        "run", "-c", config, "--fallback-model", "fake:model-b", "--input-format", "jsonl",
        "--ephemeral", input=stdin,
    )  # fmt: skip
    assert done.code == 0, done.stderr
    assert [r["model"] for r in rules.requests] == ["model-a", "model-b", "model-b"]
    assert done.types.count("model_switched") == 1


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_config_fallbacks_across_providers_in_order(
    mentra: Any, rules: RuleServer, tmp_path: Path
) -> None:
    other = RuleServer()
    other.thread.start()
    try:
        rules.status_by_model["model-a"] = 429
        extra = (
            f"  down:\n    wire: openai-chat\n    base_url: http://127.0.0.1:{_closed_port()}/v1\n"
            "    retries: {max_attempts: 1}\n"
            f"  other:\n    wire: openai-chat\n    base_url: {other.base_url}\n"
            "    retries: {max_attempts: 2, base_delay: 0.01}\n"
            "fallback_models: [down:model-x, other:model-c]\n"
        )
        config = _config(tmp_path, rules, extra)
        done = mentra("run", "-c", config, "hi", "--ephemeral")
        assert done.code == 0, done.stderr
        switched = [(e["from"], e["to"]) for e in done.events if e["type"] == "model_switched"]
        assert switched == [("fake:model-a", "down:model-x"), ("down:model-x", "other:model-c")]
        assert [r["model"] for r in other.requests] == ["model-c"]
        assert list(done.events[-1]["usage_by_model"]) == ["other:model-c"]
        flag = mentra("run", "-c", config, "hi", "--ephemeral", "--fallback-model", "fake:model-b")
        assert flag.code == 0, flag.stderr  # the flag replaces the config's list
        assert [e["to"] for e in flag.events if e["type"] == "model_switched"] == ["fake:model-b"]
    finally:
        other.server.shutdown()
        other.server.server_close()


def test_a_bad_fallback_is_refused_before_the_run(
    mentra: Any, rules: RuleServer, tmp_path: Path
) -> None:
    config = _config(tmp_path, rules)
    done = mentra("run", "-c", config, "hi", "--fallback-model", "nocolon", "--ephemeral")
    assert done.code == 2 and done.stdout == ""
    assert "PROVIDER:MODEL" in done.stderr and "Traceback" not in done.stderr
    unknown = mentra("run", "-c", config, "hi", "--fallback-model", "nope:x", "--ephemeral")
    assert unknown.code == 2 and "nope" in unknown.stderr
    bad_yaml = tmp_path / "bad.yaml"
    bad_yaml.write_text(rules.config(extra="fallback_models: [oops]\n"), encoding="utf-8")
    invalid = mentra("run", "-c", str(bad_yaml), "hi", "--ephemeral")
    assert invalid.code == 2 and "bad.yaml" in invalid.stderr
    assert rules.requests == []
