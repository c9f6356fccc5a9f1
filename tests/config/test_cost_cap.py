"""A cost cap needs a price: a model without one fails before the run starts (exit 2); prices
can be declared per provider in the agent config."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from mentra import pricing
from mentra.errors import ConfigError
from mentra.messages import Usage
from tests.config.fakechat import FakeChat

PRICED = "    prices:\n      fake-1: {input: 1.0, output: 2.0, cached_input: 0.5}\n"


def _config(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "agent.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def test_cap_on_unpriced_builtin_model_fails_before_the_run(
    mentra: Any, fakechat: FakeChat, tmp_path: Path
) -> None:
    # openai pointed at the local fake server: were the cap ignored, the run would succeed here
    config = _config(tmp_path, f"providers:\n  openai:\n    base_url: {fakechat.base_url}\n")
    r = mentra(
        "run",
        "-c",
        str(config),
        "-m",
        "openai:gpt-5.4-mini",
        "hi",
        "--max-cost",
        "0.000001",
        "--ephemeral",
        env={"OPENAI_API_KEY": "sk-test"},
    )
    assert r.code == 2, (r.stdout, r.stderr)
    assert r.stdout == "" and fakechat.requests == []
    assert r.stderr.count("\n") == 1
    assert "openai:gpt-5.4-mini" in r.stderr and "prices" in r.stderr
    assert "MENTRA_PRICES" in r.stderr


def test_cap_on_unpriced_declared_provider_fails(
    mentra: Any, fakechat: FakeChat, tmp_path: Path
) -> None:
    config = _config(
        tmp_path, "model: fakechat:fake-1\nlimits: {max_cost_usd: 1}\n" + fakechat.provider_yaml()
    )
    r = mentra("run", "-c", str(config), "hi", "--ephemeral")
    assert r.code == 2, r.stderr
    assert r.stdout == "" and fakechat.requests == []
    assert "fakechat:fake-1" in r.stderr


def test_declared_prices_are_used_and_a_cap_accepted(
    mentra: Any, fakechat: FakeChat, tmp_path: Path
) -> None:
    config = _config(tmp_path, "model: fakechat:fake-1\n" + fakechat.provider_yaml(extra=PRICED))
    r = mentra("run", "-c", str(config), "hi", "--ephemeral")
    assert r.code == 0, r.stderr
    # 100,000 input tokens at $1/M and 10 output tokens at $2/M
    assert r.events[-1]["cost_usd"] == pytest.approx(0.10002)
    # priced, so a cap is accepted (how a cap stops a run is the loop's, tested there)
    r = mentra("run", "-c", str(config), "hi", "--ephemeral", "--max-cost", "5")
    assert r.code == 0, r.stderr
    assert r.events[-1]["cost_usd"] == pytest.approx(0.10002)


def test_cost_for_with_declared_prices() -> None:
    from mentra.pricing import ModelPrice

    declared = {"m-1": ModelPrice(input=2.0, output=4.0, cached_input=1.0)}
    usage = Usage(input_tokens=1_000_000, cached_input_tokens=500_000, output_tokens=1_000_000)
    assert pricing.cost_for("mine", "m-1", usage, declared=declared) == pytest.approx(5.5)
    assert pricing.cost_for("mine", "m-1-20250101", usage, declared=declared) == pytest.approx(5.5)
    assert pricing.cost_for("mine", "other", usage, declared=declared) is None
    # a declared price wins over the table and over "free" local servers
    assert pricing.cost_for("ollama", "m-1", usage, declared=declared) == pytest.approx(5.5)
    assert pricing.cost_function(declared)("mine", "m-1", usage) == pytest.approx(5.5)
    pricing.require_price("mine", "m-1", declared, 1.0)
    pricing.require_price("scripted", "x.yaml", None, 1.0)
    pricing.require_price("mine", "other", declared, None)
    with pytest.raises(ConfigError, match="mine:other"):
        pricing.require_price("mine", "other", declared, 1.0)
