"""How a `Provider` is built from its settings; the one importer of the wire adapters.

The settings themselves live in the leaf module `mentra.providers.settings`, re-exported here.
"""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING

from mentra.errors import ConfigError
from mentra.providers.base import ModelInfo, Provider
from mentra.providers.settings import (
    BUILTIN_PROVIDERS,
    ProviderSettings,
    Retries,
    Timeouts,
    Wire,
    effective_settings,
)

if TYPE_CHECKING:
    from pathlib import Path

    import httpx


def _import_httpx() -> None:
    """Import httpx without its command-line tool. httpx imports ``httpx._main`` (click, rich
    and pygments) whenever click is installed, which many environments have; mentra never
    uses it, so the import is made to fail once and httpx falls back to its stub."""
    if "httpx" in sys.modules:
        return
    blocked = "httpx._main" not in sys.modules
    if blocked:
        sys.modules["httpx._main"] = None  # type: ignore[assignment]
    try:
        import httpx  # noqa: F401
    finally:
        if blocked and sys.modules.get("httpx._main", 0) is None:
            del sys.modules["httpx._main"]


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
    _import_httpx()
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


def check_script(path: Path) -> str | None:
    """Load and check the script at ``path`` (`ConfigError` if it cannot be read or is not a
    script); the model it names, if any. The scripted wire is imported here, as the others."""
    from mentra.providers.scripted import load_script

    return load_script(path).model


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


__all__ = [
    "BUILTIN_PROVIDERS",
    "ProviderSettings",
    "Retries",
    "Timeouts",
    "Wire",
    "create_provider",
    "effective_settings",
    "newest_model",
]
