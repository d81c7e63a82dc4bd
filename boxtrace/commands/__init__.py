"""The subcommands of ``boxtrace``, one module each, in the order ``boxtrace --help`` lists them."""

from __future__ import annotations

from types import ModuleType

from boxtrace.commands import explain, export, images, lessons, replay, rmi, run, serve, trace

COMMANDS: tuple[ModuleType, ...] = (run, trace, replay, serve, export, lessons, explain, images, rmi)
