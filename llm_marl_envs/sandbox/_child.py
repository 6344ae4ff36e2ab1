"""What runs in a job's freshly forked process, around the untrusted program.

``prepare_worker`` runs once in the worker before anything is forked: no-new-privileges, the seccomp
filter, default signal dispositions and the jobs' environment, all inherited by every job process.
``child_main`` then turns each fresh fork into a sandboxed process (new session, only fds 0-2 (3-4 in
verify mode), rlimits, unprivileged uid, private work dir) and runs the job: ``child_run`` behaves
like ``python solution.py``; ``child_verify`` loads the solution and runs the test driver, streaming
per-test records to fd 3 and, at the end, the nonce it reads from fd 4 only after the tests ran.
Standard library only: ``_zygote.py`` loads it inside the sandbox and sets ``LIBC`` and
``PLAIN_CHECKS`` before any fork.
"""

from __future__ import annotations

import os
import sys

MEMORY_EXIT = 125  # exit code of a child whose program died of MemoryError
LOAD_FAIL = "L"  # result-channel records (verify mode): load failure, pass, fail, end
RESULT_FD = 3  # verify mode: per-test records go to this fd
NONCE_FD = 4  # verify mode: the nonce is read from this fd, only after every test ran
JOB_FDS = ("stdin", "out", "err", "res", "nonce")  # the job's fds 0-4, in order

LIBC = None  # ctypes handle to libc (prctl), set by the zygote
PLAIN_CHECKS = None  # (plain_eq, plain_truth) for test asserts, built by the zygote before any job


def prepare_worker(seccomp_filter, workdir: str) -> bool:
    """Once per worker, before any job is forked: what every job process inherits. Returns whether
    the seccomp filter is on (it then covers the worker itself too: nothing it does needs more)."""
    import _signal as signal

    for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGALRM):
        signal.signal(sig, signal.SIG_DFL)
    os.environ.clear()
    os.environ.update({"PATH": "/usr/bin:/bin", "LANG": "C.UTF-8", "HOME": workdir, "TMPDIR": workdir})
    if LIBC is None:
        return False
    LIBC.prctl(38, 1, 0, 0, 0)  # PR_SET_NO_NEW_PRIVS: setuid binaries cannot raise privileges
    return seccomp_filter is not None and LIBC.prctl(22, 2, seccomp_filter[0], 0, 0) == 0  # PR_SET_SECCOMP


def child_main(job_bytes: bytes, setup, driver, fds: dict, uid: int | None, workdir: str) -> None:
    """The body of a job's fresh fork (never returns): sandbox the process, then run the job.

    ``setup``/``driver``: the trusted test code (verify mode), compiled by the worker before the
    fork or, when it did not compile, its text (the child reports the error). ``fds``: name
    (``JOB_FDS``) -> an inherited descriptor numbered 5 or higher."""
    try:
        import marshal  # built in: no module to load, few pages touched (json cost ~0.2 ms per fork)

        job = marshal.loads(job_bytes)
        verify = job.get("mode") == "verify"
        _sandbox_process(job, fds, uid, workdir, verify)
        if verify:
            child_verify(job, setup, driver)
        else:
            child_run(job)
    except BaseException:  # noqa: BLE001
        pass
    os._exit(127)


def _sandbox_process(job: dict, fds: dict, uid: int | None, workdir: str, verify: bool) -> None:
    import resource

    os.setsid()
    stdin = job.get("stdin") or ""
    if stdin:
        fd = os.memfd_create("stdin", 0)
        os.write(fd, stdin.encode("utf-8", "surrogateescape"))
        os.lseek(fd, 0, os.SEEK_SET)
        os.dup2(fd, 0)
    else:
        os.dup2(fds["stdin"], 0)
    wanted = JOB_FDS[1:5] if verify else JOB_FDS[1:3]
    for target, name in enumerate(wanted, start=1):
        os.dup2(fds[name], target)  # the sources are >= 5 (see spawner_loop): no clobbering
    os.closerange(len(wanted) + 1, 65536)
    mem = int(job["memory_mb"]) * 1024 * 1024
    cpu = int(job["cpu_s"])
    limits = [
        (resource.RLIMIT_AS, mem, mem),
        (resource.RLIMIT_CPU, cpu, cpu + 1),
        (resource.RLIMIT_FSIZE, int(job["fsize"]), int(job["fsize"])),
        (resource.RLIMIT_NOFILE, int(job["nofile"]), int(job["nofile"])),
        (resource.RLIMIT_NPROC, int(job["nproc"]), int(job["nproc"])),
        (resource.RLIMIT_CORE, 0, 0),
    ]
    for which, soft, hard in limits:
        resource.setrlimit(which, (soft, hard))
    if uid is not None:
        os.setgroups([])
        os.setgid(uid)
        os.setuid(uid)
        if os.getuid() != uid or os.geteuid() != uid:
            os._exit(126)
    os.chdir(workdir)
    sys.argv = ["solution.py"]


