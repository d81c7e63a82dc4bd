import os.path as _path

__version__ = "0.1.0"

# In a source checkout this folder is only the top of the package: pyproject.toml's package-dir maps
# boxtrace.tracer, .runtime, .lessons and .tui to the folders beside it. Python finds this folder
# first whenever it runs in the checkout (sys.path[0] is the current directory; pytest puts the
# checkout there too), so let the subpackages resolve to those folders. Installed, they sit in this
# folder and this is one stat. (os.path is loaded at every interpreter start: the import is free.)
if not _path.isdir(_path.join(__path__[0], "tracer")):
    __path__.append(_path.dirname(__path__[0]))


TYPE_CHECKING = False
if TYPE_CHECKING:
    import signal as _signal
else:
    # signal's C part (the same functions, plain ints): signal.py imports enum, ~2 M instructions on
    # the trace's start path.
    import _signal


def _interrupted_while_loading(signum: int, frame: object) -> None:
    import os
    import sys

    os.write(2, f"{_path.basename(sys.argv[0])}: interrupted\n".encode())
    os._exit(130)


def _guard_loading() -> None:
    """Run as one of our commands, a Ctrl-C while their modules load (before each main() hands
    SIGINT back to Python's KeyboardInterrupt, which it catches) ends with one line, not a
    traceback from the middle of an import: nothing has been made yet. (Only the interpreter's own
    start, before this package is imported, is out of reach.)"""
    import sys

    if not sys.argv or _path.basename(sys.argv[0]) not in ("boxtrace", "boxtrace-runtime", "boxtrace-runc"):
        return
    if _signal.getsignal(_signal.SIGINT) is _signal.default_int_handler:  # not ignored by the parent
        _signal.signal(_signal.SIGINT, _interrupted_while_loading)


def loaded() -> None:
    """Each main() calls this first: from then on a Ctrl-C is a KeyboardInterrupt, which it catches."""
    if _signal.getsignal(_signal.SIGINT) is _interrupted_while_loading:
        _signal.signal(_signal.SIGINT, _signal.default_int_handler)


_guard_loading()
