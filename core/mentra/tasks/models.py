"""`TaskItem` and the inputs of the ``task_*`` tools, named as the reference names them.

Inputs are camelCase and refuse unknown fields, so a model that invents a field hears so
instead of having it silently dropped.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from mentra.errors import MentraError

TaskStatus = Literal["pending", "in_progress", "completed"]


class TaskBoardError(MentraError):
    """A board operation the graph rules refuse; the message goes back to the model."""


class _Input(BaseModel):
    model_config = ConfigDict(extra="forbid")


class TaskItem(BaseModel):
    """One work item. ``blockedBy`` and ``blocks`` are the two directions of one edge set."""

    model_config = ConfigDict(extra="forbid")

    id: int
    subject: str
    description: str = ""
    status: TaskStatus = "pending"
    blockedBy: list[int] = Field(default_factory=list)
    blocks: list[int] = Field(default_factory=list)
    owner: str | None = None
    workingDirectory: str | None = None


class TaskCreateArgs(_Input):
    subject: str = Field(min_length=1, description="a short imperative title")
    description: str | None = Field(None, description="what done means, details")
    owner: str | None = Field(None, description="who works on it (an agent name)")
    workingDirectory: str | None = Field(None, description="where the work happens")
    blockedBy: list[int] | None = Field(
        None, description="ids of tasks that must be completed before this one can start"
    )


class TaskUpdateArgs(_Input):
    taskId: int
    subject: str | None = Field(None, min_length=1)
    description: str | None = None
    owner: str | None = None
    workingDirectory: str | None = Field(None, description="null clears it")
    status: TaskStatus | None = Field(
        None, description="in_progress and completed are refused while the task is blocked"
    )
    addBlockedBy: list[int] | None = None
    removeBlockedBy: list[int] | None = None
    addBlocks: list[int] | None = None
    removeBlocks: list[int] | None = None


class TaskListArgs(_Input):
    pass


class TaskGetArgs(_Input):
    taskId: int
