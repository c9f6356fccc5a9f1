"""Every rule of the board, on the pure functions of `mentra.tasks.graph`."""

from __future__ import annotations

from typing import Any

import pytest

from mentra.tasks import graph
from mentra.tasks.models import TaskBoardError, TaskCreateArgs, TaskUpdateArgs


def _create(board: graph.Board, subject: str, **kw: Any) -> graph.Board:
    board, _ = graph.create(board, TaskCreateArgs(subject=subject, **kw))
    return board


def _update(board: graph.Board, **kw: Any) -> tuple[graph.Board, graph.UpdateResult]:
    return graph.update(board, TaskUpdateArgs.model_validate(kw))


def _chain() -> graph.Board:
    """1 blocks 2 blocks 3."""
    board = _create({}, "a")
    board = _create(board, "b", blockedBy=[1])
    return _create(board, "c", blockedBy=[2])


def test_ids_are_max_plus_one_even_after_a_gap() -> None:
    board = _create(_create({}, "a"), "b")
    assert sorted(board) == [1, 2]
    del board[1]
    assert max(_create(board, "c")) == 3
    board = {5: board[2].model_copy(update={"id": 5})}
    assert max(_create(board, "d")) == 6


def test_create_keeps_both_ends_of_each_edge_and_fills_defaults() -> None:
    board = _create({}, "a")
    board, result = graph.create(
        board, TaskCreateArgs(subject="b", blockedBy=[1, 1], owner="me", workingDirectory="src")
    )
    assert result.task.blockedBy == [1]  # duplicates kept once
    assert board[1].blocks == [2]
    assert result.task.model_dump() == {
        "id": 2,
        "subject": "b",
        "description": "",
        "status": "pending",
        "blockedBy": [1],
        "blocks": [],
        "owner": "me",
        "workingDirectory": "src",
    }
    assert sorted(result.changed) == [1, 2]


def test_create_with_an_unknown_blocker_is_refused_and_changes_nothing() -> None:
    board = _create({}, "a")
    with pytest.raises(TaskBoardError, match="no task with id 7"):
        graph.create(board, TaskCreateArgs(subject="b", blockedBy=[7]))
    assert sorted(board) == [1] and board[1].blocks == []


def test_self_edge_refused() -> None:
    board = _create({}, "a")
    with pytest.raises(TaskBoardError, match="cannot block itself"):
        _update(board, taskId=1, addBlockedBy=[1])
    with pytest.raises(TaskBoardError, match="cannot block itself"):
        _update(board, taskId=1, addBlocks=[1])


def test_cycles_refused_both_ways_and_the_board_is_unchanged() -> None:
    board = _chain()
    with pytest.raises(TaskBoardError, match=r"cycle \(1 blocks 2 blocks 3 blocks 1\)"):
        _update(board, taskId=1, addBlockedBy=[3])
    with pytest.raises(TaskBoardError, match="cycle"):
        _update(board, taskId=3, addBlocks=[1])
    with pytest.raises(TaskBoardError, match="cycle"):
        _update(board, taskId=2, addBlocks=[1])
    assert board == _chain()


def test_removing_an_edge_then_adding_the_reverse_is_no_cycle() -> None:
    board = _chain()
    board, _ = _update(board, taskId=2, removeBlockedBy=[1], addBlocks=[1])
    assert board[1].blockedBy == [2] and board[2].blocks == [3, 1] and board[1].blocks == []


def test_in_progress_and_completed_refused_while_blocked() -> None:
    board = _chain()
    for status in ("in_progress", "completed"):
        with pytest.raises(TaskBoardError, match=f"task 2 cannot be {status}.*blocked by 1"):
            _update(board, taskId=2, status=status)
    board, result = _update(board, taskId=2, status="pending")  # pending is always allowed
    assert result.task.status == "pending"


