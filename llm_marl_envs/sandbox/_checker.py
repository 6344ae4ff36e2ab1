"""The trusted checker: runs a task's tests against a program that lives in another process.

It runs inside the sandbox worker's zygote (the process that never runs model code; jobs are forks of
a spawner forked before any test was loaded), so the tests, the expected values, the pass/fail
record and this code never exist in the program's process. The tests see the program only through
proxies (``RemoteName`` for a name of the program's module, ``RemoteObject`` for an object the
program returned that is not plain data); every use of a proxy is a request over a pipe, answered
with plain data decoded by ``_codec`` (checked types, bounded size and depth, a hard deadline).

What crosses, and how:

* a call's arguments go as plain data (a proxy passed back goes as a reference to the program's
  object); after the call the program sends back the new contents of every list, dict, set and
  bytearray argument, and the checker updates its own argument in place (in-place tests work);
* the result comes back as plain data; a generator or iterator is drained on the program's side (at
  most ``_codec.MAX_ITEMS`` items) and becomes an iterator over those items; any other object stays
  there and becomes a ``RemoteObject`` that can be called, have attributes read (not dunders), be
  passed back, and answer ``bool()`` and ``str()`` (the program's own answers, which it could as
  well have returned as plain values), while comparing, hashing, iterating, indexing, measuring or
  doing arithmetic with it fails the test with a clear detail (a comparison would hand the expected
  value to the program);
* an exception raised by the program comes back as its nearest builtin exception class and its
  message (``pytest.raises(ValueError)``-style tests work; the program's own exception classes do
  not cross); ``StopIteration``/``StopAsyncIteration`` arrive as ``RuntimeError``, as PEP 479 has it
  for generators (they would end the tests' own ``map``/``zip``/``for`` early); a program that dies, hangs past the deadline, floods its output or breaks the protocol
  fails the running test and every later one.

Standard library only.
"""

from __future__ import annotations

import builtins
import os
import select
import time

if __package__:  # imported by the harness, as part of llm_marl_envs.sandbox
    from . import _codec
else:  # loaded by the zygote inside the sandbox, next to _codec.py
    import _codec


ENDED = "the program's process ended"  # the reason a pump gives once the spawner reported the end


def _readable(fd: int) -> bool:
    """Whether a read of ``fd`` would not block now (data, or end of file)."""
    probe = select.poll()
    probe.register(fd, select.POLLIN)
    return bool(probe.poll(0))


class ProgramGone(BaseException):
    """The program's process can no longer answer (died, timed out, broke the protocol). Not an
    ``Exception``: a test's ``except Exception`` cannot swallow it."""


class Uncarriable(BaseException):
    """A value that cannot cross or a proxy used in a way only the program could answer."""


class ProgramError(Exception):
    """An exception of the program's with no builtin class to stand for it."""


def _fail_use(what: str):
    def refuse(self, *args, **kwargs):
        raise self._chan.refuse(f"{what} on {self._describe()}, which stays in the program's process")
    return refuse


class _Proxy:
    __slots__ = ("_chan", "_target")

    def __call__(self, *args, **kwargs):
        return self._chan.request("call", self._target, args, kwargs)

    def __getattr__(self, name: str):
        if name.startswith("__"):
            raise AttributeError(name)
        return self._chan.request("getattr", self._target, (name,), {})

    def __bool__(self) -> bool:  # the program's own answer; it could as well have returned a bool
        value = self._chan.request("bool", self._target, (), {})
        if type(value) is not bool:
            raise self._chan.refuse("the program's truth value is not a bool")
        return value

    def __str__(self) -> str:  # likewise: it could have returned the str
        value = self._chan.request("str", self._target, (), {})
        if type(value) is not str:
            raise self._chan.refuse("the program's str() is not a str")
        return value

    def __repr__(self) -> str:
        return f"<{self._describe()}>"

    __eq__ = _fail_use("==")
    __ne__ = _fail_use("!=")
    __lt__ = _fail_use("<")
    __le__ = _fail_use("<=")
    __gt__ = _fail_use(">")
    __ge__ = _fail_use(">=")
    __len__ = _fail_use("len()")
    __iter__ = _fail_use("iteration")
    __contains__ = _fail_use("'in'")
    __getitem__ = _fail_use("indexing")
    __hash__ = _fail_use("hashing")
    __add__ = __radd__ = __sub__ = __rsub__ = __mul__ = __rmul__ = _fail_use("arithmetic")
    __truediv__ = __floordiv__ = __mod__ = __neg__ = __abs__ = _fail_use("arithmetic")
    __index__ = __int__ = __float__ = _fail_use("a number conversion")


class RemoteName(_Proxy):
    __slots__ = ()

    def __init__(self, chan: Channel, name: str) -> None:
        self._chan = chan
        self._target = _codec.NameRef(name)

    def _describe(self) -> str:
        return f"the program's {self._target.name!r}"


