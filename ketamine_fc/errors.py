"""User-facing errors: one clear sentence naming the file and the problem."""

from __future__ import annotations


class KetamineFCError(Exception):
    """Base class for errors caused by the user's input, shown without a traceback."""

    def __init__(self, message: str, path=None):
        self.path = None if path is None else str(path)
        super().__init__(f"{self.path}: {message}" if self.path else message)


class InputError(KetamineFCError, ValueError):
    """An input file or table is missing, malformed or inconsistent."""


class AtlasError(KetamineFCError, FileNotFoundError):
    """An atlas file cannot be found or does not match its registered checksum."""
