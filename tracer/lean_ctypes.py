"""The part of ctypes the tracer uses, built on ``_ctypes`` (ctypes' C part) as ctypes itself does.

``import ctypes`` costs ~7 M instructions of every `boxtrace trace` start, a third of it for the
two dozen C types, function-type caches and the Windows/macOS branches its ``__init__`` sets up;
the tracer needs ten types, a libc handle and a few helpers: ~2.5 M (docs/benchmarks.md,
"Start-up"). The same names, with the same behaviour, from the same C module: the tracer's modules
import this as ``ctypes``. Type checkers see the real ctypes (the TYPE_CHECKING branch). Never
``ctypes.util``: find_library runs ldconfig and a compiler.
"""

from __future__ import annotations

TYPE_CHECKING = False
_fallback = None  # ctypes itself, when _ctypes lacks what the lean types are built on
if TYPE_CHECKING:
    from ctypes import (
        POINTER,
        Array,
        PyDLL,
        Structure,
        addressof,
        byref,
        c_char,
        c_char_p,
        c_int,
        c_long,
        c_size_t,
        c_ssize_t,
        c_uint64,
        c_ulong,
        c_ushort,
        c_void_p,
        create_string_buffer,
        get_errno,
        sizeof,
        string_at,
    )
else:
    try:
        import _ctypes
        from _ctypes import (
            FUNCFLAG_CDECL,
            FUNCFLAG_PYTHONAPI,
            FUNCFLAG_USE_ERRNO,
            POINTER,
            Array,
            CFuncPtr,
            Structure,
            _SimpleCData,
            addressof,
            byref,
            dlopen,
            get_errno,
            sizeof,
        )

        class c_int(_SimpleCData):
            _type_ = "i"

        class c_long(_SimpleCData):
            _type_ = "l"

        class c_ulong(_SimpleCData):
            _type_ = "L"

        class c_ushort(_SimpleCData):
            _type_ = "H"

        class c_void_p(_SimpleCData):
            _type_ = "P"

        class c_char_p(_SimpleCData):
            _type_ = "z"

        class c_char(_SimpleCData):
            _type_ = "c"

        class py_object(_SimpleCData):
            _type_ = "O"

        # What ctypes makes them on the 64-bit Linux machines the tracer supports (LP64).
        c_size_t = c_ulong
        c_ssize_t = c_long
        c_uint64 = c_ulong
        assert sizeof(c_ulong) == 8 and sizeof(c_void_p) == 8, "an LP64 machine"

        def create_string_buffer(init: int | bytes, size: int | None = None) -> Array:
            """A zeroed ``c_char`` array of ``init`` bytes, or one holding the bytes ``init``."""
            if isinstance(init, int):
                return (c_char * init)()
            buf = (c_char * (len(init) + 1 if size is None else size))()
            buf.value = init
            return buf

        class PyDLL:
            """A library whose functions keep the GIL while they run (ctypes.PyDLL): ``_handle`` and
            its functions as attributes, each returning a C int until given a ``restype``."""

            def __init__(self, name: str | None, use_errno: bool = False) -> None:
                class _FuncPtr(CFuncPtr):
                    _flags_ = FUNCFLAG_CDECL | FUNCFLAG_PYTHONAPI | (FUNCFLAG_USE_ERRNO if use_errno else 0)
                    _restype_ = c_int

                self._name = name
                self._FuncPtr = _FuncPtr
                self._handle = dlopen(name, 0)  # RTLD_NOW | RTLD_LOCAL, as ctypes' default mode

            def __getattr__(self, name: str) -> CFuncPtr:
                if name.startswith("__") and name.endswith("__"):
                    raise AttributeError(name)
                function = self[name]
                setattr(self, name, function)
                return function

            def __getitem__(self, name: str) -> CFuncPtr:
                """A function object of its own each time (an attribute is made once and kept)."""
                function = self._FuncPtr((name, self))
                function.__name__ = name
                return function

        class _StringAt(CFuncPtr):
            _flags_ = FUNCFLAG_CDECL | FUNCFLAG_PYTHONAPI
            _restype_ = py_object
            _argtypes_ = (c_void_p, c_ssize_t)

        _string_at = _StringAt(_ctypes._string_at_addr)

        def string_at(address: int, size: int = -1) -> bytes:
            """The ``size`` bytes at ``address`` (up to the first NUL when -1)."""
            return _string_at(address, size)

    except (ImportError, AttributeError, TypeError, AssertionError):
        # A CPython whose _ctypes differs from the ones this was written against (3.11-3.13), or
        # not an LP64 machine (the CLI then refuses it in one line): the real ctypes, slower to
        # import, the same names (__all__, below).
        import ctypes as _fallback

__all__ = [
    "POINTER",
    "Array",
    "PyDLL",
    "Structure",
    "addressof",
    "byref",
    "c_char",
    "c_char_p",
    "c_int",
    "c_long",
    "c_size_t",
    "c_ssize_t",
    "c_uint64",
    "c_ulong",
    "c_ushort",
    "c_void_p",
    "create_string_buffer",
    "get_errno",
    "sizeof",
    "string_at",
]

if _fallback is not None:
    globals().update({name: getattr(_fallback, name) for name in __all__})
