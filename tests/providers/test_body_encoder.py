"""The request-body encoder: its bytes equal a plain encode of the whole body, whatever it
reuses from the previous request."""

from __future__ import annotations

import json
from typing import Any

import pytest

from mentra.messages import Message, TextBlock
from mentra.providers.base import BodyEncoder, dumps_compact, dumps_plain


def _items(message: Message) -> list[dict[str, Any]]:
    text = message.text
    if text.startswith("skip"):
        return []  # a message the wire does not carry (e.g. another provider's reasoning)
    return [{"role": message.role, "content": text}, {"n": len(text), "é": "ü\n"}]


class _Counting:
    def __init__(self) -> None:
        self.converted: list[Message] = []

    def __call__(self, message: Message) -> list[dict[str, Any]]:
        self.converted.append(message)
        return _items(message)


def _expected(body: dict[str, Any], head: list[dict[str, Any]], messages: list[Message]) -> bytes:
    full = dict(body)
    full["input"] = head + [item for m in messages for item in _items(m)]
    return dumps_compact(full).encode()


def _msg(text: str) -> Message:
    return Message(role="user", content=[TextBlock(text=text)])


BODY = {"model": "m", "input": [], "stream": True}


@pytest.mark.parametrize("head", [[], [{"role": "system", "content": "be brief"}]])
def test_growing_history_converts_only_new_messages(head: list[dict[str, Any]]) -> None:
    convert = _Counting()
    encoder = BodyEncoder(convert)
    history = [_msg("one"), _msg("skip me"), _msg("two")]
    assert encoder.encode(BODY, "input", history, head) == _expected(BODY, head, history)
    assert convert.converted == history

    convert.converted.clear()
    history += [_msg("three"), _msg("skip too")]
    assert encoder.encode(BODY, "input", history, head) == _expected(BODY, head, history)
    assert [m.text for m in convert.converted] == ["three", "skip too"]

    convert.converted.clear()  # nothing new: nothing converted, same bytes
    assert encoder.encode(BODY, "input", history, head) == _expected(BODY, head, history)
    assert convert.converted == []


def test_rewritten_or_shorter_history_is_encoded_afresh() -> None:
    convert = _Counting()
    encoder = BodyEncoder(convert)
    history = [_msg("a"), _msg("b"), _msg("c")]
    encoder.encode(BODY, "input", history)

    rewritten = [_msg("summary"), history[2]]  # e.g. compaction replaced the head
    assert encoder.encode(BODY, "input", rewritten) == _expected(BODY, [], rewritten)
    shorter = rewritten[:1]
    convert.converted.clear()
    assert encoder.encode(BODY, "input", shorter) == _expected(BODY, [], shorter)
    assert convert.converted == shorter  # a prefix of the last history, but re-encoded safely
    equal_not_same = [_msg("summary")]  # equal content, other objects: never trusted
    convert.converted.clear()
    assert encoder.encode(BODY, "input", equal_not_same) == _expected(BODY, [], equal_not_same)
    assert convert.converted == equal_not_same


def test_empty_histories() -> None:
    encoder = BodyEncoder(_items)
    assert json.loads(encoder.encode(BODY, "input", [])) == BODY
    only_skipped = [_msg("skip"), _msg("skip 2")]
    assert encoder.encode(BODY, "input", only_skipped) == _expected(BODY, [], only_skipped)
    grown = [*only_skipped, _msg("x")]
    assert encoder.encode(BODY, "input", grown) == _expected(BODY, [], grown)


@pytest.mark.parametrize(
    "value",
    [
        {},
        {"path": "src/m.py", "n": 3, "ok": True, "none": None},
        {"nested": {"list": [1, 2.5, -0.0, 1e100, "x"]}, "unicode": "é ü 漢 \u2028", "q": '"\\'},
        {"emoji": "\U0001f600", "ctrl": "\x00\x1f\n\t"},
    ],
)
def test_dumps_plain_is_json_dumps(value: dict[str, Any]) -> None:
    assert dumps_plain(value) == json.dumps(value)


def _mark(items: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [*items[:-1], {**items[-1], "mark": True}] if items else items


def _expected_marked(messages: list[Message], marked: tuple[int, ...]) -> bytes:
    full = dict(BODY)
    full["input"] = [
        item
        for i, m in enumerate(messages)
        for item in (_mark(_items(m)) if i in marked else _items(m))
    ]
    return dumps_compact(full).encode()


def test_marks_apply_to_one_request_and_never_to_what_is_reused() -> None:
    """Breakpoints move with the newest messages: the encoder reuses only the unmarked part
    before the first mark, so an old mark never reappears in a later request."""
    convert = _Counting()
    encoder = BodyEncoder(convert, _mark)
    history = [_msg("one"), _msg("two"), _msg("three")]
    for _ in range(4):
        marked = (len(history) - 3, len(history) - 1)
        sent = encoder.encode(BODY, "input", history, marked=marked)
        assert sent == _expected_marked(history, marked)
        assert sent.count(b'"mark":true') == 2
        history += [_msg(f"reply {len(history)}"), _msg(f"result {len(history)}")]
    convert.converted.clear()
    marked = (len(history) - 3, len(history) - 1)
    assert encoder.encode(BODY, "input", history, marked=marked) == _expected_marked(
        history, marked
    )
    # the 2 new messages and the 3 that were the last request's marked tail, whatever the length
    assert [m.text for m in convert.converted] == [m.text for m in history[-5:]]
    rewritten = [_msg("summary"), *history[-2:]]  # a compaction: the marks sit on its end
    assert encoder.encode(BODY, "input", rewritten, marked=(0, 2)) == _expected_marked(
        rewritten, (0, 2)
    )
    skipped_last = [*rewritten, _msg("skip me")]  # a mark on a message with no items: nothing
    assert encoder.encode(BODY, "input", skipped_last, marked=(3,)) == _expected_marked(
        skipped_last, (3,)
    )
