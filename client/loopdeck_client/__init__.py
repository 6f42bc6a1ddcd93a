"""Loopdeck's Python client: `Loopdeck(url, token)`; see client.py."""

from loopdeck_client.client import Loopdeck, LoopdeckError

__all__ = ["Loopdeck", "LoopdeckError"]
