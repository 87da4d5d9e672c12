"""Exceptions raised by the sandbox. Every one carries a message that says what to fix."""

from __future__ import annotations


class SandboxError(Exception):
    """Base class for every error the sandbox raises."""


class LimitsError(SandboxError, ValueError):
    """A limit is malformed or out of range (e.g. ``memory="12Q"``)."""


class RuntimeUnavailable(SandboxError):
    """No usable OCI runtime binary (runsc or runc) was found, or the one asked for is missing."""


class SandboxRefused(SandboxError):
    """The sandbox could not prove its limits are in force, so the bot was not allowed to run."""


class BotNotFound(SandboxError):
    """The bot path is missing, unreadable for the sandbox user, or a folder without ``main.py``."""


class ProtocolError(SandboxError):
    """A line on the JSON-lines channel was rejected. ``code`` is machine readable."""

    LINE_TOO_LONG = "LINE_TOO_LONG"
    INVALID_UTF8 = "INVALID_UTF8"
    INVALID_JSON = "INVALID_JSON"
    NOT_AN_OBJECT = "NOT_AN_OBJECT"
    CLOSED = "CLOSED"
    TIMEOUT = "TIMEOUT"
    NOT_SERIALIZABLE = "NOT_SERIALIZABLE"

    def __init__(self, code: str, message: str) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message
