"""The ``memory:`` block of an agent config."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field


class MemoryConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    enabled: bool = Field(True, description="the memory tools and episode ingest")
    scope: Literal["agent", "workspace"] = Field(
        "agent", description="agent: its own records; workspace: every agent's of this workspace"
    )
    auto_recall: bool = Field(True, description="search with the prompt before the first request")
    recall_limit: int = Field(3, ge=0, le=10, description="records auto-recall adds at most")
    recall_chars: int = Field(2000, ge=0, description="characters auto-recall adds at most")
    write_tools: bool = Field(True, description="false hides memory_pin and memory_forget")
