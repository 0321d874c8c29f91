"""The command line: thin click commands over the library API."""

from .main import main

__all__ = ["main"]
