"""json.loads and json.dumps for the runtime's start, through the C accelerator `_json` alone.

Importing the json package compiles its regular expressions (json.decoder, json.scanner,
json.encoder), importing re and enum on the way: ~23 M instructions, the largest import of
`boxtrace run --no-trace` (docs/benchmarks.md, "Runtime"). `_json` holds the parser and the encoder
json uses itself; only the set-up around them is done here. Anything unusual (a Python without
`_json`, text that is not one valid JSON value) goes to the json package, so its results and its
errors (JSONDecodeError with line and column) stay the only ones.
"""

from __future__ import annotations

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable
    from typing import Any

_WHITESPACE = " \t\n\r"  # JSON's whitespace (RFC 8259), which json.loads skips around a value
_CONSTANTS = {"-Infinity": float("-inf"), "Infinity": float("inf"), "NaN": float("nan")}


class _Options:
    """What json.JSONDecoder() hands the C scanner: its defaults."""

    __slots__ = (
        "memo",
        "object_hook",
        "object_pairs_hook",
        "parse_constant",
        "parse_float",
        "parse_int",
        "strict",
    )

    def __init__(self) -> None:
        self.strict = True
        self.object_hook = None
        self.object_pairs_hook = None
        self.parse_float = float
        self.parse_int = int
        self.parse_constant = _CONSTANTS.__getitem__
        self.memo: dict[str, str] = {}


def _not_serializable(value: object) -> object:
    raise TypeError(f"Object of type {value.__class__.__name__} is not JSON serializable")


try:
    import _json

    _scan: Callable[[str, int], tuple[Any, int]] | None = _json.make_scanner(_Options())  # type: ignore[arg-type]
except (ImportError, AttributeError):  # pragma: no cover - CPython always has it
    _scan = None


def loads(text: str) -> Any:
    """json.loads(text) for a str."""
    if _scan is not None:
        start = len(text) - len(text.lstrip(_WHITESPACE))
        try:
            value, end = _scan(text, start)
        except RecursionError:
            raise
        except Exception:  # json.loads below raises the error json gives
            pass
        else:
            if not text[end:].strip(_WHITESPACE):
                return value
    import json

    return json.loads(text)


def dumps(value: Any, separators: tuple[str, str] = (", ", ": ")) -> str:
    """json.dumps(value, separators=separators) with its other defaults: ensure_ascii, circular
    references checked (a new encoder each time, as json makes one: its table of containers being
    encoded must start empty even after an encoding that failed half-way)."""
    if _scan is None:  # pragma: no cover
        import json

        return json.dumps(value, separators=separators)
    if isinstance(value, str):  # as json.dumps does
        return _json.encode_basestring_ascii(value)
    item_separator, key_separator = separators
    encode = _json.make_encoder(
        {},
        _not_serializable,
        _json.encode_basestring_ascii,
        None,
        key_separator,
        item_separator,
        False,
        False,
        True,
    )
    return "".join(encode(value, 0))
