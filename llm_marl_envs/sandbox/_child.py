"""What runs in a job's freshly forked process, around the untrusted program.

``prepare_worker`` runs once in the worker before anything is forked: no-new-privileges, the seccomp
filter, default signal dispositions and the jobs' environment, all inherited by every job process.
``child_main`` then turns each fresh fork into a sandboxed process (new session, only fds 0-2 (3-4 in
check mode), rlimits, unprivileged uid, private work dir) and runs the job: ``child_run`` behaves
like ``python solution.py``; ``child_serve`` loads the program and answers the trusted checker's calls
(requests on fd 3, replies on fd 4; the tests themselves run in the checker, see ``_checker.py``).
Standard library only: ``_zygote.py`` loads it inside the sandbox and sets ``LIBC`` before any fork.
"""

from __future__ import annotations

import os
import sys

if __package__:  # imported by the harness, as part of llm_marl_envs.sandbox
    from . import _codec
else:  # loaded by the zygote inside the sandbox, next to _codec.py
    import _codec

MEMORY_EXIT = 125  # exit code of a child whose program died of MemoryError
REQ_FD = 3  # check mode: the checker's requests arrive on this fd
REP_FD = 4  # check mode: the replies go out on this fd
JOB_FDS = ("stdin", "out", "err", "req", "rep")  # the job's fds 0-4, in order

LIBC = None  # ctypes handle to libc (prctl), set by the zygote
LANDLOCK_READ: tuple = ()  # rlimits: paths a job may read (Landlock), set by the zygote; empty: no Landlock


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


def child_main(body_fd: int, fds: dict, uid: int | None, workdir: str) -> None:
    """The body of a job's fresh fork (never returns): read the job from ``body_fd`` (a memfd: the
    spawner never holds a job's text, so no later job inherits it), sandbox the process, then run it.

    ``fds``: name (``JOB_FDS``) -> an inherited descriptor numbered 5 or higher."""
    try:
        import marshal  # built in: no module to load, few pages touched (json cost ~0.2 ms per fork)

        size = os.fstat(body_fd).st_size
        job = marshal.loads(os.pread(body_fd, size, 0)) if size else {}
        os.close(body_fd)
        check = job.get("mode") == "check"
        _sandbox_process(job, fds, uid, workdir, check)
        if check:
            child_serve(job)
        else:
            child_run(job)
    except BaseException:  # noqa: BLE001
        pass
    os._exit(127)


def _sandbox_process(job: dict, fds: dict, uid: int | None, workdir: str, check: bool) -> None:
    import resource

    parent = os.getppid()
    os.setsid()
    stdin = job.get("stdin") or ""
    if stdin:
        fd = os.memfd_create("stdin", 0)
        os.write(fd, stdin.encode("utf-8", "surrogateescape"))
        os.lseek(fd, 0, os.SEEK_SET)
        os.dup2(fd, 0)
    else:
        os.dup2(fds["stdin"], 0)
    wanted = JOB_FDS[1:5] if check else JOB_FDS[1:3]
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
    if LIBC is not None:  # after the uid change (which clears it): die with the spawner, i.e. with the harness
        LIBC.prctl(1, 9, 0, 0, 0)  # PR_SET_PDEATHSIG, SIGKILL
        if os.getppid() != parent:
            os._exit(126)
    os.chdir(workdir)
    if LANDLOCK_READ and not landlock_restrict(LANDLOCK_READ, workdir):
        os._exit(126)  # the worker reported this isolation: never run the job without it
    sys.argv = ["solution.py"]


_LL_READ = 1 | 4 | 8  # EXECUTE, READ_FILE, READ_DIR
_LL_FILE = 1 | 2 | 4 | 16384  # what a rule on a file (not a dir) may grant: EXECUTE, WRITE_FILE, READ_FILE, TRUNCATE


def landlock_abi() -> int:
    """The kernel's Landlock ABI version (0: none). Needs ``LIBC``."""
    if LIBC is None:
        return 0
    v = LIBC.syscall(444, None, 0, 1)  # landlock_create_ruleset(NULL, 0, LANDLOCK_CREATE_RULESET_VERSION)
    return v if v > 0 else 0


def landlock_restrict(readable: tuple, workdir: str) -> bool:
    """Confine this process and its children (Landlock, unprivileged): read-only access to
    ``readable`` (system dirs, the interpreter, this process's own /proc entry, /dev/null and
    friends), everything in ``workdir``, nothing else on the file system (no other process's /proc,
    no /tmp, /var/tmp, /dev/shm); on ABI >= 6 also no abstract Unix sockets and no signals outside
    the job. True when the restriction is in force."""
    import ctypes
    import struct

    abi = landlock_abi()
    if abi < 3:
        return False
    handled = (1 << 15) - 1  # every file-system right of ABI 3 (EXECUTE ... TRUNCATE)
    scoped = 1 | 2 if abi >= 6 else 0  # LANDLOCK_SCOPE_ABSTRACT_UNIX_SOCKET | LANDLOCK_SCOPE_SIGNAL
    attr = struct.pack("QQQ", handled, 0, scoped) if abi >= 6 else struct.pack("Q", handled)
    fd = LIBC.syscall(444, ctypes.c_char_p(attr), len(attr), 0)
    if fd < 0:
        return False
    try:
        rules = [(p, _LL_READ) for p in readable] + [(f"/proc/{os.getpid()}", _LL_READ), ("/dev/null", 2 | 4),
                                                      (workdir, handled)]
        for path, rights in rules:
            try:
                pfd = os.open(path, os.O_PATH | os.O_CLOEXEC)
            except OSError:
                continue
            try:
                if not os.path.isdir(path):
                    rights &= _LL_FILE
                rule = struct.pack("=Qi", rights, pfd)  # struct landlock_path_beneath_attr (packed)
                if LIBC.syscall(445, fd, 1, ctypes.c_char_p(rule), 0) != 0:
                    return False
            finally:
                os.close(pfd)
        return LIBC.syscall(446, fd, 0) == 0  # landlock_restrict_self
    finally:
        os.close(fd)


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


