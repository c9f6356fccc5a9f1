"""Provider settings: the endpoint model, its timeouts and retries, and the builtin endpoints.

A leaf module (pydantic, `mentra.errors` and the price model only), so the wire adapters,
the config loader and the agent loop can all read settings without importing the registry
that builds adapters.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from mentra._duration import Duration
from mentra.errors import ConfigError
from mentra.pricing import ModelPrice

Wire = Literal["openai-responses", "openai-chat", "anthropic", "gemini", "scripted"]


class Timeouts(BaseModel):
    model_config = ConfigDict(extra="forbid")

    connect: Duration = 10.0
    idle: Duration = Field(
        120.0, description="longest wait for the next data-bearing event (comments do not count)"
    )
    request: Duration = Field(
        600.0, description="longest one request may take in all, first byte to last event"
    )


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


__all__ = [
    "BUILTIN_PROVIDERS",
    "ProviderSettings",
    "Retries",
    "Timeouts",
    "Wire",
    "effective_settings",
]
