"""`ToolServices`: typed fields tools read, and the old mapping view kept for older code."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from mentra.permissions.policy import RuntimePolicy
from mentra.tools.base import ToolContext
from mentra.tools.builtin.background import BackgroundRunTool, jobs_dir_for
from mentra.tools.large_results import results_dir_for
from mentra.tools.services import ToolServices


def test_tools_read_the_typed_fields(tmp_path: Path) -> None:
    services = ToolServices(jobs_dir=tmp_path / "jobs", results_dir=tmp_path / "results")
    assert jobs_dir_for(services) == tmp_path / "jobs" and (tmp_path / "jobs").is_dir()
    assert results_dir_for(services) == tmp_path / "results"
    ctx = ToolContext(policy=RuntimePolicy(working_dir=tmp_path), services=services)
    tool = BackgroundRunTool()
    started = asyncio.run(tool.run(tool.parse_input({"command": "true"}), ctx))
    assert not started.is_error, started.content
    assert len(list((tmp_path / "jobs").iterdir())) == 1  # the job went where the field says


def test_the_mapping_view_still_answers(tmp_path: Path) -> None:
    services = ToolServices(jobs_dir=tmp_path)
    assert services["jobs_dir"] == tmp_path and services.get("store") is None
    assert "jobs_dir" in services and "store" not in services
    with pytest.raises(KeyError):
        services["store"]
    services["memory"] = object()
    assert services.memory is not None and "memory" in services.as_dict()
    with pytest.raises(KeyError, match="no tool service 'nope'"):
        services["nope"] = 1


def test_a_context_given_the_old_mapping_gets_typed_services(tmp_path: Path) -> None:
    ctx = ToolContext(
        policy=RuntimePolicy(working_dir=tmp_path), services={"results_dir": tmp_path / "r"}
    )
    assert isinstance(ctx.services, ToolServices) and ctx.services.results_dir == tmp_path / "r"
    with pytest.raises(TypeError):
        ToolContext(policy=RuntimePolicy(working_dir=tmp_path), services={"nope": 1})
