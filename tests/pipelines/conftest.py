"""Real `mentra` processes (the helpers of tests/cli) and fake Chat Completions servers."""

from tests.cli.conftest import mentra
from tests.config.fakechat import fakechat
from tests.pipelines.fakeserver import rules

__all__ = ["fakechat", "mentra", "rules"]
