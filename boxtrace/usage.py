"""One-line usage errors with exit code 2, for every boxtrace command (shared with the runtime's CLI).

No argparse here (the quick `trace` parser needs none); the parser itself is boxtrace.runtime.parser.
"""

from boxtrace.runtime.usage import UsageError, fail_usage

__all__ = ["UsageError", "fail_usage"]