def _builtin_name(exc: BaseException) -> str:
    """The nearest builtin exception class of ``exc`` (what the checker raises in its place)."""
    import builtins

    try:
        for cls in type(exc).__mro__:
            if builtins.__dict__.get(cls.__name__) is cls:
                return cls.__name__
    except BaseException:  # noqa: BLE001
        pass
    return "Exception"


def _message(exc: BaseException) -> str:
    try:
        text = str(exc)
        return text[:2000] if type(text) is str else ""
    except BaseException:  # noqa: BLE001
        return ""


def child_serve(job: dict) -> None:
    """Check mode: load the program (and the task's program-side setup), then answer the checker's
    requests on fd 3 with replies on fd 4 until fd 3 ends. No test, expected value or pass/fail
    record ever reaches this process: it only calls what it is asked to call and sends back plain
    data (``_codec``); whatever it sends, the checker decodes it strictly."""
    _write, _exit = os.write, _flush_and_exit
    handles: list = []

    def keep(obj) -> int:
        handles.append(obj)
        return len(handles) - 1

    g = _fresh_module("solution")  # not "__main__": a solution's ``if __name__ == "__main__":`` demo must not run

    def resolve(name: str):
        try:
            return g[name]
        except KeyError:
            raise NameError(f"name {name!r} is not defined by the program") from None

    def send(value) -> None:
        data = _codec.frame(_codec.Encoder(keep=keep).encode(value))
        while data:
            data = data[_write(REP_FD, data):]

    try:
        exec(compile(job["source"], "solution.py", "exec"), g)
        if job.get("setup"):
            exec(compile(job["setup"], "test_setup.py", "exec"), g)
    except BaseException as exc:  # noqa: BLE001 - untrusted code may raise anything
        if not isinstance(exc, SystemExit):
            _print_exc(exc)
        try:
            send((0, "loadfail", type(exc).__name__ if isinstance(type(exc).__name__, str) else "?", _message(exc)))
        except BaseException:  # noqa: BLE001
            pass
        _exit(_exit_code_of(exc))
    encoder = _codec.Encoder(keep=keep)  # sees the stdlib types the program imported
    decoder = _codec.Decoder(lambda hid, _name: handles[hid], resolve, _codec.stdlib_constructors())
    send((0, "ready"))
    mutable = (list, dict, set, bytearray)
    while True:
        head = _read_exact(REQ_FD, 4)
        if head is None:
            _exit(0)
        n = _codec.frame_length(head)
        body = _read_exact(REQ_FD, n) if n <= _codec.MAX_FRAME else None
        if body is None:
            _exit(0)
        seq = -1
        try:
            seq, kind, target, args, kwargs = decoder.decode(body)
            if kind == "call":
                result = target(*args, **kwargs)
            elif kind == "getattr":
                result = getattr(target, args[0])
            elif kind == "bool":
                result = bool(target)
            else:
                result = str(target)
            back = [(i, a) for i, a in enumerate(args) if type(a) in mutable]
            back += [(k, v) for k, v in kwargs.items() if type(v) in mutable]
            data = encoder.encode((seq, "ok", result, back))
        except _codec.CodecError as exc:
            data = encoder.encode((_seq_of(body, seq), "bad", str(exc)))
        except BaseException as exc:  # noqa: BLE001 - the program's exception, by its builtin class
            seq = _seq_of(body, seq)  # one raised while decoding (a name the program lacks) answers its request
            try:
                data = encoder.encode((seq, "raise", _builtin_name(exc), _message(exc)))
            except BaseException:  # noqa: BLE001
                data = encoder.encode((seq, "raise", "Exception", ""))
        data = _codec.frame(data)
        while data:
            data = data[_write(REP_FD, data):]


def _seq_of(body: bytes, seq: int) -> int:
    """The request's sequence number when decoding it failed part way (it is the tuple's first item)."""
    if seq < 0 and body[:1] == b"t" and body[5:6] == b"i":
        return _codec._Q.unpack(body[6:14])[0]
    return seq


def _read_exact(fd: int, n: int) -> bytes | None:
    """Exactly ``n`` bytes from ``fd``, or ``None`` at end of file (also used by the zygote)."""
    chunks = []
    while n > 0:
        chunk = os.read(fd, min(n, 1 << 20))
        if not chunk:
            return None
        chunks.append(chunk)
        n -= len(chunk)
    return b"".join(chunks)
