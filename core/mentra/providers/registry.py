"""Builtin provider endpoints, user-declared ones, and how a `Provider` is built from them."""

from __future__ import annotations

from typing import TYPE_CHECKING, Literal

from pydantic import BaseModel, ConfigDict, Field

from mentra._duration import Duration
from mentra.errors import ConfigError
from mentra.pricing import ModelPrice
from mentra.providers.base import ModelInfo, Provider

if TYPE_CHECKING:
    import httpx

Wire = Literal["openai-responses", "openai-chat", "anthropic", "gemini", "scripted"]


class Timeouts(BaseModel):
    model_config = ConfigDict(extra="forbid")

    connect: Duration = 10.0
    idle: Duration = Field(120.0, description="longest silence inside a stream")


class Retries(BaseModel):
    model_config = ConfigDict(extra="forbid")

    max_attempts: int = Field(4, ge=1, le=20, description="attempts in all, the first included")
    base_delay: Duration = 0.5
    max_delay: Duration = 30.0
    max_retry_after: Duration = 60.0


class ProviderSettings(BaseModel):
    """One endpoint. For a builtin name, fields given override the builtin's."""

    model_config = ConfigDict(extra="forbid")

    wire: Wire | None = None
    base_url: str | None = None
    api_key_env: str | None = None
    headers: dict[str, str] = Field(default_factory=dict)
    timeouts: Timeouts = Field(default_factory=Timeouts)
    retries: Retries = Field(default_factory=Retries)
    prices: dict[str, ModelPrice] = Field(
        default_factory=dict,
        description="USD per million tokens by model id; over the shipped price table",
    )


BUILTIN_PROVIDERS: dict[str, ProviderSettings] = {
    "openai": ProviderSettings(
        wire="openai-responses", base_url="https://api.openai.com/v1", api_key_env="OPENAI_API_KEY"
    ),
    "openrouter": ProviderSettings(
        wire="openai-chat",
        base_url="https://openrouter.ai/api/v1",
        api_key_env="OPENROUTER_API_KEY",
    ),
    "anthropic": ProviderSettings(
        wire="anthropic", base_url="https://api.anthropic.com", api_key_env="ANTHROPIC_API_KEY"
    ),
    "gemini": ProviderSettings(
        wire="gemini",
        base_url="https://generativelanguage.googleapis.com",
        api_key_env="GEMINI_API_KEY",
    ),
    "ollama": ProviderSettings(wire="openai-chat", base_url="http://127.0.0.1:11434/v1"),
    "lmstudio": ProviderSettings(wire="openai-chat", base_url="http://127.0.0.1:1234/v1"),
    "scripted": ProviderSettings(wire="scripted"),
}


def effective_settings(
    name: str, declared: dict[str, ProviderSettings] | None = None
) -> ProviderSettings:
    """The builtin settings of ``name`` with any declared fields laid over them."""
    base = BUILTIN_PROVIDERS.get(name)
    override = (declared or {}).get(name)
    if base is None and override is None:
        known = ", ".join(sorted({*BUILTIN_PROVIDERS, *(declared or {})}))
        raise ConfigError(f"unknown provider {name!r} (known: {known})")
    if override is None:
        assert base is not None
        return base
    if base is None:
        if override.wire is None:
            raise ConfigError(f"provider {name!r} needs a `wire`")
        return override
    merged = base.model_dump()
    merged.update(override.model_dump(exclude_unset=True))
    return ProviderSettings.model_validate(merged)


def create_provider(
    name: str, settings: ProviderSettings, *, client: httpx.AsyncClient | None = None
) -> Provider:
    """Build the adapter for ``settings.wire``. Adapters (and httpx) are imported lazily, here,
    to keep start-up cheap. ``client`` injects an HTTP client (tests); by default each adapter
    builds one pooled client on first use. API keys are read from the environment per request.
    """
    wire = settings.wire
    if wire == "scripted":
        from mentra.providers.scripted import ScriptedProvider

        return ScriptedProvider(name=name)
    if not settings.base_url:
        raise ConfigError(f"provider {name!r} needs a `base_url`")
    if wire == "openai-responses":
        from mentra.providers.openai_responses import OpenAIResponsesProvider

        return OpenAIResponsesProvider(name, settings, client=client)
    if wire == "openai-chat":
        from mentra.providers.openai_chat import OpenAIChatProvider

        return OpenAIChatProvider(name, settings, client=client)
    if wire == "anthropic":
        from mentra.providers.anthropic import AnthropicProvider

        return AnthropicProvider(name, settings, client=client)
    if wire == "gemini":
        from mentra.providers.gemini import GeminiProvider

        return GeminiProvider(name, settings, client=client)
    raise ConfigError(f"provider {name!r}: wire {wire!r} is not available in this build")


def newest_model(models: list[ModelInfo]) -> ModelInfo | None:
    """The newest of ``models``, as the reference's ``NewestAvailable`` resolves it: the latest
    ``created`` wins; models without a date rank below dated ones, and ties (or no dates at all)
    go to the greatest id, which for date- or version-suffixed ids is the newest."""
    best: ModelInfo | None = None
    best_key: tuple[bool, float, str] | None = None
    for m in models:
        key = (m.created is not None, m.created.timestamp() if m.created else 0.0, m.id)
        if best_key is None or key > best_key:
            best, best_key = m, key
    return best
