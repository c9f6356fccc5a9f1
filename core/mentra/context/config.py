"""The ``context:`` block of an agent config, and the context windows of known models.

A leaf (pydantic only): the config loader imports it at start-up, the compactor reads it.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field, model_validator

DEFAULT_WINDOW = 128_000
DEFAULT_COMPACT_AT = 0.8

# (model-name prefix, window in tokens), longest prefix first where two overlap; a model that
# matches none gets DEFAULT_WINDOW. Windows are the vendors' published input limits.
KNOWN_WINDOWS: tuple[tuple[str, int], ...] = (
    ("claude-", 200_000),
    ("gpt-4.1", 1_047_576),
    ("gpt-4o", 128_000),
    ("gpt-4-turbo", 128_000),
    ("gpt-5", 400_000),
    ("o1-mini", 128_000),
    ("o1", 200_000),
    ("o3", 200_000),
    ("o4-mini", 200_000),
    ("gemini-1.5-pro", 2_097_152),
    ("gemini-", 1_048_576),
)


def known_window(model: str) -> int:
    """The context window of ``model`` from the shipped table, else `DEFAULT_WINDOW`.

    A path-like or namespaced name (``openrouter``'s ``anthropic/claude-…``) is looked up by
    its last part."""
    name = model.rsplit("/", 1)[-1].lower()
    best: tuple[int, int] | None = None  # (prefix length, window)
    for prefix, window in KNOWN_WINDOWS:
        if name.startswith(prefix) and (best is None or len(prefix) > best[0]):
            best = (len(prefix), window)
    return best[1] if best is not None else DEFAULT_WINDOW


class ContextConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    window_tokens: int | None = Field(
        None, ge=1024, description="the model's context window; default from a table, else 128000"
    )
    compact_at: float | None = Field(
        None, gt=0, le=1, description="compact when a request passes this fraction of the window"
    )
    compact_threshold_tokens: int | None = Field(
        None, ge=1, description="or: compact when a request passes this many estimated tokens"
    )
    keep_recent_tool_results: int = Field(
        3, ge=0, description="tool results sent in full; older long ones are abbreviated (0: off)"
    )
    auto_compact: bool = Field(True, description="summarize older history past the threshold")

    @model_validator(mode="after")
    def _one_threshold(self) -> ContextConfig:
        if self.compact_at is not None and self.compact_threshold_tokens is not None:
            raise ValueError("give compact_at or compact_threshold_tokens, not both")
        return self

    def window(self, model: str) -> int:
        return self.window_tokens if self.window_tokens is not None else known_window(model)

    def threshold(self, model: str, compact_at: float | None = None) -> int:
        """Estimated tokens past which a request is compacted. ``compact_at`` (the
        ``--compact-at`` flag) replaces both config keys: at most 1 it is a fraction of the
        window, above 1 a number of tokens."""
        if compact_at is not None:
            if compact_at > 1:
                return int(compact_at)
            return max(1, int(self.window(model) * compact_at))
        if self.compact_threshold_tokens is not None:
            return self.compact_threshold_tokens
        fraction = self.compact_at if self.compact_at is not None else DEFAULT_COMPACT_AT
        return max(1, int(self.window(model) * fraction))
