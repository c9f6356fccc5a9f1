"""Real `mentra` processes, with the helpers of tests/cli."""

from tests.cli.conftest import mentra

__all__ = ["mentra"]