def _fresh_module(name: str) -> dict:
    """The globals of a new module registered in ``sys.modules`` (pickle, dataclasses and
    ``typing.get_type_hints`` look classes' modules up there)."""
    import builtins
    import types

    module = types.ModuleType(name)
    module.__dict__["__builtins__"] = builtins
    module.__file__ = "solution.py"
    sys.modules[name] = module
    return module.__dict__


def _exit_code_of(exc: BaseException) -> int:
    if isinstance(exc, SystemExit):
        code = exc.code
        if code is None:
            return 0
        if isinstance(code, int):
            return code & 0xFF
        try:
            sys.stderr.write(f"{code}\n")
        except BaseException:
            pass
        return 1
    if isinstance(exc, MemoryError):
        return MEMORY_EXIT
    return 1


def _print_exc(exc: BaseException) -> None:
    try:
        import traceback

        tb = exc.__traceback__
        while tb is not None and tb.tb_frame.f_code.co_filename == __file__:
            tb = tb.tb_next  # hide the harness's own frames, as ``python solution.py`` would
        traceback.print_exception(type(exc), exc, tb)
    except BaseException:
        try:
            os.write(2, f"{type(exc).__name__}\n".encode())
        except BaseException:
            pass


def _flush_and_exit(code: int) -> None:
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except BaseException:
            pass
    os._exit(code)


def child_run(job: dict) -> None:
    """Plain mode: behave like ``python solution.py``."""
    g = _fresh_module("__main__")
    try:
        code = compile(job["source"], "solution.py", "exec")
        exec(code, g)
    except BaseException as exc:  # noqa: BLE001 - untrusted code may raise anything
        if not isinstance(exc, SystemExit):
            _print_exc(exc)
        _flush_and_exit(_exit_code_of(exc))
    _flush_and_exit(0)


def child_verify(job: dict, setup, driver) -> None:
    """Verify mode: load the solution, then the tests, streaming one record per test to RESULT_FD.

    Every reference used after the solution ran is captured first (the solution may patch
    builtins, ``os`` or ``sys``). The nonce is read from NONCE_FD only after every test ran, so it
    is not in this process's memory while untrusted code runs.
    """
    _write, _read, _exec, _compile = os.write, os.read, exec, compile
    _type, _isinstance, _id = type, isinstance, id
    _base = BaseException

    _plain_eq, _plain_truth = PLAIN_CHECKS or make_checks(_type, _isinstance, _id)

    def record(line: str) -> None:
        data = (line + "\n").encode("ascii", "replace")
        while data:
            n = _write(RESULT_FD, data)
            data = data[n:]

    def passed(i: int) -> None:
        record(f"P {int(i)}")

    def failed(i: int, exc: BaseException | None = None) -> None:
        name = "?"
        try:
            name = _type(exc).__name__ if exc is not None else "AssertionError"
            name = "".join(c for c in str(name) if c.isalnum() or c == "_")[:60] or "?"
        except _base:
            pass
        record(f"F {int(i)} {name}")

    # The tests run in a namespace of their own, with builtins (and ``math``) as they were before the
    # solution ran: ``set = lambda *a: 0``, ``builtins.abs = ...`` or ``math.isclose = ...`` in the
    # solution does not reach them.
    import builtins
    import math

    _str, _dict, _builtins_before, _math_before = str, dict, dict(builtins.__dict__), dict(math.__dict__)
    _modules, _math = sys.modules, math
    # not "__main__": a solution's ``if __name__ == "__main__":`` demo (reading stdin) must not run
    g = _fresh_module("solution")
    try:
        code = _compile(job["source"], "solution.py", "exec")
    except _base as exc:  # SyntaxError, ValueError (null bytes), RecursionError ...
        _print_exc(exc)
        record(f"{LOAD_FAIL} {_type(exc).__name__}")
        _flush_and_exit(1)
    try:
        _exec(code, g)
    except _base as exc:  # noqa: BLE001
        if not _isinstance(exc, SystemExit):
            _print_exc(exc)
        try:
            record(f"{LOAD_FAIL} {_type(exc).__name__}")
        except _base:
            pass
        _flush_and_exit(_exit_code_of(exc))
    try:
        if setup:
            _exec(_compile(setup, "test_setup.py", "exec") if _isinstance(setup, str) else setup, g)
        _math.__dict__.update(_math_before)
        _modules["math"] = _math
        # The solution's names over the builtins as they were before it ran; a name that rebinds a
        # builtin reaches the tests only as the function under test (MBPP's ``sum``).
        entry = job.get("entry_point") or ""
        tests = {k: v for k, v in _dict.items(g) if _isinstance(k, _str) and not k.startswith("__")
                 and (k not in _builtins_before or k == entry)}
        tests.update(__builtins__=_builtins_before, __name__="tests")
        _exec(_compile(driver, "tests.py", "exec") if _isinstance(driver, str) else driver, tests)
        driver = tests.pop("__harness_driver__")
        driver(passed, failed, _plain_eq, _plain_truth)
    except _base as exc:  # noqa: BLE001 - a broken test harness stage fails the remaining tests
        _print_exc(exc)
        record(f"X {_type(exc).__name__}")
    try:  # a solution that drained fd 4 itself finds it at end of file: no nonce
        nonce = _read(NONCE_FD, 256).decode("ascii", "replace").strip()
    except _base:
        nonce = ""
    record(f"END {nonce}")
    _flush_and_exit(0)