class RemoteObject(_Proxy):
    __slots__ = ()

    def __init__(self, chan: Channel, hid: int, type_name: str) -> None:
        self._chan = chan
        self._target = _codec.Handle(hid, type_name)

    def _describe(self) -> str:
        return f"a {self._target.type_name} object of the program"


_MUTABLE = (list, dict, set, bytearray)


def _write_back(arg, new) -> None:
    """Make the checker's argument hold what the program's copy holds after the call."""
    t = type(arg)
    if type(new) is not t:
        return
    if t is list or t is bytearray:
        arg[:] = new
    elif t is dict:
        arg.clear()
        arg.update(new)
    elif t is set:
        arg.clear()
        arg |= new


class Channel:
    """Requests to the program's process over two pipes, with a deadline. ``pump``: the zygote's
    callback run whenever other descriptors (the program's stdout/stderr, the spawner's report) are
    ready; it returns why the program is gone, or ``None``."""

    def __init__(self, req_fd: int, rep_fd: int, poller, pump, deadline: float) -> None:
        self.req_fd = req_fd
        self.rep_fd = rep_fd
        self.poller = poller
        self.pump = pump
        self.deadline = deadline
        self.seq = 0
        self.buf = b""  # bytes read from the reply pipe beyond the frame being decoded
        self.gone: str | None = None
        self.fault: str | None = None  # the last refusal or loss during the current test
        self.calls = 0
        self.decoder = _codec.Decoder(self._handle, None, _codec.stdlib_constructors())
        self.encoder = _codec.Encoder(keep=None, on_ref=_ref_bytes)

    def _handle(self, hid: int, type_name: str) -> RemoteObject:
        return RemoteObject(self, hid, type_name)

    def refuse(self, detail: str) -> Uncarriable:
        self.fault = detail
        return Uncarriable(detail)

    def lost(self, why: str) -> ProgramGone:
        if self.gone is None:
            self.gone = why
        self.fault = self.gone
        return ProgramGone(self.gone)

    # --- the wire -----------------------------------------------------------------------------

    def _wait(self, fd: int, event: int) -> None:
        self.poller.register(fd, event)
        try:
            while True:
                left = self.deadline - time.monotonic()
                if left <= 0:
                    raise self.lost("timeout")
                ready = self.poller.poll(max(1, int(left * 1000) + 1))
                if any(f == fd for f, _ in ready):
                    return
                why = self.pump()
                if why:
                    if why == ENDED and event == select.POLLIN and _readable(fd):
                        return  # it wrote its last reply, then ended between the poll and the pump
                    raise self.lost(why)
        finally:
            self.poller.unregister(fd)

    def _send(self, data: bytes) -> None:
        view = memoryview(data)
        while view:
            try:  # the pipe usually has room: write first, wait only when it is full
                n = os.write(self.req_fd, view[: 1 << 16])
            except BlockingIOError:
                self._wait(self.req_fd, select.POLLOUT)
                continue
            except OSError:
                raise self.lost("the program closed its request pipe") from None
            view = view[n:]

    def _read(self, n: int) -> bytes:
        """``n`` bytes of the reply stream (reading ahead into ``buf``, at most a frame's worth)."""
        while len(self.buf) < n:
            if time.monotonic() > self.deadline:
                raise self.lost("timeout")
            try:
                chunk = os.read(self.rep_fd, max(n - len(self.buf), 1 << 16))
            except BlockingIOError:
                self._wait(self.rep_fd, select.POLLIN)
                continue
            if not chunk:
                raise self.lost(ENDED)
            self.buf += chunk
        data, self.buf = self.buf[:n], self.buf[n:]
        return data

    def receive(self):
        n = _codec.frame_length(self._read(4))
        if n > _codec.MAX_FRAME:
            raise self.lost(f"protocol: a reply of {n} bytes (the limit is {_codec.MAX_FRAME})")
        body = self._read(n)
        try:
            return self.decoder.decode(body)
        except _codec.CodecError as exc:
            raise self.lost(f"protocol: {exc}") from None

    # --- requests -----------------------------------------------------------------------------

    def request(self, kind: str, target, args: tuple, kwargs: dict):
        if self.gone is not None:
            raise self.lost(self.gone)
        try:
            body = self.encoder.encode((self.seq + 1, kind, target, tuple(args), dict(kwargs)))
        except _codec.CodecError as exc:
            raise self.refuse(f"an argument cannot be sent to the program: {exc}") from None
        self.seq += 1
        self.calls += 1
        self._send(_codec.frame(body))
        reply = self.receive()
        if type(reply) is not tuple or len(reply) < 2 or reply[0] != self.seq or type(reply[1]) is not str:
            raise self.lost("protocol: a reply out of turn")
        status = reply[1]
        if status == "ok" and len(reply) == 4 and type(reply[3]) is list:
            for item in reply[3]:
                if type(item) is tuple and len(item) == 2:
                    key, new = item
                    arg = args[key] if type(key) is int and 0 <= key < len(args) else kwargs.get(key) \
                        if type(key) is str else None
                    if type(arg) in _MUTABLE:
                        _write_back(arg, new)
            return reply[2]  # a drained iterator, at any depth, is already an iterator (``_codec``)
        if status == "raise" and len(reply) == 4 and type(reply[2]) is str and type(reply[3]) is str:
            raise _exception(reply[2], reply[3])
        if status == "bad" and len(reply) == 3 and type(reply[2]) is str:
            raise self.refuse(f"the program's result cannot cross: {reply[2][:200]}")
        raise self.lost("protocol: a malformed reply")


