"""Real `mentra` processes for the config tests (the helpers of tests/cli)."""

from tests.cli.conftest import mentra

__all__ = ["mentra"]
