"""Plain data classes for the tracer's start path, without importing dataclasses or typing.

``dataclasses`` imports ``inspect`` (and with it ast, dis, tokenize) and compiles each class's
methods from source with ``exec``: together ~2 M instructions a class and ~40 M for the module,
most of ``boxtrace trace``'s start-up (docs/benchmarks.md, "Start-up"). The tracer's classes are
instead written out: ``__slots__`` and an ``__init__`` by hand (the hot ones, built at every stop
or for every line of a trace file, are faster so than a dataclass's), and :class:`Plain` adds what
``@dataclass(slots=True)`` would: ``repr``, ``==`` and ``__match_args__`` over the fields, which
are the parameters of ``__init__``, in order (each stored in a slot of the same name). :class:`Frozen` is
``@dataclass(frozen=True, slots=True)``: no assignment after ``__init__``, hashable.

The runtime has its own ``record`` (``boxtrace.runtime.records``): the tracer may not import it.
"""

from __future__ import annotations

TYPE_CHECKING = False  # typing costs ~8 M instructions to import: only type checkers see it
if TYPE_CHECKING:
    from typing import ClassVar


class Plain:
    __slots__ = ()
    _fields: ClassVar[tuple[str, ...]] = ()

    def __init_subclass__(cls) -> None:
        # The fields, in order, are the parameters of __init__ (read from its code object, without
        # inspect); each is a slot of the class or of a base.
        code = getattr(cls.__init__, "__code__", None)
        cls._fields = () if code is None else code.co_varnames[1 : code.co_argcount]
        setattr(cls, "__match_args__", cls._fields)  # noqa: B010 (mypy: a class attribute it does not know)

    def __repr__(self) -> str:
        inner = ", ".join(f"{name}={getattr(self, name)!r}" for name in self._fields)
        return f"{type(self).__qualname__}({inner})"

    def __eq__(self, other: object) -> bool:
        if other.__class__ is not self.__class__:
            return NotImplemented
        return all(getattr(self, name) == getattr(other, name) for name in self._fields)

    __hash__ = None  # type: ignore[assignment]  # mutable, compared by value: as a dataclass


class Frozen(Plain):
    __slots__ = ()

    def _assign(self, *values: object) -> None:
        """Set the fields in order (``__init__``'s one way past ``__setattr__``)."""
        for name, value in zip(self._fields, values, strict=True):
            object.__setattr__(self, name, value)

    def __setattr__(self, name: str, value: object) -> None:
        raise AttributeError(f"cannot assign to field {name!r} of a frozen {type(self).__name__}")

    def __delattr__(self, name: str) -> None:
        raise AttributeError(f"cannot delete field {name!r} of a frozen {type(self).__name__}")

    def __hash__(self) -> int:  # type: ignore[override]  # frozen, so hashable again: as a dataclass
        return hash(tuple(getattr(self, name) for name in self._fields))

    def __reduce__(self) -> tuple[type, tuple[object, ...]]:
        # pickle and copy would restore the slots with setattr, which a frozen class refuses: they
        # call __init__ with the fields instead (split exports hand explanations to a child).
        return (type(self), tuple(getattr(self, name) for name in self._fields))
