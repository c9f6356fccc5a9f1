"""#14.4: a turn that committed nothing is not lost silently: `resume` names its prompt."""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

from tests.reliability.conftest import query

LOST = "Summarise the failing tests in tests/cli and propose a fix"


def _sql(store: Path, statement: str) -> None:
    con = sqlite3.connect(store)
    try:
        con.execute(statement)
        con.commit()
    finally:
        con.close()


def test_resume_names_a_prompt_that_was_never_stored(mentra: Any, tmp_path: Path) -> None:
    script = tmp_path / "s.yaml"
    script.write_text("turns:\n  - text: hello\n")
    store = tmp_path / "store.sqlite"
    common = ["-m", f"scripted:{script}", "--store", str(store)]
    assert mentra("run", "make the store", *common, cwd=tmp_path).code == 0
    # the store refuses transcript writes, as a full disk would: the prompt cannot be committed
    _sql(
        store,
        "CREATE TRIGGER full BEFORE INSERT ON transcript_items "
        "BEGIN SELECT RAISE(FAIL, 'database or disk is full'); END",
    )
    failed = mentra("run", LOST, *common, cwd=tmp_path)
    assert failed.code == 1, failed.stderr
    assert failed.events[-1]["type"] == "run_finished"
    agent_id = failed.events[0]["agent_id"]
    assert query(store, "SELECT count(*) FROM transcript_items WHERE agent_id = ?", agent_id) == [
        (0,)
    ]
    _sql(store, "DROP TRIGGER full")

    r = mentra("resume", agent_id, *common, cwd=tmp_path)
    assert r.code == 2, r.stderr
    assert r.stdout == ""
    assert "nothing to re-run (its last turn finished)" not in r.stderr
    assert "was not saved" in r.stderr and "give the prompt again" in r.stderr
    assert repr(LOST) in r.stderr and "disk is full" in r.stderr
    assert r.stderr.count("\n") == 1 and "Traceback" not in r.stderr

    again = mentra("resume", agent_id, LOST, *common, cwd=tmp_path)  # given again, it runs
    assert again.code == 0, again.stderr
    assert again.events[-1]["final_text"] == "hello"
    # a turn that did finish still says there is nothing to re-run
    r = mentra("resume", agent_id, *common, cwd=tmp_path)
    assert r.code == 2 and "nothing to re-run (its last turn finished)" in r.stderr, r.stderr


def test_a_long_lost_prompt_is_quoted_shortened(tmp_path: Path) -> None:
    from mentra.store.recovery import PROMPT_SHOWN, unsaved_prompt_message
    from mentra.store.sqlite import SQLiteStore
    from mentra.store.testing import make_agent, make_run

    with SQLiteStore(tmp_path / "s.sqlite") as store:
        store.create_agent(make_agent())
        assert unsaved_prompt_message(store, "a1b2c3") is None
        store.begin_run(make_run("r1", prompt="x" * 1000))  # killed before its prompt was stored
        message = unsaved_prompt_message(store, "a1b2c3")
        assert message is not None and "its process stopped" in message
        assert "x" * PROMPT_SHOWN + "…" in message and "x" * (PROMPT_SHOWN + 1) not in message
        assert unsaved_prompt_message(None, "a1b2c3") is None