def test_completing_unblocks_dependents_and_reopening_reblocks_them() -> None:
    board = _chain()
    board, result = _update(board, taskId=1, status="completed")
    assert result.unblocked == [2] and result.reblocked == []
    board, result = _update(board, taskId=2, status="in_progress")
    assert result.unblocked == [] and result.task.status == "in_progress"
    board, result = _update(board, taskId=2, status="completed")
    assert result.unblocked == [3]
    board, result = _update(board, taskId=1, status="pending")  # reopen 1: 2 waits on it again
    assert result.reblocked == [2] and result.unblocked == []
    assert graph.listing(board)["blocked"] == []  # 2 is completed, 3 waits on a completed 2
    board, result = _update(board, taskId=2, status="pending")
    assert result.reblocked == [3] and result.unblocked == []
    assert graph.listing(board)["blocked"] == [2, 3]


def test_reopening_to_in_progress_is_reopening_too() -> None:
    board = _create({}, "a")
    board = _create(board, "b", blockedBy=[1])
    board, _ = _update(board, taskId=1, status="completed")
    board, result = _update(board, taskId=1, status="in_progress")
    assert result.reblocked == [2]


def test_adding_and_removing_edges_reports_what_changed_state() -> None:
    board = _create(_create({}, "a"), "b")
    board, result = _update(board, taskId=1, addBlocks=[2])
    assert result.reblocked == [2] and board[2].blockedBy == [1]
    board, result = _update(board, taskId=2, removeBlockedBy=[1])
    assert result.unblocked == [2] and board[1].blocks == [] and board[2].blockedBy == []
    board, result = _update(board, taskId=2, addBlockedBy=[1])
    board, result = _update(board, taskId=1, removeBlocks=[2])
    assert result.unblocked == [2]


def test_an_edge_from_a_completed_task_does_not_block() -> None:
    board = _create(_create({}, "a"), "b")
    board, _ = _update(board, taskId=1, status="completed")
    board, result = _update(board, taskId=2, addBlockedBy=[1], status="in_progress")
    assert result.task.status == "in_progress" and result.reblocked == []


def test_update_fields_and_null_clears_working_directory() -> None:
    board = _create({}, "a", workingDirectory="src", owner="x")
    board, result = _update(board, taskId=1, subject="A", description="d", owner="y")
    assert (result.task.subject, result.task.description, result.task.owner) == ("A", "d", "y")
    assert result.task.workingDirectory == "src"  # not given: kept
    board, result = _update(board, taskId=1, workingDirectory=None)
    assert result.task.workingDirectory is None and result.task.owner == "y"


def test_update_of_an_unknown_task_or_edge_is_refused_whole() -> None:
    board = _create({}, "a")
    with pytest.raises(TaskBoardError, match="no task with id 9"):
        _update(board, taskId=9, status="completed")
    with pytest.raises(TaskBoardError, match="addBlocks: no task with id 4"):
        _update(board, taskId=1, subject="changed", addBlocks=[4])
    assert board[1].subject == "a"


def test_a_refused_status_changes_nothing_else() -> None:
    board = _chain()
    with pytest.raises(TaskBoardError):
        _update(board, taskId=3, subject="new", status="completed")
    assert board == _chain()


def test_listing_groups_ids_by_state() -> None:
    board = _chain()
    board = _create(board, "d")
    board, _ = _update(board, taskId=1, status="completed")
    board, _ = _update(board, taskId=2, status="in_progress")
    listing = graph.listing(board)
    assert [t["id"] for t in listing["tasks"]] == [1, 2, 3, 4]
    assert listing["ready"] == [4]
    assert listing["blocked"] == [3]
    assert listing["inProgress"] == [2]
    assert listing["completed"] == [1]
    assert graph.unfinished(board)
    assert not graph.unfinished({1: board[1]})


def test_update_result_json_shape() -> None:
    board = _chain()
    _, result = _update(board, taskId=1, status="completed")
    out = result.to_json()
    assert set(out) == {"task", "unblocked", "reblocked"}
    assert out["task"]["blockedBy"] == [] and out["task"]["blocks"] == [2]


def test_find_cycle_on_a_hand_made_board() -> None:
    board = _chain()
    board[3].blocks.append(1)
    board[1].blockedBy.append(3)
    assert graph.find_cycle(board) == [1, 2, 3, 1]
    assert graph.find_cycle(_chain()) is None
