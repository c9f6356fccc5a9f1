"""Fixtures of the provider tests; the harness itself lives in `harness.py`."""

from providers.harness import _api_key, harness, tcp

__all__ = ["_api_key", "harness", "tcp"]
