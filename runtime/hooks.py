"""OCI hooks: host programs the runtime runs at points of a container's life, with the container's
state on stdin (runtime-spec config.md, "POSIX-platform Hooks"). Docker's prestart hook
(libnetwork-setkey) is how dockerd learns the container's network namespace.

Imported only when a spec has hooks: subprocess is not on the start path.
"""

from __future__ import annotations

import json
import subprocess
from typing import Any


def run_hook(hook: dict[str, Any], state: dict[str, Any]) -> str | None:
    """Run one hook (``path``, ``args`` as execv's argv, ``env``, ``timeout`` seconds); None when it
    succeeded, else why it failed."""
    path = str(hook["path"])
    args = [str(a) for a in hook.get("args") or []] or [path]
    env: dict[str, str] = {}
    for item in hook.get("env") or []:
        name, sep, value = str(item).partition("=")
        if sep:
            env[name] = value
    timeout = hook.get("timeout")
    try:
        result = subprocess.run(
            args,
            executable=path,
            env=env,
            input=json.dumps(state).encode(),
            capture_output=True,
            timeout=float(timeout) if isinstance(timeout, int) else None,
            check=False,
        )
    except subprocess.TimeoutExpired:
        return f"timed out after {timeout} s"
    except OSError as exc:
        return exc.strerror or str(exc)
    if result.returncode != 0:
        output = (result.stderr or result.stdout).decode(errors="replace").strip()
        return f"exit status {result.returncode}" + (f": {output}" if output else "")
    return None
