"""`boxtrace-runtime`'s usual OCI command lines read without argparse: what podman, conmon and
Docker send for create, start, state, kill and delete.

argparse's import and the whole parser of every command (runtime/cli.py's build_cli) were most of
a `boxtrace-runtime start`, and podman makes several such calls per container. A command line made
only of the global options and one of these commands' options, each spelled in full (a long
option's value also as `--opt=value`, as runc's Go flags take it), is read here into the
namespace build_cli would give (tests/runtime/test_quick_args.py compares the two). Anything else
(--help, an abbreviation, a value that starts with "-", a bad number or choice, a missing or extra
id) returns None, and argparse reads it: its errors and help stay the only ones.
"""

from __future__ import annotations

from types import SimpleNamespace

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Iterator

Options = dict[str, tuple[str, object]]
# option -> (destination, converter; None for a flag that stores True, a tuple for choices).
_GLOBAL: Options = {
    "--root": ("root", str),
    "--log": ("log", str),
    "--log-format": ("log_format", ("text", "json")),
    "--debug": ("debug", None),
    "--systemd-cgroup": ("systemd_cgroup", None),
    "--rootless": ("global_rootless", ("auto", "true", "false")),
}
_GLOBAL_DEFAULTS: dict[str, object] = {
    "version": False,
    "root": None,
    "log": None,
    "log_format": "text",
    "debug": False,
    "record": False,
    "systemd_cgroup": False,
    "global_rootless": "auto",
}
# command -> (its options, their defaults, its positionals: required ones, then one optional with
# its default).
_COMMANDS: dict[str, tuple[Options, dict[str, object], tuple[str, ...], tuple[str, str] | None]] = {
    "create": (
        {
            "--bundle": ("bundle", str),
            "-b": ("bundle", str),
            "--pid-file": ("pid_file", str),
            "--console-socket": ("console_socket", str),
            "--no-pivot": ("no_pivot", None),
            "--no-new-keyring": ("no_new_keyring", None),
            "--preserve-fds": ("preserve_fds", int),
        },
        {
            "bundle": None,
            "pid_file": None,
            "console_socket": None,
            "no_pivot": False,
            "no_new_keyring": False,
            "preserve_fds": 0,
        },
        ("id",),
        None,
    ),
    "start": ({}, {}, ("id",), None),
    "state": ({}, {}, ("id",), None),
    "delete": ({"--force": ("force", None), "-f": ("force", None)}, {"force": False}, ("id",), None),
    "kill": ({"--all": ("all", None), "-a": ("all", None)}, {"all": False}, ("id",), ("signal", "SIGTERM")),
}


def quick_oci_args(own: list[str]) -> SimpleNamespace | None:
    """build_cli().parse_args(own) for the usual command lines, or None (argparse's turn)."""
    values = dict(_GLOBAL_DEFAULTS)
    words = iter(own)
    word = next(words, None)
    while word is not None and word.startswith("-"):
        if not _take(_GLOBAL, word, words, values):
            return None
        word = next(words, None)
    if word not in _COMMANDS:
        return None
    options, defaults, required, optional = _COMMANDS[word]
    values["command"] = word
    values.update(defaults)
    positionals: list[str] = []
    for word in words:
        if word.startswith("-"):
            if not _take(options, word, words, values):
                return None
        elif not word:
            return None
        else:
            positionals.append(word)
    if len(positionals) < len(required) or len(positionals) > len(required) + (optional is not None):
        return None
    values.update(zip(required, positionals, strict=False))
    if optional is not None:
        name, default = optional
        values[name] = positionals[len(required)] if len(positionals) > len(required) else default
    return SimpleNamespace(**values)


def _take(options: Options, word: str, words: Iterator[str], values: dict[str, object]) -> bool:
    """Read one option (and its value) into values; False when argparse must read the line."""
    name, equals, value = word.partition("=")
    option = options.get(name)
    if option is None or (equals and not name.startswith("--")):
        return False
    dest, convert = option
    if convert is None:
        if equals:
            return False
        values[dest] = True
        return True
    if not equals:
        following = next(words, None)
        if following is None or following.startswith("-"):
            return False
        value = following
    if isinstance(convert, tuple):
        if value not in convert:
            return False
        values[dest] = value
        return True
    try:
        values[dest] = convert(value)  # type: ignore[operator]
    except ValueError:
        return False
    return True
