"""Parsing stored messages: the bulk parse pauses the collector and always restores it."""

from __future__ import annotations

import gc

import pytest
from pydantic import ValidationError

from mentra.messages import Message, TextBlock, ToolUseBlock, parse_messages_json


def test_parse_messages_json_round_trips() -> None:
    messages = [
        Message.user_text("hi"),
        Message(role="assistant", content=[ToolUseBlock(id="c1", name="files", input={"a": 1})]),
    ]
    text = "[" + ",".join(m.model_dump_json() for m in messages) + "]"
    assert parse_messages_json(text) == messages
    assert isinstance(parse_messages_json(text)[0].content[0], TextBlock)


@pytest.mark.parametrize("enabled", [True, False])
def test_collector_state_is_restored_even_on_error(enabled: bool) -> None:
    was = gc.isenabled()
    try:
        (gc.enable if enabled else gc.disable)()
        parse_messages_json('[{"role":"user","content":[]}]')
        assert gc.isenabled() is enabled
        with pytest.raises(ValidationError):
            parse_messages_json('[{"role":"robot","content":[]}]')
        assert gc.isenabled() is enabled
    finally:
        (gc.enable if was else gc.disable)()
