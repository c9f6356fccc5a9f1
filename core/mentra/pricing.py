"""Turns normalised usage into dollars from a shipped price table (``data/prices.json``).

The table is per million tokens, by provider then model id. A user table, named by the
``MENTRA_PRICES`` environment variable or found at ``prices.json`` in the user config directory
(``$MENTRA_CONFIG_DIR``, else ``$XDG_CONFIG_HOME/mentra``, else ``~/.config/mentra``), is laid over
it model by model (same shape). Dated snapshots (``claude-sonnet-4-5-20250929``,
``gpt-4o-2024-08-06``) are priced as their base model. OpenRouter ids (``openai/gpt-5``) are
priced from the upstream vendor's table unless the user table lists them.

An agent config may price models itself, per provider (``providers.NAME.prices.MODEL``, the same
fields per million tokens); those prices come first.

Unknown models cost ``None``, never a made-up number; local servers (ollama, lmstudio) and the
scripted provider cost 0. A cost cap on a model with no price is refused before the run starts
(`require_price`): a cap that can never apply is no cap. The JSON is loaded once, on first use.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from mentra.errors import ConfigError
from mentra.messages import Usage

FREE_PROVIDERS = frozenset({"scripted", "ollama", "lmstudio"})
_SHIPPED = Path(__file__).parent / "data" / "prices.json"
_SNAPSHOT = re.compile(r"-(\d{8}|\d{4}-\d{2}-\d{2}|latest)$")
_OPENROUTER_VENDORS = {"openai": "openai", "anthropic": "anthropic", "google": "gemini"}

Prices = dict[str, dict[str, dict[str, Any]]]
_table: Prices | None = None


class ModelPrice(BaseModel):
    """USD per million tokens, as declared under ``providers.NAME.prices.MODEL``."""

    model_config = ConfigDict(extra="forbid")

    input: float = Field(ge=0, description="uncached prompt tokens")
    output: float = Field(ge=0)
    cached_input: float | None = Field(None, ge=0, description="cache reads (default: input)")
    cache_write: float | None = Field(None, ge=0, description="cache writes (default: input)")


Declared = Mapping[str, ModelPrice]


def _read(path: Path) -> Prices:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        providers = data["providers"]
        if not isinstance(providers, dict):
            raise TypeError("`providers` must be a mapping")
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise ConfigError(f"price table {path}: {exc}") from exc
    return providers


def user_price_files() -> list[tuple[Path, bool]]:
    """Override files, lowest precedence first, each with whether it must exist."""
    base = os.environ.get("MENTRA_CONFIG_DIR")
    xdg = os.environ.get("XDG_CONFIG_HOME")
    if base:
        config_dir = Path(base)
    else:
        config_dir = Path(xdg) / "mentra" if xdg else Path.home() / ".config" / "mentra"
    files = [(config_dir / "prices.json", False)]
    env = os.environ.get("MENTRA_PRICES")
    if env:
        files.append((Path(env).expanduser(), True))
    return files


def price_table() -> Prices:
    """The shipped table with the user's overrides merged in (loaded once)."""
    global _table
    if _table is None:
        table = _read(_SHIPPED)
        for path, required in user_price_files():
            if not path.is_file():
                if required:
                    raise ConfigError(f"MENTRA_PRICES names a missing file: {path}")
                continue
            for provider, models in _read(path).items():
                table.setdefault(provider, {}).update(models)
        _table = table
    return _table


def reset_cache() -> None:
    """Forget the loaded table (tests, or after editing an override file)."""
    global _table
    _table = None


def price_for(provider: str, model: str, declared: Declared | None = None) -> dict[str, Any] | None:
    """The price of ``provider:model``: declared in the config first, then the table."""
    if declared:
        name = model.removeprefix("models/")
        found = declared.get(name) or declared.get(_SNAPSHOT.sub("", name))
        if found is not None:
            return found.model_dump(exclude_none=True)
    table = price_table()
    candidates = [(provider, model)]
    if provider == "openrouter" and "/" in model:
        vendor, _, rest = model.partition("/")
        upstream = _OPENROUTER_VENDORS.get(vendor)
        if upstream is not None:
            rest = rest.split(":")[0]  # ":free", ":nitro" variants
            if upstream == "anthropic":
                rest = rest.replace(".", "-")
            candidates.append((upstream, rest))
    for prov, name in candidates:
        models = table.get(prov)
        if not models:
            continue
        name = name.removeprefix("models/")
        price = models.get(name)
        if price is None:
            price = models.get(_SNAPSHOT.sub("", name))
        if price is not None:
            return price
    return None


def cost_for(
    provider: str, model: str, usage: Usage, *, declared: Declared | None = None
) -> float | None:
    """Price of ``usage`` on ``provider:model`` in USD, or None when the price is unknown."""
    price = price_for(provider, model, declared) if declared else None
    if price is None:
        if provider in FREE_PROVIDERS:
            return 0.0
        price = price_for(provider, model)
    if price is None:
        return None
    tier = price.get("long_context")
    if isinstance(tier, dict) and usage.input_tokens > tier.get("above", float("inf")):
        price = {**price, **tier}
    input_price = float(price["input"])
    cached = usage.cached_input_tokens
    written = usage.cache_write_tokens
    uncached = max(0, usage.input_tokens - cached - written)
    total = (
        uncached * input_price
        + cached * float(price.get("cached_input", input_price))
        + written * float(price.get("cache_write", input_price))
        + usage.output_tokens * float(price["output"])
    )
    return round(total / 1_000_000, 10)


def cost_function(declared: Declared | None) -> Callable[[str, str, Usage], float | None]:
    """`cost_for` with a config's declared prices bound in (the loop's ``cost_fn``)."""
    if not declared:
        return cost_for

    def cost(provider: str, model: str, usage: Usage) -> float | None:
        return cost_for(provider, model, usage, declared=declared)

    return cost


def require_price(provider: str, model: str, declared: Declared | None, cap: float | None) -> None:
    """Refuse a cost cap that could never apply: ``provider:model`` has no known price."""
    if cap is None or provider in FREE_PROVIDERS:
        return
    if price_for(provider, model, declared) is not None:
        return
    raise ConfigError(
        f"a cost cap (--max-cost / limits.max_cost_usd) needs a price for {provider}:{model}, "
        f"and none is known: declare one in the agent config (providers: {{{provider}: "
        f"{{prices: {{{model}: {{input: USD, output: USD}}}}}}}}, per million tokens) or in a "
        f"prices file (MENTRA_PRICES=file.json)"
    )
