"""The plain-data codec between the trusted checker and the program under test (standard library only).

What crosses, in both directions, is a tree of values of these exact types (``type(v) is T``, never a
subclass, never ``__class__``): ``None``, ``bool``, ``int`` (at most ``MAX_INT_BYTES`` bytes, about 4300
decimal digits), ``float``, ``complex``, ``str``, ``bytes``, ``bytearray``, ``list``, ``tuple``, ``dict``,
``set``, ``frozenset`` and ``range``; a few stdlib value types rebuilt from their parts (``Fraction``
from two ints, ``Decimal`` from its string, ``Counter``/``OrderedDict``/``defaultdict`` (a builtin type
as factory, else none) from a dict, ``deque`` from a list; ``IntEnum``/``IntFlag`` members as their int); builtin classes and functions by name (checker -> program only: ``remove_datatype(t, int)``); plus
two markers and a drained iterator:

* ``Handle(id)``: an object of any other type, kept by the program's side in a table, known to the
  checker only by its number (it can be passed back as an argument, called, and have attributes
  read, all on the program's side; every comparison, truth test or hash of it fails the test);
* ``NameRef(name)``: the checker -> program direction only: a name of the program's module;
* a drained iterator (tag ``g``): a generator or other iterator the program returned, drained on
  the program's side up to ``MAX_ITEMS`` (the decoder returns an iterator over the items, at any
  depth).

The decoder (``decode``) is the checker's side: it reads only this format, from a frame of at most
``MAX_FRAME`` bytes, at most ``MAX_DEPTH`` deep and ``MAX_ITEMS`` values in all, and raises
``CodecError`` on anything else; what it returns is built by the checker from builtins only. No pickle,
no marshal, nothing from the program's side is ever executed or looked up by name except the few
rebuilt stdlib types above.
"""

from __future__ import annotations

import struct

MAX_FRAME = 16 * 1024 * 1024  # bytes in one frame, either direction
MAX_DEPTH = 100
MAX_ITEMS = 1_000_000  # values in one frame; also the most items drained from one returned iterator
MAX_INT_BYTES = 1800  # ~4300 decimal digits (Python's own default int/str conversion limit)

_Q = struct.Struct("<q")
_D = struct.Struct("<d")
_DD = struct.Struct("<dd")
_I = struct.Struct("<I")


class CodecError(ValueError):
    """A value that cannot cross, or bytes that are not a frame of this format."""


class Handle:
    """An object that stays on the program's side, by number."""

    __slots__ = ("id", "type_name")

    def __init__(self, id: int, type_name: str = "object") -> None:
        self.id = id
        self.type_name = type_name


class NameRef:
    """A name of the program's module (checker -> program only)."""

    __slots__ = ("name",)

    def __init__(self, name: str) -> None:
        self.name = name


# --------------------------------------------------------------------------------------------------
# Encoding (used on both sides; on the program's side it runs in untrusted territory, which is fine:
# whatever bytes it produces, the checker's decoder rebuilds plain values from them or refuses).
# --------------------------------------------------------------------------------------------------

def _stdlib_types() -> dict:
    """Exact stdlib value types that cross by their parts: type -> tag name (imported lazily)."""
    import sys

    out = {}
    for mod, name in (("fractions", "Fraction"), ("decimal", "Decimal"), ("collections", "Counter"),
                      ("collections", "OrderedDict"), ("collections", "defaultdict"), ("collections", "deque")):
        m = sys.modules.get(mod)
        t = getattr(m, name, None) if m is not None else None
        if t is not None:
            out[t] = name
    return out


_FACTORIES = ("int", "float", "str", "list", "dict", "set", "tuple", "bytes", "bool", "frozenset")


