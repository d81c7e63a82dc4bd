"""`boxtrace pull`: fetch an image from a registry into the local store, with a progress bar."""

from __future__ import annotations

import argparse
import sys

TYPE_CHECKING = False  # typing costs ~5 ms of every boxtrace start
if TYPE_CHECKING:
    from typing import Any

    from boxtrace.runtime.images.pull import PullListener

DESCRIPTION = """\
Fetch an image from a container registry (the distribution API v2 that Docker Hub, ghcr.io,
quay.io and Debian's docker-registry serve) into boxtrace's local image store, like 'docker pull'.
'boxtrace run NAME:TAG' then runs it and 'boxtrace images' lists it.

REF is written as Docker writes it: busybox (Docker Hub's library/busybox:latest), user/app:1.2,
ghcr.io/org/app:tag, localhost:5000/demo@sha256:DIGEST. When the tag names a multi-platform image,
the image for this machine (linux and its architecture) is pulled. Layers already in the store are
not downloaded again; every blob is checked against its digest.

The registry is reached over HTTPS, except localhost and 127.0.0.0/8, which get plain HTTP as in
Docker. --insecure (or BOXTRACE_INSECURE_REGISTRIES=HOST[:PORT],...) uses plain HTTP for another
host. Pulls are anonymous: registries that hand out anonymous tokens (Docker Hub, ghcr.io for public
images) work; logins do not.

examples:
  boxtrace pull busybox
  boxtrace pull localhost:5000/demo:v1
  boxtrace pull --insecure registry.lan:5000/tools/debug:2
"""

# what a layer's state is called on screen, as `docker pull` says it
STATES = {
    "waiting": "Waiting",
    "exists": "Already exists",
    "downloading": "Downloading",
    "downloaded": "Download complete",
    "extracting": "Extracting",
    "done": "Pull complete",
}
SHORT = 12  # hex digits of a digest shown, as Docker does


def add_parser(sub: Any) -> str:
    parser = sub.add_parser(
        "pull",
        help="fetch an image from a registry into the local store",
        description=DESCRIPTION,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("ref", metavar="REF", help="image reference: [REGISTRY/]NAME[:TAG|@DIGEST]")
    parser.add_argument("--insecure", action="store_true", help="use plain HTTP (no TLS) for this registry")
    parser.add_argument("-q", "--quiet", action="store_true", help="print only the image's name")
    return "pull"


def main(args: argparse.Namespace) -> int:
    from boxtrace import __version__
    from boxtrace.runtime.images.pull import pull
    from boxtrace.runtime.images.reference import BadReference, parse_reference
    from boxtrace.runtime.images.registry import RegistryError
    from boxtrace.runtime.images.store import ImageError
    from boxtrace.runtime.usage import one_line
    from boxtrace.usage import UsageError

    try:
        ref = parse_reference(args.ref)
    except BadReference as exc:
        raise UsageError(str(exc), prog="boxtrace pull") from None
    listener: PullListener
    if args.quiet:
        from boxtrace.runtime.images.pull import PullListener

        listener = PullListener()
    elif sys.stdout.isatty():
        listener = _bars()
    else:
        listener = _lines()
    try:
        with listener:
            agent = f"boxtrace/{__version__}"
            pulled = pull(ref, insecure=args.insecure, listener=listener, user_agent=agent)
    except (RegistryError, ImageError, OSError) as exc:  # OSError: the store (a full disk, no permission)
        # a registry's own words (its error messages) may hold newlines or terminal escapes
        print(f"boxtrace pull: error: {one_line(str(exc))}", file=sys.stderr)
        return 1
    if not args.quiet:
        _say(f"Digest: {pulled.digest}")
        status = "Image is up to date" if pulled.up_to_date else "Downloaded newer image"
        _say(f"Status: {status} for {pulled.name}")
    _say(str(ref))
    return 0


def _say(line: str) -> None:
    """Print a line; a reader that went away (`| head`) does not stop the pull."""
    try:
        print(line, flush=True)
    except BrokenPipeError:
        import os

        # Later writes (and the flush at exit) go nowhere instead of failing again.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())


def _short(digest: str) -> str:
    return digest.removeprefix("sha256:")[:SHORT]


def _lines() -> PullListener:
    """Not a terminal: one line per layer and state, as `docker pull | cat` prints."""
    from boxtrace.runtime.images.pull import PullListener

    class Lines(PullListener):
        def __init__(self) -> None:
            self.states: dict[str, str] = {}

        def __enter__(self) -> Lines:
            return self

        def __exit__(self, *exc: object) -> None:
            sys.stdout.flush()

        def message(self, text: str) -> None:
            _say(text)

        def layer(self, digest: str, state: str, done: int = 0, total: int = 0) -> None:
            if self.states.get(digest) == state:
                return  # progress within a state: one line per state is enough
            if digest not in self.states and state != "exists":
                _say(f"{_short(digest)}: Pulling fs layer")
            self.states[digest] = state
            _say(f"{_short(digest)}: {STATES[state]}")

    return Lines()


def _bars() -> PullListener:
    """A terminal: one rich progress bar per layer (rich is imported only here)."""
    from rich.console import Console
    from rich.progress import BarColumn, DownloadColumn, Progress, TaskID, TextColumn

    from boxtrace.runtime.images.pull import PullListener

    class Bars(PullListener):
        def __init__(self) -> None:
            self.console = Console()
            self.progress = Progress(
                TextColumn("{task.description}"),
                BarColumn(),
                DownloadColumn(),
                console=self.console,
            )
            self.tasks: dict[str, TaskID] = {}
            self.states: dict[str, str] = {}

        def __enter__(self) -> Bars:
            self.progress.start()
            return self

        def __exit__(self, *exc: object) -> None:
            self.progress.stop()

        def message(self, text: str) -> None:
            self.console.print(text, markup=False, highlight=False)

        def layers(self, layers: list[tuple[str, int]]) -> None:
            for digest, size in layers:
                if digest not in self.tasks:
                    self.tasks[digest] = self.progress.add_task(
                        f"{_short(digest)}: {STATES['waiting']:<17}", total=size
                    )

        def layer(self, digest: str, state: str, done: int = 0, total: int = 0) -> None:
            task = self.tasks.get(digest)
            if task is None:
                return
            if self.states.get(digest) != state:
                self.states[digest] = state
                self.progress.update(task, description=f"{_short(digest)}: {STATES[state]:<17}")
            self.progress.update(task, completed=done, total=total or None)

    return Bars()
