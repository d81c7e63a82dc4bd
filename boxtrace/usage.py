"""One-line usage errors with exit code 2, for every boxtrace command (shared with the runtime's CLI)."""

from boxtrace.runtime.usage import OneLineParser, UsageError, build_parser, fail_usage

__all__ = ["OneLineParser", "UsageError", "build_parser", "fail_usage"]