_TRUSTED_COMPARISONS = (  # stdlib classes whose comparisons may be written in Python
    ("collections", "Counter"), ("collections", "OrderedDict"), ("collections", "defaultdict"),
    ("collections", "deque"), ("fractions", "Fraction"), ("decimal", "Decimal"), ("datetime", "date"),
    ("datetime", "datetime"), ("datetime", "time"), ("datetime", "timedelta"), ("enum", "Enum"),
    ("enum", "IntEnum"), ("enum", "ReprEnum"), ("enum", "Flag"), ("enum", "IntFlag"),
    # the numeric ABCs declare abstract comparisons that concrete classes (Fraction) override
    ("numbers", "Number"), ("numbers", "Complex"), ("numbers", "Real"), ("numbers", "Rational"),
    ("numbers", "Integral"),
)


_CONTAINS = ("__contains__", "__iter__", "__getitem__", "__eq__", "__ne__")  # what ``x in c`` may call on c


def make_checks(_type, _isinstance, _id):
    """``(plain_eq, plain_truth)`` for rewritten test asserts, built before the solution runs from
    captured builtins (a solution may patch ``builtins``).

    A value counts only when no class on its MRO (read through ``type``'s own descriptors, so a
    metaclass cannot lie) defines the method in its own ``__dict__``, except the builtin types and a
    few stdlib classes. That refuses AlwaysEqual objects, ``__eq__ = id``, ``class I(int): __eq__ =
    int.__ne__`` and lying ``__bool__``/``__len__``. Containers are walked with the builtin iterators
    (an overridden ``__iter__`` cannot hide an element)."""
    mro_of = type.__dict__["__mro__"].__get__
    dict_of = type.__dict__["__dict__"].__get__
    flags_of = type.__dict__["__flags__"].__get__
    heap_type = 1 << 9  # Py_TPFLAGS_HEAPTYPE: a class made by a class statement (or type()), not C
    _all, _bool, _getattr, _assertion = all, bool, getattr, AssertionError
    trusted = {_id(t) for t in (object, int, float, complex, bool, str, bytes, bytearray, list, tuple, dict, set,
                                frozenset, _type(None), range)}
    for mod, name in _TRUSTED_COMPARISONS:
        try:
            trusted.add(_id(_getattr(__import__(mod), name)))
        except Exception:  # noqa: BLE001
            pass
    walkers = ((dict, dict.items), (list, list.__iter__), (tuple, tuple.__iter__), (set, set.__iter__),
               (frozenset, frozenset.__iter__))

    def plain(t, names) -> bool:
        for cls in mro_of(t):
            if _id(cls) in trusted or not flags_of(cls) & heap_type:  # builtins, stdlib, C types
                continue
            d = dict_of(cls)
            for n in names:
                if n in d:
                    return False
        return True

    def safe(x: object, depth: int = 0) -> bool:
        if depth > 50 or not plain(_type(x), ("__eq__", "__ne__")):
            return False
        for base, walk in walkers:
            if _isinstance(x, base):
                if base is dict:
                    return _all(safe(k, depth + 1) and safe(v, depth + 1) for k, v in walk(x))
                return _all(safe(y, depth + 1) for y in walk(x))
        return True

    def plain_eq(a: object, b: object, negate: bool = False, contains: bool = False) -> bool:
        """``a == b`` (``a in b`` with ``contains``), negated with ``negate``. A value whose comparison
        could lie fails the test (raises), so that no ``not``/``or`` around the check can turn the
        refusal into a pass."""
        try:
            ok = safe(a) and (contains and plain(_type(b), _CONTAINS) or safe(b))
        except RecursionError:
            ok = False
        if not ok:
            raise _assertion("a value that defines its own comparison")
        return _bool(a in b if contains else a == b) != negate

    def plain_truth(value: object, negate: bool = False) -> bool:
        if not plain(_type(value), ("__bool__", "__len__")):
            return False
        return _bool(value) != negate

    return plain_eq, plain_truth
