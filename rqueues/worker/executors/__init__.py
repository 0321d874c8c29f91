"""Executors run claimed jobs on slots and report each outcome; one per file."""

from .thread import ThreadExecutor

__all__ = ["ThreadExecutor"]
