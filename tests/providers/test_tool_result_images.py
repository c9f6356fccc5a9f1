"""Tool-result images on each wire's request body (the process test in tests/mcp sends them
over HTTP), and through the store: a resumed agent sends them again."""

from __future__ import annotations

from mentra.messages import (
    ImageBlock,
    Message,
    TextBlock,
    ToolResultBlock,
    ToolUseBlock,
    parse_messages_json,
)
from mentra.providers import anthropic, gemini, openai_chat, openai_responses
from mentra.providers.base import ModelRequest

PNG = ImageBlock(media_type="image/png", data="iVBORw0KGgoAAAA")


def request(*results: ToolResultBlock) -> ModelRequest:
    call = Message(role="assistant", content=[ToolUseBlock(id="c1", name="shot", input={})])
    done = Message(role="user", content=[*results, TextBlock(text="a note")])
    return ModelRequest(model="m", messages=[Message.user_text("go"), call, done])


def test_a_result_without_images_is_sent_as_before() -> None:
    plain = ToolResultBlock(tool_use_id="c1", content="ok")
    assert plain.model_dump() == {
        "type": "tool_result",
        "tool_use_id": "c1",
        "content": "ok",
        "is_error": False,
    }
    body = anthropic.to_request_body(request(plain))
    assert body["messages"][-1]["content"][0]["content"] == "ok"
    out = openai_responses.to_request_body(request(plain))["input"]
    assert next(i for i in out if i.get("type") == "function_call_output")["output"] == "ok"
    chat = openai_chat.to_messages(request(plain))
    assert [m["role"] for m in chat[-2:]] == ["tool", "user"]
    assert chat[-1]["content"] == "a note"


def test_each_wire_sends_the_images_as_its_api_takes_them() -> None:
    shot = ToolResultBlock(tool_use_id="c1", content="[image]", images=(PNG,))
    content = anthropic.to_request_body(request(shot))["messages"][-1]["content"][0]["content"]
    assert content[0] == {"type": "text", "text": "[image]"}
    assert content[1]["source"] == {"type": "base64", "media_type": "image/png", "data": PNG.data}
    # Anthropic refuses empty text blocks: an image-only result has none
    bare = ToolResultBlock(tool_use_id="c1", content="", images=(PNG,))
    only = anthropic.to_request_body(request(bare))["messages"][-1]["content"][0]["content"]
    assert [b["type"] for b in only] == ["image"]

    out = openai_responses.to_request_body(request(shot))["input"]
    output = next(i for i in out if i.get("type") == "function_call_output")["output"]
    assert output[0] == {"type": "input_text", "text": "[image]"}
    assert output[1]["image_url"] == f"data:image/png;base64,{PNG.data}"

    chat = openai_chat.to_messages(request(shot))
    assert chat[-2] == {"role": "tool", "tool_call_id": "c1", "content": "[image]"}
    user = chat[-1]
    assert user["role"] == "user"
    assert [p["type"] for p in user["content"]] == ["text", "image_url", "text"]
    assert "c1" in user["content"][0]["text"]
    assert user["content"][1]["image_url"]["url"] == f"data:image/png;base64,{PNG.data}"

    parts = gemini.to_request_body(request(shot))["contents"][-1]["parts"]
    assert "functionResponse" in parts[0]
    assert parts[1] == {"inlineData": {"mimeType": "image/png", "data": PNG.data}}
    assert parts[2] == {"text": "a note"}


def test_images_survive_the_stored_json() -> None:
    """The store keeps messages as ``model_dump_json`` and reads them with
    `parse_messages_json`: a resumed agent sends the images again."""
    shot = ToolResultBlock(tool_use_id="c1", content="[image]", images=(PNG,))
    stored = Message(role="user", content=[shot]).model_dump_json()
    (back,) = parse_messages_json("[" + stored + "]")
    assert back.content[0] == shot
