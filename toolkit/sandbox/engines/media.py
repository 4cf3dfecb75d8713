"""The sandbox checks media type by magic bytes exactly as the client's preflight does (one implementation)."""

from ...media import sniff

__all__ = ["sniff"]
