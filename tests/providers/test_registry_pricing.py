"""Building providers, listing and resolving models, and pricing usage."""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import pytest

from mentra import pricing
from mentra.errors import ConfigError
from mentra.messages import Usage
from mentra.providers.base import ModelInfo
from mentra.providers.registry import (
    BUILTIN_PROVIDERS,
    ProviderSettings,
    create_provider,
    effective_settings,
    newest_model,
)
from providers.harness import Harness, Reply


def test_every_builtin_builds() -> None:
    for name, settings in BUILTIN_PROVIDERS.items():
        provider = create_provider(name, settings)
        assert provider.name == name


def test_declared_endpoint_needs_a_base_url() -> None:
    with pytest.raises(ConfigError, match="base_url"):
        create_provider("x", ProviderSettings(wire="openai-chat"))


def test_override_keeps_the_builtin_wire() -> None:
    s = effective_settings("openai", {"openai": ProviderSettings(base_url="http://127.0.0.1:1/v1")})
    assert s.wire == "openai-responses"
    assert s.api_key_env == "OPENAI_API_KEY"


def test_import_mentra_stays_light() -> None:
    code = (
        "import sys, mentra, mentra.providers.registry, mentra.pricing;"
        "bad = [m for m in ('httpx', 'mentra.providers.anthropic', 'mentra.providers._http')"
        " if m in sys.modules]; print(bad)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def _m(id: str, created: datetime | None = None) -> ModelInfo:
    return ModelInfo(id=id, provider="p", created=created)


def test_newest_model() -> None:
    assert newest_model([]) is None
    old, new = datetime(2024, 1, 1, tzinfo=UTC), datetime(2025, 6, 1, tzinfo=UTC)
    models = [_m("zeta", old), _m("alpha", new), _m("undated-z")]
    assert newest_model(models) == _m("alpha", new)
    assert newest_model([_m("b", new), _m("c", new), _m("a", new)]) == _m("c", new)
    assert newest_model([_m("gemini-2.0-flash"), _m("gemini-2.5-pro")]) == _m("gemini-2.5-pro")


async def test_openai_models(harness: Harness) -> None:
    harness.queue(
        Reply.json(
            {
                "object": "list",
                "data": [
                    {"id": "gpt-4o", "object": "model", "created": 1715367049, "owned_by": "x"},
                    {"id": "gpt-5", "object": "model", "created": 1754425777, "owned_by": "x"},
                ],
            }
        )
    )
    provider = harness.provider("openai-responses", root="/v1")
    models = await provider.list_models()
    await provider.aclose()
    assert [m.id for m in models] == ["gpt-4o", "gpt-5"]
    assert models[1].created == datetime.fromtimestamp(1754425777, UTC)
    assert newest_model(models) == models[1]
    assert harness.requests[0].path == "/v1/models"


async def test_anthropic_models_page(harness: Harness) -> None:
    page = {
        "data": [
            {
                "type": "model",
                "id": "claude-sonnet-4-5-20250929",
                "display_name": "Claude Sonnet 4.5",
                "created_at": "2025-09-29T00:00:00Z",
            }
        ],
        "has_more": True,
        "first_id": "claude-sonnet-4-5-20250929",
        "last_id": "claude-sonnet-4-5-20250929",
    }
    last = {
        "data": [
            {
                "type": "model",
                "id": "claude-3-5-haiku-20241022",
                "display_name": "Claude Haiku 3.5",
                "created_at": "2024-10-22T00:00:00Z",
            }
        ],
        "has_more": False,
        "first_id": "claude-3-5-haiku-20241022",
        "last_id": "claude-3-5-haiku-20241022",
    }
    harness.queue(Reply.json(page), Reply.json(last))
    provider = harness.provider("anthropic")
    models = await provider.list_models()
    await provider.aclose()
    assert [m.id for m in models] == ["claude-sonnet-4-5-20250929", "claude-3-5-haiku-20241022"]
    assert models[0].display_name == "Claude Sonnet 4.5"
    assert models[0].created == datetime(2025, 9, 29, tzinfo=UTC)
    assert harness.requests[1].query == {"limit": "1000", "after_id": "claude-sonnet-4-5-20250929"}
    assert harness.requests[0].headers["anthropic-version"] == "2023-06-01"


async def test_gemini_models_page(harness: Harness) -> None:
    first = {
        "models": [
            {
                "name": "models/gemini-2.5-pro",
                "displayName": "Gemini 2.5 Pro",
                "supportedGenerationMethods": ["generateContent", "countTokens"],
            },
            {"name": "models/text-embedding-004", "supportedGenerationMethods": ["embedContent"]},
        ],
        "nextPageToken": "tok2",
    }
    second = {"models": [{"name": "models/gemini-2.5-flash"}]}
    harness.queue(Reply.json(first), Reply.json(second))
    provider = harness.provider("gemini")
    models = await provider.list_models()
    await provider.aclose()
    assert [m.id for m in models] == ["gemini-2.5-pro", "gemini-2.5-flash"]
    assert harness.requests[0].path == "/v1beta/models"
    assert harness.requests[1].query == {"pageSize": "1000", "pageToken": "tok2"}


# -- pricing ---------------------------------------------------------------------------------


@pytest.fixture(autouse=True)
def _fresh_prices() -> None:
    pricing.reset_cache()


def test_shipped_table_prices_usage() -> None:
    usage = Usage(input_tokens=1_000_000, output_tokens=1_000_000)
    assert pricing.cost_for("openai", "gpt-4o", usage) == pytest.approx(12.5)
    assert pricing.cost_for("openai", "gpt-4o-2024-08-06", usage) == pytest.approx(12.5)
    cached = Usage(input_tokens=1_000_000, cached_input_tokens=1_000_000)
    assert pricing.cost_for("openai", "gpt-4o", cached) == pytest.approx(1.25)


def test_anthropic_cache_reads_and_writes() -> None:
    usage = Usage(
        input_tokens=32_012, cached_input_tokens=30_000, cache_write_tokens=2_000, output_tokens=25
    )
    expected = (12 * 3.0 + 30_000 * 0.3 + 2_000 * 3.75 + 25 * 15.0) / 1e6
    cost = pricing.cost_for("anthropic", "claude-sonnet-4-5-20250929", usage)
    assert cost == pytest.approx(expected)


def test_anthropic_long_context_tier_prices_cache_reads_and_writes() -> None:
    """Sonnet 4/4.5 prompts over 200K tokens (the 1M-context beta) cost 2x input, 1.5x output,
    and the cache rates scale with them (0.1x and 1.25x of the long-context input)."""
    usage = Usage(
        input_tokens=300_000,
        cached_input_tokens=250_000,
        cache_write_tokens=40_000,
        output_tokens=1_000,
    )
    expected = (10_000 * 6.0 + 250_000 * 0.6 + 40_000 * 7.5 + 1_000 * 22.5) / 1e6
    assert pricing.cost_for("anthropic", "claude-sonnet-4-5", usage) == pytest.approx(expected)
    small = Usage(input_tokens=200_000, cached_input_tokens=150_000)
    assert pricing.cost_for("anthropic", "claude-sonnet-4", small) == pytest.approx(
        (50_000 * 3.0 + 150_000 * 0.3) / 1e6
    )


def test_long_context_tier() -> None:
    small = pricing.cost_for("gemini", "gemini-2.5-pro", Usage(input_tokens=100_000))
    large = pricing.cost_for("gemini", "gemini-2.5-pro", Usage(input_tokens=300_000))
    assert small == pytest.approx(0.125)
    assert large == pytest.approx(0.75)


def test_unknown_free_and_openrouter() -> None:
    usage = Usage(input_tokens=10, output_tokens=10)
    assert pricing.cost_for("openai", "gpt-99", usage) is None
    assert pricing.cost_for("my-vllm", "llama", usage) is None
    assert pricing.cost_for("ollama", "llama3", usage) == 0.0
    assert pricing.cost_for("lmstudio", "qwen", usage) == 0.0
    assert pricing.cost_for("scripted", "x.yaml", usage) == 0.0
    big = Usage(input_tokens=1_000_000)
    within = Usage(input_tokens=100_000)  # under Sonnet's 200K long-context tier
    assert pricing.cost_for("openrouter", "anthropic/claude-sonnet-4.5", within) == pytest.approx(
        0.3
    )
    assert pricing.cost_for("openrouter", "openai/gpt-4o", big) == pytest.approx(2.5)


def test_user_overrides(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    config_dir = tmp_path / "conf"
    config_dir.mkdir()
    monkeypatch.setenv("MENTRA_CONFIG_DIR", str(config_dir))
    (config_dir / "prices.json").write_text(
        json.dumps({"providers": {"my-vllm": {"llama": {"input": 1.0, "output": 2.0}}}})
    )
    env_file = tmp_path / "env.json"
    env_file.write_text(
        json.dumps({"providers": {"openai": {"gpt-4o": {"input": 0, "output": 0}}}})
    )
    monkeypatch.setenv("MENTRA_PRICES", str(env_file))
    usage = Usage(input_tokens=1_000_000, output_tokens=1_000_000)
    assert pricing.cost_for("my-vllm", "llama", usage) == pytest.approx(3.0)
    assert pricing.cost_for("openai", "gpt-4o", usage) == 0.0
    assert pricing.cost_for("openai", "gpt-4.1", usage) == pytest.approx(10.0)  # shipped, kept


def test_missing_or_broken_override_is_a_config_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MENTRA_PRICES", str(tmp_path / "nope.json"))
    with pytest.raises(ConfigError, match="MENTRA_PRICES"):
        pricing.cost_for("openai", "gpt-4o", Usage())
    pricing.reset_cache()
    bad = tmp_path / "bad.json"
    bad.write_text("{")
    monkeypatch.setenv("MENTRA_PRICES", str(bad))
    with pytest.raises(ConfigError, match=r"bad\.json"):
        pricing.cost_for("openai", "gpt-4o", Usage())


def test_shipped_table_is_well_formed() -> None:
    table = pricing.price_table()
    assert {"openai", "anthropic", "gemini"} <= set(table)
    for models in table.values():
        for price in models.values():
            assert price["input"] >= 0 and price["output"] >= 0
            assert price.get("cached_input", 0) <= price["input"]
