"""`--var` values are literal text: `${VAR}` is expanded in the file as written, never in what
a `--var` brought in, on the first run and on a resume."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path
from typing import Any

from mentra.config import load_agent_config
from tests.config.fakechat import FakeChat

SECRET = "sk-supersecret-999"


def test_var_value_is_not_expanded(tmp_path: Path, monkeypatch: Any) -> None:
    monkeypatch.setenv("FAKE_KEY", SECRET)
    monkeypatch.setenv("WHO_ENV", "{{other}}")
    path = tmp_path / "agent.yaml"
    path.write_text("system: 'hello {{who}} from ${WHO_ENV}'\n", encoding="utf-8")
    loaded, _ = load_agent_config(path, variables={"who": "${FAKE_KEY}", "other": "x"})
    # neither substitution is scanned again: the env value keeps its braces too
    assert loaded.config.system == "hello ${FAKE_KEY} from {{other}}"
    assert SECRET not in json.dumps(loaded.raw)


def test_var_secret_never_reaches_provider_events_or_store(
    mentra: Any, fakechat: FakeChat, tmp_path: Path
) -> None:
    config = tmp_path / "agent.yaml"
    config.write_text(
        "model: fakechat:fake-1\nsystem: 'hello {{who}}'\n" + fakechat.provider_yaml(),
        encoding="utf-8",
    )
    store = tmp_path / "s.sqlite"
    env = {"FAKE_KEY": SECRET}
    r = mentra(
        "run", "-c", str(config), "hi", "--var", "who=${FAKE_KEY}", "--store", str(store), env=env
    )
    assert r.code == 0, r.stderr
    assert SECRET not in r.stdout and SECRET not in r.stderr
    sent = json.dumps(fakechat.requests)
    assert SECRET not in sent
    assert fakechat.requests[0]["messages"][0]["content"] == "hello ${FAKE_KEY}"
    agent_id = r.events[0]["agent_id"]
    with sqlite3.connect(store) as db:
        dump = "\n".join(db.iterdump())
    assert SECRET not in dump
    # a resume rebuilds the config from the store in a new process: still literal
    r = mentra("resume", agent_id, "again", "--store", str(store), env=env)
    assert r.code == 0, r.stderr
    assert len(fakechat.requests) == 2
    assert SECRET not in json.dumps(fakechat.requests[1])
    assert fakechat.requests[1]["messages"][0]["content"] == "hello ${FAKE_KEY}"