def _ref_bytes(v):
    t = type(v)
    if t is RemoteName or t is RemoteObject:
        target = object.__getattribute__(v, "_target")
        if type(target) is _codec.NameRef:
            return b"n" + _codec._short(target.name)
        return b"h" + _codec._I.pack(target.id) + _codec._short(target.type_name)
    return None


_NOT_RAISED = ("BaseException", "SystemExit", "KeyboardInterrupt", "GeneratorExit")
# Raised by the program, these would end a ``map``/``zip``/``for`` over the program's calls in the
# checker's tests early (a loop of asserts that never runs passes); they cross as RuntimeError.
_ITERATION_ENDS = ("StopIteration", "StopAsyncIteration")


def _exception(name: str, message: str) -> BaseException:
    """The checker's own exception for one the program raised: the builtin class of that name (its
    nearest constructible base), else ``ProgramError``."""
    if name in _ITERATION_ENDS:  # as PEP 479 does: a call cannot end the checker's own iteration
        return RuntimeError(f"{name}: {message}")
    cls = builtins.__dict__.get(name)
    if isinstance(cls, type) and issubclass(cls, Exception):
        for base in cls.__mro__:
            if base is Exception or base is BaseException:
                break
            try:
                return base(message)
            except Exception:  # noqa: BLE001 - e.g. UnicodeDecodeError wants five arguments
                continue
    return ProgramError(f"{name}: {message}")


def _describe_exception(exc: BaseException) -> str:
    try:
        text = str(exc)
    except Exception:  # noqa: BLE001
        text = ""
    name = type(exc).__name__
    return f"{name}: {text[:150]}" if text else name


def _literal_eval(source, globals=None, locals=None):  # noqa: A002 - eval's own signature
    """``eval`` as the tests see it: literals only. A test that evals the program's output
    (``eval(f())``) would otherwise run the program's text here, in the checker."""
    import ast

    if type(source) is not str:
        raise TypeError("eval() in a test takes a str of a literal (program text never runs in the checker)")
    try:
        return ast.literal_eval(source.strip())
    except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError) as exc:
        raise ValueError(f"eval() in a test takes only a literal ({type(exc).__name__})") from None


def _no_code(*args, **kwargs):
    raise TypeError("exec()/compile() are not available to tests (program text never runs in the checker)")


_TEST_BUILTINS = {"eval": _literal_eval, "exec": _no_code, "compile": _no_code}


def run_checks(code, remote: tuple, modules: tuple, n_tests: int, chan: Channel) -> tuple[list[str], str]:
    """Run the plan ``code`` (compiled module) against the program behind ``chan``; returns one record
    per test (``"P"`` or ``"F <why>"``) and a note on why the run stopped early (or ``""``)."""
    records: list[str | None] = [None] * n_tests
    note = ""

    def passed(i: int) -> None:
        if records[i] is None:
            records[i] = "P" if chan.fault is None else f"F {chan.fault}"
        chan.fault = None

    def failed(i: int, exc: BaseException) -> None:
        if records[i] is None:
            records[i] = "F " + (chan.fault if chan.fault is not None and not isinstance(exc, AssertionError)
                                 else _describe_exception(exc))
        chan.fault = None

    ns = {"__builtins__": {**builtins.__dict__, **_TEST_BUILTINS}, "__name__": "tests"}
    try:
        import importlib

        for name in modules:
            try:
                ns[name] = importlib.import_module(name)
            except ImportError:
                pass
        for name in remote:
            ns[name] = RemoteName(chan, name)
        exec(code, ns)
        ns["__harness_driver__"](passed, failed)
    except ProgramGone:
        note = chan.gone or "the program stopped answering"
    except Uncarriable as exc:  # a refused value in a statement outside any test (``n = len(f(1))``)
        note = f"the test program stopped: {chan.fault or exc}"
    except Exception as exc:  # noqa: BLE001 - a broken test module fails the tests it did not reach
        note = f"the test program stopped: {_describe_exception(exc)}"
    if chan.gone and not note:
        note = chan.gone
    out = [_one_line(r) if r is not None else f"F not run ({_one_line(note) or 'the test program ended early'})"
           for r in records]
    return out, note


def _one_line(record: str) -> str:
    """A record on one line: the records travel joined by newlines, and a program's exception
    message (``ValueError("boom\\nP")``) must not add records of its own."""
    return record.replace("\\", "\\\\").replace("\n", "\\n").replace("\r", "\\r") if (
        "\n" in record or "\r" in record) else record
