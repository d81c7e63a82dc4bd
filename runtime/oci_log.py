"""--log and --log-format, as runc writes them: podman and containerd read the last error line of
the log file to report why a runtime command failed.

text: time="2026-11-28T06:37:10Z" level=error msg="container \"x\" does not exist"
json: {"level":"error","msg":"container \"x\" does not exist","time":"2026-11-28T06:37:10Z"}

Without --log, warnings go to stderr; with it, only to the file (the stderr of `create` is the
container's stderr). Errors always go to stderr too, one line, as runc does.
"""

from __future__ import annotations

import os
import sys
import time

from boxtrace.runtime import quick_json
from boxtrace.runtime.quiet import suppress
from boxtrace.runtime.usage import one_line

LOG_FORMATS = ("text", "json")


class RuntimeLog:
    def __init__(self, path: str | None = None, log_format: str = "text", debug: bool = False) -> None:
        self.path = path
        self.format = log_format
        self.debug_enabled = debug
        self._fd = -1

    def _line(self, level: str, message: str) -> str:
        now = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
        if self.format == "json":
            return quick_json.dumps({"level": level, "msg": message, "time": now}, separators=(",", ":"))
        return f"time={quick_json.dumps(now)} level={level} msg={quick_json.dumps(message)}"

    def _write_file(self, level: str, message: str) -> None:
        assert self.path is not None
        if self._fd < 0:
            self._fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_APPEND | os.O_CLOEXEC, 0o644)
        os.write(self._fd, (self._line(level, message) + "\n").encode())

    def error(self, message: str, to_stderr: bool = True) -> None:
        if self.path is not None:
            try:
                self._write_file("error", message)
            except OSError as exc:
                # a warning: the error itself follows, on its own line
                where = one_line(repr(self.path))
                print(
                    f"boxtrace-runtime: warning: cannot write --log {where}: {exc.strerror}", file=sys.stderr
                )
        if to_stderr:
            print(f"boxtrace-runtime: error: {one_line(message)}", file=sys.stderr, flush=True)

    def warning(self, message: str) -> None:
        if self.path is None:
            print(f"boxtrace-runtime: warning: {message}", file=sys.stderr, flush=True)
            return
        with suppress(OSError):  # a warning is not worth failing the command for
            self._write_file("warning", message)

    def debug(self, message: str) -> None:
        if not self.debug_enabled:
            return
        if self.path is None:
            print(f"boxtrace-runtime: debug: {message}", file=sys.stderr, flush=True)
        else:
            self._write_file("debug", message)
