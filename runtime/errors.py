"""Errors the runtime reports to its user in one line."""

from __future__ import annotations


class RuntimeUsageError(Exception):
    """The user asked for something invalid (bad spec, unknown image, bad option value): exit code 2."""


class ContainerError(Exception):
    """A step of starting the container failed (exit code 125, like Docker), or the container's
    command could not be run (126 not executable, 127 not found)."""

    def __init__(self, message: str, exit_code: int = 125) -> None:
        super().__init__(message)
        self.exit_code = exit_code