class Encoder:
    """Encodes values; objects of other types become handles (``keep``: store them and return an id)
    or raise ``CodecError`` (``keep=None``, the checker's side, where nothing foreign may cross)."""

    def __init__(self, keep=None, on_ref=None) -> None:
        self.keep = keep  # program side: obj -> handle id
        self.on_ref = on_ref  # checker side: obj -> bytes of a ref marker, or None
        self.stdlib = _stdlib_types()
        import sys

        enum = sys.modules.get("enum")
        self.int_enums = (enum.IntEnum, enum.IntFlag) if enum is not None else ()
        self.items = 0

    def encode(self, value) -> bytes:
        out: list[bytes] = []
        self.items = 0
        self._enc(value, out, 0)
        data = b"".join(out)
        if len(data) > MAX_FRAME - 64:
            raise CodecError(f"a value of more than {MAX_FRAME >> 20} MiB")
        return data

    def _enc(self, v, out: list, depth: int) -> None:
        self.items += 1
        if depth > MAX_DEPTH:
            raise CodecError(f"a value nested more than {MAX_DEPTH} deep")
        if self.items > MAX_ITEMS:
            raise CodecError(f"a value of more than {MAX_ITEMS} items")
        t = type(v)
        if v is None:
            out.append(b"N")
        elif t is bool:
            out.append(b"T" if v else b"F")
        elif t is int:
            if -(1 << 63) <= v < (1 << 63):
                out.append(b"i" + _Q.pack(v))
            else:
                n = (v.bit_length() + 8) // 8
                if n > MAX_INT_BYTES:
                    raise CodecError(f"an int of more than {MAX_INT_BYTES * 8} bits")
                out.append(b"I" + _I.pack(n) + v.to_bytes(n, "little", signed=True))
        elif t is float:
            out.append(b"f" + _D.pack(v))
        elif t is str:
            b = v.encode("utf-8", "surrogatepass")
            out.append(b"s" + _I.pack(len(b)) + b)
        elif t is list or t is tuple or t is set or t is frozenset:
            if (t is set or t is frozenset) and len(v) > MAX_SAME_HASH:
                _check_hashes(list(v))  # the decoder would refuse the whole frame: refuse this value here
            out.append(_SEQ_TAGS[t] + _I.pack(len(v)))
            for x in v:
                self._enc(x, out, depth + 1)
        elif t is dict:
            if len(v) > MAX_SAME_HASH:
                _check_hashes(list(v))
            out.append(b"d" + _I.pack(len(v)))
            for k, x in v.items():
                self._enc(k, out, depth + 1)
                self._enc(x, out, depth + 1)
        elif t is bytes or t is bytearray:
            out.append((b"b" if t is bytes else b"B") + _I.pack(len(v)) + bytes(v))
        elif t is complex:
            out.append(b"c" + _DD.pack(v.real, v.imag))
        elif t is range:
            if len(v) > MAX_ITEMS:  # a few bytes that would make the checker build millions of values
                raise CodecError(f"a range of more than {MAX_ITEMS} items")
            out.append(b"r")
            for x in (v.start, v.stop, v.step):
                self._enc(x, out, depth + 1)
        elif t is Handle:
            out.append(b"h" + _I.pack(v.id) + _short(v.type_name))
        elif t is NameRef:
            out.append(b"n" + _short(v.name))
        elif t in self.stdlib:
            self._enc_stdlib(self.stdlib[t], v, out, depth)
        elif self.keep is None and _is_builtin(v):  # checker -> program: ``int``, ``len`` ... by name
            out.append(b"y" + _short(v.__name__))
        else:
            ref = self.on_ref(v) if self.on_ref is not None else None
            if ref is not None:
                out.append(ref)
            elif self.keep is not None and _is_iterator(v):
                items = []
                for x in v:
                    items.append(x)
                    if len(items) > MAX_ITEMS:
                        raise CodecError(f"an iterator of more than {MAX_ITEMS} items")
                out.append(b"g" + _I.pack(len(items)))
                for x in items:
                    self._enc(x, out, depth + 1)
            elif self.keep is not None and self.int_enums and isinstance(v, self.int_enums):
                self._enc(int.__index__(v), out, depth)  # IntEnum/IntFlag members cross as their value
            elif self.keep is not None:
                out.append(b"h" + _I.pack(self.keep(v)) + _short(_type_name(t)))
            else:
                raise CodecError(f"a {_type_name(t)} object cannot be sent to the program")

    def _enc_stdlib(self, name: str, v, out: list, depth: int) -> None:
        out.append(b"x" + _short(name))
        if name == "Fraction":
            self._enc((v.numerator, v.denominator), out, depth + 1)
        elif name == "Decimal":
            self._enc(str(v), out, depth + 1)
        elif name == "deque":
            self._enc((list(v), v.maxlen), out, depth + 1)
        elif name == "defaultdict":
            factory = v.default_factory
            fname = getattr(factory, "__name__", None) if factory is not None else None
            import builtins

            ok = type(fname) is str and fname in _FACTORIES and factory is getattr(builtins, fname, None)
            self._enc((fname if ok else None, dict(v)), out, depth + 1)
        else:  # Counter, OrderedDict
            self._enc(dict(v), out, depth + 1)


