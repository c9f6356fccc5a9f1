"""The context estimate counts an inline image as the providers do (a fixed ~1,600 tokens),
not as its base64 text: a screenshot must not look like half a million tokens."""

from __future__ import annotations

import base64

from mentra.context.estimate import IMAGE_TOKENS, TokenEstimator
from mentra.messages import ImageBlock, Message, TextBlock, ToolResultBlock

DATA = base64.b64encode(b"\x89PNG\r\n\x1a\n" + b"\x01" * 3_000_000).decode()


def test_an_inline_image_costs_a_fixed_amount() -> None:
    plain = Message(role="user", content=[TextBlock(text="look")])
    shot = Message(role="user", content=[TextBlock(text="look"), ImageBlock(data=DATA)])
    by_url = Message(
        role="user", content=[TextBlock(text="look"), ImageBlock(url="https://x/a.png")]
    )
    est = TokenEstimator()
    extra = est.estimate([shot], None) - est.estimate([plain], None)
    assert IMAGE_TOKENS <= extra < IMAGE_TOKENS + 50  # the block's JSON around it, not 1M
    assert est.estimate([by_url], None) - est.estimate([plain], None) < 50


def test_a_tool_results_images_and_a_tokenizer() -> None:
    result = ToolResultBlock(
        tool_use_id="c1", content="a screenshot", images=(ImageBlock(data=DATA),) * 2
    )
    message = Message(role="user", content=[result])
    assert TokenEstimator().estimate([message], None) < 2 * IMAGE_TOKENS + 100
    counted = TokenEstimator(count=len)  # a "tokenizer" of one token per character
    assert 2 * IMAGE_TOKENS <= counted.estimate([message], None) < 2 * IMAGE_TOKENS + 400
