"""``@record``: plain data classes for the runtime's start path, without importing dataclasses.

``dataclasses`` imports ``inspect`` and compiles each class's methods with ``exec``; for the
runtime's sixteen classes that is ~20 ms of a ~60 ms container start (measured with hyperfine,
see docs/benchmarks.md). ``record`` gives the same constructor, ``repr`` and ``==`` from the class
annotations with one generic ``__init__``, and tells type checkers to treat it like a dataclass
(PEP 681). Use it only in ``runtime/``; everywhere else use dataclasses.
"""

from __future__ import annotations

# typing costs ~5 ms to import: only type checkers see it (mypy knows this TYPE_CHECKING idiom).
TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable
    from typing import Any, TypeVar, dataclass_transform

    T = TypeVar("T")
else:

    def dataclass_transform(**_: object) -> object:
        return lambda function: function


_MISSING = object()


class _Factory:
    __slots__ = ("make",)

    def __init__(self, make: Callable[[], object]) -> None:
        self.make = make


def field(*, default_factory: Callable[[], T]) -> T:
    """A default made fresh for every instance (like ``dataclasses.field(default_factory=...)``)."""
    return _Factory(default_factory)  # type: ignore[return-value]


@dataclass_transform(field_specifiers=(field,))
def record(cls: type[T]) -> type[T]:
    names = tuple(cls.__dict__.get("__annotations__", {}))  # noqa: RUF063 (inspect is what we avoid)
    defaults = {name: cls.__dict__[name] for name in names if name in cls.__dict__}

    def __init__(self: Any, *args: Any, **kwargs: Any) -> None:
        if len(args) > len(names):
            raise TypeError(f"{cls.__name__}() takes {len(names)} arguments, got {len(args)}")
        for name, value in zip(names, args, strict=False):
            setattr(self, name, value)
        for name in names[len(args) :]:
            value = kwargs.pop(name, _MISSING)
            if value is _MISSING:
                value = defaults.get(name, _MISSING)
                if value is _MISSING:
                    raise TypeError(f"{cls.__name__}() missing argument {name!r}")
                if isinstance(value, _Factory):
                    value = value.make()
            setattr(self, name, value)
        if kwargs:
            raise TypeError(f"{cls.__name__}() got unexpected arguments {sorted(kwargs)}")

    def __repr__(self: Any) -> str:
        inner = ", ".join(f"{name}={getattr(self, name)!r}" for name in names)
        return f"{cls.__name__}({inner})"

    def __eq__(self: Any, other: object) -> bool:
        if other.__class__ is not self.__class__:
            return NotImplemented
        return all(getattr(self, n) == getattr(other, n) for n in names)

    for name, value in defaults.items():
        if isinstance(value, _Factory):
            delattr(cls, name)  # the class attribute would hide nothing but confuse readers
    # setattr: the methods are attached to a class the type checker already knows (PEP 681 tells it
    # what the constructor looks like).
    setattr(cls, "__init__", __init__)  # noqa: B010
    setattr(cls, "__repr__", __repr__)  # noqa: B010
    setattr(cls, "__eq__", __eq__)  # noqa: B010
    setattr(cls, "__hash__", None)  # noqa: B010
    return cls
