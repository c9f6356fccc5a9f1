"""Fixtures of the public-API tests: a real HTTP server on 127.0.0.1 for providers."""

from tests.providers.harness import _api_key, tcp

__all__ = ["_api_key", "tcp"]