_SEQ_TAGS = {list: b"l", tuple: b"t", set: b"S", frozenset: b"Z"}


def _short(text: str) -> bytes:
    b = str(text)[:200].encode("utf-8", "replace")
    return bytes([len(b)]) + b


def _type_name(t) -> str:
    try:
        name = type.__dict__["__name__"].__get__(t)
        return name if type(name) is str else "object"
    except Exception:  # noqa: BLE001
        return "object"


def _is_builtin(v) -> bool:
    import builtins

    name = getattr(v, "__name__", None)
    return type(name) is str and not name.startswith("_") and builtins.__dict__.get(name) is v


def _is_iterator(v) -> bool:
    t = type(v)
    try:
        return hasattr(t, "__next__") and hasattr(t, "__iter__") and iter(v) is v
    except Exception:  # noqa: BLE001
        return False


# --------------------------------------------------------------------------------------------------
# Decoding. On the checker's side this is the only way bytes from the program become values.
# --------------------------------------------------------------------------------------------------

class Decoder:
    """Decodes one frame body. ``make_handle(id, type_name)``: what a handle becomes (checker side:
    a remote-object proxy; program side: the kept object); ``resolve_name(name)``: a ``NameRef``
    (program side only; the checker passes ``None`` and refuses it)."""

    def __init__(self, make_handle, resolve_name=None, stdlib_types=None) -> None:
        self.make_handle = make_handle
        self.resolve_name = resolve_name
        self.stdlib = stdlib_types  # name -> constructor, for the rebuilt stdlib types

    def decode(self, data: bytes):
        if len(data) > MAX_FRAME:
            raise CodecError("frame too large")
        self.data = data
        self.pos = 0
        self.items = 0
        try:
            value = self._dec(0)
        except CodecError:
            raise
        except (struct.error, IndexError, TypeError, ValueError, OverflowError, RecursionError,
                UnicodeDecodeError, MemoryError) as exc:
            raise CodecError(f"malformed value: {type(exc).__name__}") from None
        if self.pos != len(data):
            raise CodecError("trailing bytes after the value")
        return value

    def _take(self, n: int) -> bytes:
        p = self.pos
        if n < 0 or p + n > len(self.data):
            raise CodecError("truncated value")
        self.pos = p + n
        return self.data[p : p + n]

    def _count(self) -> int:
        (n,) = _I.unpack(self._take(4))
        if n > len(self.data) - self.pos:  # every item takes at least one byte
            raise CodecError("a count larger than the frame")
        return n

    def _dec(self, depth: int):
        if depth > MAX_DEPTH:
            raise CodecError(f"a value nested more than {MAX_DEPTH} deep")
        self.items += 1
        if self.items > MAX_ITEMS:
            raise CodecError(f"more than {MAX_ITEMS} values")
        tag = self._take(1)
        if tag == b"N":
            return None
        if tag == b"T":
            return True
        if tag == b"F":
            return False
        if tag == b"i":
            return _Q.unpack(self._take(8))[0]
        if tag == b"s":
            n = self._count()
            return self._take(n).decode("utf-8", "surrogatepass")
        if tag == b"f":
            return _D.unpack(self._take(8))[0]
        if tag in (b"l", b"t", b"S", b"Z"):
            n = self._count()
            items = [self._dec(depth + 1) for _ in range(n)]
            if tag == b"l":
                return items
            if tag == b"t":
                return tuple(items)
            try:
                _check_hashes(items)
                return set(items) if tag == b"S" else frozenset(items)
            except TypeError:
                raise CodecError("an unhashable set element") from None
        if tag == b"d":
            n = self._count()
            pairs = [(self._dec(depth + 1), self._dec(depth + 1)) for _ in range(n)]
            try:
                _check_hashes([k for k, _ in pairs])
                return dict(pairs)
            except TypeError:
                raise CodecError("an unhashable dict key") from None
        if tag == b"I":
            n = self._count()
            if n > MAX_INT_BYTES:
                raise CodecError("an int too large")
            return int.from_bytes(self._take(n), "little", signed=True)
        if tag in (b"b", b"B"):
            n = self._count()
            raw = self._take(n)
            return raw if tag == b"b" else bytearray(raw)
        if tag == b"c":
            re, im = _DD.unpack(self._take(16))
            return complex(re, im)
        if tag == b"r":
            a, b, c = (self._dec(depth + 1) for _ in range(3))
            if not (type(a) is int and type(b) is int and type(c) is int) or c == 0:
                raise CodecError("a malformed range")
            r = range(a, b, c)
            if len(r) > MAX_ITEMS:
                raise CodecError(f"a range of more than {MAX_ITEMS} items")
            return r
        if tag == b"h":
            (hid,) = _I.unpack(self._take(4))
            return self.make_handle(hid, self._short())
        if tag == b"g":  # a drained iterator: an iterator again, wherever it sits (a list of generators)
            n = self._count()
            return iter([self._dec(depth + 1) for _ in range(n)])
        if tag == b"n":
            if self.resolve_name is None:
                raise CodecError("a name reference from the program")
            return self.resolve_name(self._short())
        if tag == b"x":
            return self._dec_stdlib(self._short(), depth)
        if tag == b"y":
            if self.resolve_name is None:
                raise CodecError("a builtin reference from the program")
            import builtins

            name = self._short()
            if name.startswith("_") or name not in builtins.__dict__:
                raise CodecError(f"unknown builtin {name!r}")
            return builtins.__dict__[name]
        raise CodecError(f"unknown tag {tag!r}")

    def _short(self) -> str:
        n = self._take(1)[0]
        return self._take(n).decode("utf-8", "replace")

    def _dec_stdlib(self, name: str, depth: int):
        parts = self._dec(depth + 1)
        ctor = (self.stdlib or {}).get(name)
        if ctor is None:
            raise CodecError(f"unknown stdlib type {name!r}")
        if name == "Fraction":
            if not (type(parts) is tuple and len(parts) == 2 and all(type(p) is int for p in parts)) or parts[1] == 0:
                raise CodecError("a malformed Fraction")
            return ctor(*parts)
        if name == "Decimal":
            if type(parts) is not str or len(parts) > 5000:
                raise CodecError("a malformed Decimal")
            return ctor(parts)
        if name == "deque":
            if not (type(parts) is tuple and len(parts) == 2 and type(parts[0]) is list
                    and (parts[1] is None or type(parts[1]) is int and parts[1] >= 0)):
                raise CodecError("a malformed deque")
            return ctor(*parts)
        if name == "defaultdict":
            if not (type(parts) is tuple and len(parts) == 2 and type(parts[1]) is dict
                    and (parts[0] is None or parts[0] in _FACTORIES)):
                raise CodecError("a malformed defaultdict")
            import builtins

            return ctor(getattr(builtins, parts[0]) if parts[0] else None, parts[1])
        if type(parts) is not dict:
            raise CodecError(f"a malformed {name}")
        return ctor(parts)


MAX_SAME_HASH = 64  # set elements or dict keys of one frame that may share a hash


def _check_hashes(keys: list) -> None:
    """Refuse set elements or dict keys of which more than ``MAX_SAME_HASH`` share one hash (multiples
    of 2**61 - 1 all hash to 0): building the set takes time quadratic in that number, in the checker."""
    if len(keys) <= MAX_SAME_HASH:
        return
    seen: dict = {}
    for h in map(hash, keys):
        n = seen.get(h, 0) + 1
        if n > MAX_SAME_HASH:
            raise CodecError(f"set elements or dict keys with colliding hashes (more than {MAX_SAME_HASH} share one)")
        seen[h] = n


def stdlib_constructors() -> dict:
    """name -> class for the rebuilt stdlib value types (imports them)."""
    import collections
    import decimal
    import fractions

    return {"Fraction": fractions.Fraction, "Decimal": decimal.Decimal, "Counter": collections.Counter,
            "OrderedDict": collections.OrderedDict, "defaultdict": collections.defaultdict,
            "deque": collections.deque}


# --------------------------------------------------------------------------------------------------
# Framing: a 4-byte little-endian length, then the body.
# --------------------------------------------------------------------------------------------------

def frame(body: bytes) -> bytes:
    return _I.pack(len(body)) + body


def frame_length(header: bytes) -> int:
    return _I.unpack(header)[0]
