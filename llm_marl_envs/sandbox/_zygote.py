"""The in-sandbox worker ("zygote"): a small stdlib-only script that runs INSIDE the isolation boundary.

It is started once per worker as ``python -I -S _zygote.py <options>`` (inside bubblewrap, ``unshare`` or
bare rlimits, see ``backend.py``), pre-imports common modules, then serves jobs read from fd 0 and answers
on fd 1, one job at a time. For every job it forks a fresh child that, before running any untrusted code:
starts a new session, closes every inherited descriptor, applies the rlimits (AS, CPU, FSIZE, NOFILE,
NPROC, CORE=0), drops to a per-worker unprivileged uid (when the zygote runs as root), sets
no-new-privileges, installs a seccomp syscall filter (x86-64), enters a fresh private work directory
and clears the environment. The zygote enforces the wall clock (SIGKILL of the
child's process group), caps stdout/stderr while reading them incrementally, and afterwards kills every
process the job left behind (a double-forked daemon included) and removes the work directory.

Framing on both pipes: a 4-byte big-endian length, then a UTF-8 JSON object. This file must import
nothing outside the standard library (it runs with ``-I -S`` and only this file is visible inside the
sandbox); the harness imports it too, for the framing helpers and constants.
"""

from __future__ import annotations

import json
import os
import struct
import sys
import time

MEMORY_EXIT = 125  # exit code of a child whose program died of MemoryError
LOAD_FAIL = "L"  # result-channel records (verify mode): load failure, pass, fail, end
RESULT_FD = 3  # verify mode: per-test records go to this fd
NONCE_FD = 4  # verify mode: the nonce is read from this fd, only after every test ran
_HEADER = struct.Struct(">I")
MAX_FRAME = 256 * 1024 * 1024


def encode_frame(obj: dict) -> bytes:
    """Serialise one message: length prefix + JSON."""
    data = json.dumps(obj, ensure_ascii=True).encode("ascii")
    return _HEADER.pack(len(data)) + data


def _read_exact(fd: int, n: int) -> bytes | None:
    chunks = []
    while n > 0:
        chunk = os.read(fd, min(n, 1 << 20))
        if not chunk:
            return None
        chunks.append(chunk)
        n -= len(chunk)
    return b"".join(chunks)


def read_frame(fd: int) -> dict | None:
    """Read one message from ``fd``; ``None`` at end of file."""
    head = _read_exact(fd, _HEADER.size)
    if head is None:
        return None
    (n,) = _HEADER.unpack(head)
    if n > MAX_FRAME:
        raise ValueError(f"frame of {n} bytes is too large")
    body = _read_exact(fd, n)
    if body is None:
        return None
    return json.loads(body)


# --------------------------------------------------------------------------------------------------
# The child: everything below runs in the forked process that executes untrusted code.
# --------------------------------------------------------------------------------------------------


def _child_setup(job: dict, fds: dict, uid: int | None, workdir: str) -> None:
    import fcntl
    import resource

    os.setsid()
    # Move the sources out of the way first so that no dup2 below clobbers another source.
    high = {name: fcntl.fcntl(fd, fcntl.F_DUPFD, 200) for name, fd in fds.items()}
    targets = {"stdin": 0, "out": 1, "err": 2, "res": RESULT_FD, "nonce": NONCE_FD}
    for name, fd in high.items():
        os.dup2(fd, targets[name])
    os.closerange(max(targets[name] for name in high) + 1, 65536)
    mem = int(job["memory_mb"]) * 1024 * 1024
    cpu = int(job["cpu_s"])
    limits = [
        (resource.RLIMIT_AS, mem),
        (resource.RLIMIT_CPU, cpu),
        (resource.RLIMIT_FSIZE, int(job["fsize"])),
        (resource.RLIMIT_NOFILE, int(job["nofile"])),
        (resource.RLIMIT_NPROC, int(job["nproc"])),
        (resource.RLIMIT_CORE, 0),
    ]
    for which, value in limits:
        hard = value + 1 if which == resource.RLIMIT_CPU else value
        resource.setrlimit(which, (value, hard))
    if uid is not None:
        os.setgroups([])
        os.setgid(uid)
        os.setuid(uid)
        if os.getuid() != uid or os.geteuid() != uid:
            os._exit(126)
    if _LIBC is not None:
        _LIBC.prctl(38, 1, 0, 0, 0)  # PR_SET_NO_NEW_PRIVS: setuid binaries cannot raise privileges
        if _SECCOMP is not None and _LIBC.prctl(22, 2, _SECCOMP[0], 0, 0) != 0:  # PR_SET_SECCOMP, FILTER
            os._exit(126)  # the filter was verified at start-up; refuse to run without it
    os.chdir(workdir)
    os.environ.clear()
    os.environ.update({"PATH": "/usr/bin:/bin", "LANG": "C.UTF-8", "HOME": workdir, "TMPDIR": workdir})
    sys.argv = ["solution.py"]
    import signal

    for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGALRM):
        signal.signal(sig, signal.SIG_DFL)


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
            tb = tb.tb_next  # hide the zygote's own frames, as ``python solution.py`` would
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


def _child_run(job: dict) -> None:
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


def _child_verify(job: dict) -> None:
    """Verify mode: load the solution, then the tests, streaming one record per test to RESULT_FD.

    Every reference used after the solution ran is captured first (the solution may patch
    builtins, ``os`` or ``sys``). The nonce is read from NONCE_FD only after every test ran, so it
    is not in this process's memory while untrusted code runs.
    """
    _write, _read, _exec, _compile, _len = os.write, os.read, exec, compile, len
    _type, _isinstance, _id, _repr = type, isinstance, id, repr
    _base = BaseException

    _plain_eq = _PLAIN_EQ or _make_plain_eq(_type, _isinstance, _id, _len)

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

    def truth(value: object, negate: bool = False) -> bool:
        return _plain_truth(value, negate, _type, _isinstance)

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
        setup = job.get("setup") or ""
        if setup:
            _exec(job.get("_setup_code") or _compile(setup, "test_setup.py", "exec"), g)
        driver_code = job.get("_driver_code") or _compile(job["driver"], "tests.py", "exec")
        _exec(driver_code, g)
        driver = g.pop("__harness_driver__")
        driver(passed, failed, _plain_eq, truth)
    except _base as exc:  # noqa: BLE001 - a broken test harness stage fails the remaining tests
        _print_exc(exc)
        record(f"X {_type(exc).__name__}")
    nonce = _read(NONCE_FD, 256).decode("ascii", "replace").strip()
    record(f"END {nonce}")
    _flush_and_exit(0)


def _make_plain_eq(_type, _isinstance, _id, _len):
    """Equality for rewritten ``assert a == b`` / ``assert a != b``: refuses (returns False for) any
    object whose ``__eq__``/``__ne__`` is written in Python, e.g. an AlwaysEqual hack, looking inside
    lists, tuples, dicts and sets. Built before the solution runs, from captured builtins."""
    slot_types = (_type(object.__eq__), _type([].__eq__), _type(len), _type(int.__eq__))
    containers = (list, tuple, set, frozenset)
    _all, _getattr, _bool = all, getattr, bool
    trusted = set()  # stdlib comparisons written in Python (Counter since 3.10, Fraction)
    for mod, cls in (("collections", "Counter"), ("fractions", "Fraction")):
        try:
            klass = getattr(__import__(mod), cls)
            trusted.update(_id(klass.__dict__[m]) for m in ("__eq__", "__ne__") if m in klass.__dict__)
        except Exception:  # noqa: BLE001
            pass

    def trusted_cmp(fn: object) -> bool:
        return _isinstance(fn, slot_types) or _id(fn) in trusted

    def safe(x: object, depth: int = 0) -> bool:
        t = _type(x)
        if not trusted_cmp(_getattr(t, "__eq__", None)) or not trusted_cmp(_getattr(t, "__ne__", None)):
            return False
        if depth > 50:
            return False
        if _isinstance(x, containers):
            return _all(safe(y, depth + 1) for y in x)
        if _isinstance(x, dict):
            return _all(safe(k, depth + 1) and safe(v, depth + 1) for k, v in x.items())
        return True

    def plain_eq(a: object, b: object, negate: bool = False) -> bool:
        try:
            if not (safe(a) and safe(b)):
                return False
            return _bool(a == b) != negate
        except RecursionError:
            return False

    return plain_eq


def _plain_truth(value, negate, _type, _isinstance) -> bool:
    """Truth for rewritten ``assert x`` / ``assert not x``: objects with a Python-level ``__bool__``
    or ``__len__`` (which could lie either way) fail."""
    t = _type(value)
    slot = (_type(object.__eq__), _type([].__len__), _type(len), _type(int.__eq__))
    for name in ("__bool__", "__len__"):
        attr = getattr(t, name, None)
        if attr is not None and not _isinstance(attr, slot):
            return False
    return bool(value) != negate


# --------------------------------------------------------------------------------------------------
# The zygote itself.
# --------------------------------------------------------------------------------------------------

PRELOAD = (
    "math", "re", "collections", "itertools", "functools", "heapq", "bisect", "string", "typing",
    "operator", "random", "statistics", "fractions", "decimal", "copy", "json", "hashlib",
    "datetime", "traceback", "resource", "signal", "threading", "array", "cmath", "numbers", "fcntl",
    "subprocess", "socket", "ctypes", "unittest", "dataclasses", "enum", "pathlib", "textwrap", "struct",
    "io", "errno", "contextlib", "queue", "tempfile", "shutil", "glob", "pprint", "time",
)


class Zygote:
    def __init__(self, uid: int | None, private_pidns: bool, workroot: str, scrub: tuple[str, ...] = ()) -> None:
        self.uid = uid
        self.private_pidns = private_pidns
        self.workroot = workroot
        self.scrub = scrub if uid is not None else ()
        self.counter = 0
        self.code_cache: dict = {}
        self.cmd_fd = os.dup(0)
        self.reply_fd = os.dup(1)
        null = os.open("/dev/null", os.O_RDWR)
        os.dup2(null, 0)
        os.dup2(null, 1)
        os.close(null)

    def reply(self, obj: dict) -> None:
        data = encode_frame(obj)
        while data:
            n = os.write(self.reply_fd, data)
            data = data[n:]

    def serve(self) -> None:
        self.reply({"ready": True, "pid": os.getpid(), "uid": os.getuid(), "child_uid": self.uid,
                    "seccomp": _SECCOMP is not None})
        while True:
            job = read_frame(self.cmd_fd)
            if job is None:
                return
            try:
                result = self.run_job(job)
            except Exception as exc:  # noqa: BLE001 - report the zygote's own failure, keep serving
                result = {"status": "error", "exit_code": None, "stdout": "", "stderr": "",
                          "duration_s": 0.0, "detail": f"sandbox worker error: {type(exc).__name__}: {exc}",
                          "channel": ""}
            result["id"] = job.get("id")
            self.reply(result)

    def run_job(self, job: dict) -> dict:
        import select
        import signal

        self.counter += 1
        workdir = f"{self.workroot}/job{self.counter}"
        os.mkdir(workdir, 0o700)
        if self.uid is not None:
            os.chown(workdir, self.uid, self.uid)
        verify = job.get("mode") == "verify"
        if verify:
            # Test code is trusted and repeats across jobs: compile it once here, before the fork.
            job["_setup_code"] = self.compiled(job.get("setup") or "", "test_setup.py")
            job["_driver_code"] = self.compiled(job.get("driver") or "", "tests.py")
        out_r, out_w = os.pipe()
        err_r, err_w = os.pipe()
        fds = {"out": out_w, "err": err_w}
        stdin_data = (job.get("stdin") or "").encode("utf-8", "surrogateescape")
        if stdin_data:
            fds["stdin"] = os.memfd_create("stdin", 0)
            os.write(fds["stdin"], stdin_data)
            os.lseek(fds["stdin"], 0, os.SEEK_SET)
        else:
            fds["stdin"] = os.open("/dev/null", os.O_RDONLY)
        if verify:
            res_r, fds["res"] = os.pipe()
            fds["nonce"], nonce_w = os.pipe()
            # The nonce goes into the pipe buffer now and leaves this process's objects before the
            # fork: the child's untrusted code finds it in no frame, dict or string it can reach.
            os.write(nonce_w, (str(job.pop("nonce", "")) + "\n").encode("ascii", "replace"))
            os.close(nonce_w)
        start = time.monotonic()
        pid = os.fork()
        if pid == 0:  # ---- child
            try:
                os.close(out_r)
                os.close(err_r)
                if verify:
                    os.close(res_r)
                _child_setup(job, fds, self.uid, workdir)
                if verify:
                    _child_verify(job)
                else:
                    _child_run(job)
            except BaseException:  # noqa: BLE001
                pass
            os._exit(127)
        # ---- zygote
        for fd in fds.values():
            os.close(fd)
        readers = {out_r: bytearray(), err_r: bytearray()}
        caps = {out_r: int(job["out_cap"]), err_r: int(job["out_cap"])}
        if verify:
            readers[res_r] = bytearray()
            caps[res_r] = 1 << 20
        pidfd = os.pidfd_open(pid)
        poller = select.poll()
        for fd in (*readers, pidfd):
            poller.register(fd, select.POLLIN)
        deadline = start + float(job["timeout_s"])
        status = None
        wait_status = None
        open_fds = set(readers)
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                status = "timeout"
                break
            events = poller.poll(max(1, int(left * 1000)))
            over = False
            for fd, _ev in events:
                if fd == pidfd:
                    continue
                data = os.read(fd, 65536)
                if not data:
                    poller.unregister(fd)
                    open_fds.discard(fd)
                    continue
                buf = readers[fd]
                room = caps[fd] - len(buf)
                buf += data[:max(room, 0)]
                if len(data) > room:
                    over = True
            if over:
                status = "output_limit"
                break
            done, ws = os.waitpid(pid, os.WNOHANG)
            if done:
                wait_status = ws
                break
        duration = time.monotonic() - start
        if wait_status is None:
            try:
                os.killpg(pid, signal.SIGKILL)
            except OSError:
                pass
            _, wait_status = os.waitpid(pid, 0)
        # Drain what the child wrote before it exited (a leftover grandchild may keep pipes open).
        for fd in list(open_fds):
            os.set_blocking(fd, False)
            try:
                while len(readers[fd]) < caps[fd]:
                    data = os.read(fd, 65536)
                    if not data:
                        break
                    readers[fd] += data[: caps[fd] - len(readers[fd])]
            except BlockingIOError:
                pass
        leftovers = self.sweep(pid)
        for fd in (*readers, pidfd):
            os.close(fd)
        self.remove_tree(workdir)
        self.scrub_shared_dirs()
        if os.WIFSIGNALED(wait_status):
            exit_code = -os.WTERMSIG(wait_status)
        else:
            exit_code = os.WEXITSTATUS(wait_status)
        stderr = bytes(readers[err_r]).decode("utf-8", "replace")
        if status is None:
            if exit_code == 0:
                status = "ok"
            elif exit_code == MEMORY_EXIT or (exit_code != 0 and "MemoryError" in stderr[-2000:]):
                status = "memory"
            else:
                status = "error"
        return {
            "status": status,
            "exit_code": exit_code,
            "stdout": bytes(readers[out_r]).decode("utf-8", "replace"),
            "stderr": stderr,
            "duration_s": duration,
            "leftover_processes": leftovers,
            "channel": bytes(readers[res_r]).decode("ascii", "replace") if verify else "",
        }

    def compiled(self, source: str, filename: str):
        """Compiled trusted test code (cached; ``None`` when it does not compile: the child reports it)."""
        if not source:
            return None
        key = (source, filename)
        code = self.code_cache.get(key)
        if code is None:
            try:
                code = compile(source, filename, "exec")
            except Exception:  # noqa: BLE001
                return None
            if len(self.code_cache) >= 512:
                self.code_cache.clear()
            self.code_cache[key] = code
        return code

    def scrub_shared_dirs(self) -> None:
        """Without a private file system: delete what the job's uid left in world-writable dirs
        (``/tmp``, ``/var/tmp``, ``/dev/shm``); the uid is unique to this worker, so nothing else goes."""
        for folder in self.scrub:
            try:
                entries = list(os.scandir(folder))
            except OSError:
                continue
            for entry in entries:
                try:
                    if entry.stat(follow_symlinks=False).st_uid != self.uid:
                        continue
                    if entry.is_dir(follow_symlinks=False):
                        self.remove_tree(entry.path)
                    else:
                        os.unlink(entry.path)
                except OSError:
                    pass

    def sweep(self, pid: int) -> int:
        """Kill every process the job left behind; return how many were found."""
        import signal

        try:
            os.killpg(pid, signal.SIGKILL)
        except OSError:
            pass
        found = 0
        for _ in range(200):
            victims = self._job_processes()
            if not victims:
                break
            found = max(found, len(victims))
            if self.uid is not None:
                self._kill_uid(self.uid)
            else:
                for p in victims:
                    try:
                        os.kill(p, signal.SIGKILL)
                    except OSError:
                        pass
            self._reap()
            time.sleep(0.001)
        self._reap()
        return found

    def _job_processes(self) -> list[int]:
        me = os.getpid()
        victims = []
        for name in os.listdir("/proc"):
            if not name.isdigit():
                continue
            p = int(name)
            if p in (1, me):
                continue
            try:
                st = os.stat(f"/proc/{name}")
                with open(f"/proc/{name}/stat", "rb") as f:
                    state = f.read().rsplit(b")", 1)[1].split()[0]
            except OSError:
                continue
            if state in (b"Z", b"X"):
                continue  # a zombie is dead already; its parent (or init) reaps it
            if self.uid is not None:
                if st.st_uid == self.uid:
                    victims.append(p)
            elif self.private_pidns:
                victims.append(p)
        return victims

    @staticmethod
    def _kill_uid(uid: int) -> None:
        # kill(-1) as the job's uid signals every process of that uid at once (atomic against forks).
        import signal

        pid = os.fork()
        if pid == 0:
            try:
                os.setgroups([])
                os.setgid(uid)
                os.setuid(uid)
                os.kill(-1, signal.SIGKILL)
            except BaseException:  # noqa: BLE001
                pass
            os._exit(0)
        os.waitpid(pid, 0)

    @staticmethod
    def _reap() -> None:
        while True:
            try:
                pid, _ = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                return
            if pid == 0:
                return

    @staticmethod
    def remove_tree(path: str) -> None:
        import shutil

        shutil.rmtree(path, ignore_errors=True)


_LIBC = None  # ctypes handle to libc, loaded by the zygote before any job
_SECCOMP = None  # (pointer to struct sock_fprog, keep-alive objects) of the job syscall filter

# x86-64 syscalls a job never needs (kernel attack surface, other namespaces, tracing): EPERM.
DENIED_SYSCALLS = {
    "ptrace": 101, "personality": 135, "pivot_root": 155, "chroot": 161, "acct": 163, "mount": 165,
    "umount2": 166, "swapon": 167, "swapoff": 168, "reboot": 169, "sethostname": 170,
    "setdomainname": 171, "init_module": 175, "delete_module": 176, "lookup_dcookie": 212,
    "kexec_load": 246, "add_key": 248, "request_key": 249, "keyctl": 250, "unshare": 272,
    "perf_event_open": 298, "name_to_handle_at": 303, "open_by_handle_at": 304, "setns": 308,
    "process_vm_readv": 310, "process_vm_writev": 311, "finit_module": 313, "kexec_file_load": 320,
    "bpf": 321, "userfaultfd": 323, "io_uring_setup": 425, "io_uring_enter": 426,
    "io_uring_register": 427, "open_tree": 428, "move_mount": 429, "fsopen": 430, "fsconfig": 431,
    "fsmount": 432, "fspick": 433,
}
_NR_SOCKET, _NR_CLONE, _NR_CLONE3 = 41, 56, 435
_CLONE_NAMESPACES = 0x00020000 | 0x04000000 | 0x08000000 | 0x10000000 | 0x20000000 | 0x40000000 | 0x02000000


def seccomp_program() -> list[tuple[int, int, int, int]] | None:
    """The job filter as classic-BPF instructions (code, jt, jf, k); ``None`` off x86-64.

    Denies the syscalls above, sockets other than AF_UNIX (no network even without a network
    namespace), ``clone`` with namespace flags, and answers ``clone3`` with ENOSYS so that libc
    falls back to the filtered ``clone``. Other architectures get no filter (reported)."""
    import platform

    if platform.machine() != "x86_64":
        return None
    ld, jeq, jge, jset, ret = 0x20, 0x15, 0x35, 0x45, 0x06
    allow, eperm, enosys, kill = 0x7FFF0000, 0x00050000 | 1, 0x00050000 | 38, 0x80000000
    denied = sorted(DENIED_SYSCALLS.values())
    head = [(ld, 0, 0, 4), (jeq, 1, 0, 0xC000003E), (ret, 0, 0, kill), (ld, 0, 0, 0)]
    # Every jump goes forward. Layout (indices into ``body``):
    #   checks: x32, denied..., socket, clone, clone3 | RET_ALLOW | socket domain check (2) |
    #   clone flags check (2) | RET_ALLOW | RET_EPERM | RET_ENOSYS
    n_checks = 1 + len(denied) + 3
    idx_sock = n_checks + 1
    idx_clone = idx_sock + 2
    idx_allow2 = idx_clone + 2
    idx_eperm = idx_allow2 + 1
    idx_enosys = idx_eperm + 1
    targets = [idx_eperm] * (1 + len(denied)) + [idx_sock, idx_clone, idx_enosys]
    values = [0x40000000, *denied, _NR_SOCKET, _NR_CLONE, _NR_CLONE3]
    body: list[tuple[int, int, int, int]] = []
    for i, (target, value) in enumerate(zip(targets, values, strict=True)):
        body.append((jge if i == 0 else jeq, target - i - 1, 0, value))
    body.append((ret, 0, 0, allow))
    body.append((ld, 0, 0, 16))  # socket: args[0] (domain), low 32 bits; only AF_UNIX (1)
    body.append((jeq, idx_allow2 - (idx_sock + 1) - 1, idx_eperm - (idx_sock + 1) - 1, 1))
    body.append((ld, 0, 0, 16))  # clone: args[0] (flags), low 32 bits; no namespace flags
    body.append((jset, idx_eperm - (idx_clone + 1) - 1, idx_allow2 - (idx_clone + 1) - 1, _CLONE_NAMESPACES))
    body.append((ret, 0, 0, allow))
    body.append((ret, 0, 0, eperm))
    body.append((ret, 0, 0, enosys))
    assert len(body) == idx_enosys + 1
    return head + body


def _load_seccomp() -> None:
    """Build the filter once; verify it in a throw-away child before any job depends on it."""
    global _SECCOMP
    prog = seccomp_program()
    if prog is None or _LIBC is None:
        return
    import ctypes
    import struct

    for _code, jt, jf, _k in prog:
        if not (0 <= jt < 256 and 0 <= jf < 256):
            return
    raw = b"".join(struct.pack("HBBI", *ins) for ins in prog)
    buf = ctypes.create_string_buffer(raw, len(raw))

    class SockFprog(ctypes.Structure):
        _fields_ = [("len", ctypes.c_ushort), ("filter", ctypes.c_void_p)]

    fprog = SockFprog(len(prog), ctypes.addressof(buf))
    pid = os.fork()
    if pid == 0:
        ok = _LIBC.prctl(38, 1, 0, 0, 0) == 0 and _LIBC.prctl(22, 2, ctypes.byref(fprog), 0, 0) == 0
        if ok:
            import socket

            try:
                socket.socket(socket.AF_INET, socket.SOCK_STREAM)
                ok = False
            except PermissionError:
                pass
            socket.socketpair()  # AF_UNIX stays allowed
            child = os.fork()  # fork and threads still work (clone3 -> ENOSYS -> clone)
            if child == 0:
                os._exit(0)
            os.waitpid(child, 0)
            import threading

            t = threading.Thread(target=len, args=((),))
            t.start()
            t.join()
        os._exit(0 if ok else 1)
    _, status = os.waitpid(pid, 0)
    if os.WIFEXITED(status) and os.WEXITSTATUS(status) == 0:
        _SECCOMP = (ctypes.byref(fprog), (buf, fprog))
_PLAIN_EQ = None  # the checked equality for test asserts, built by the zygote before any job


def _harden_self() -> None:
    """Not ptrace-able or dumpable by same-uid processes; die with the harness; reap orphans (outside
    a pid namespace, zombies of killed daemons would otherwise keep counting against RLIMIT_NPROC)."""
    global _LIBC
    try:
        import ctypes
        import signal

        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(4, 0, 0, 0, 0)  # PR_SET_DUMPABLE = 0
        libc.prctl(1, int(signal.SIGKILL), 0, 0, 0)  # PR_SET_PDEATHSIG
        libc.prctl(36, 1, 0, 0, 0)  # PR_SET_CHILD_SUBREAPER: orphaned job processes come back to be reaped
        _LIBC = libc
    except Exception:  # noqa: BLE001 - best effort
        pass


def main(argv: list[str]) -> int:
    opts = dict(a.split("=", 1) for a in argv if "=" in a)
    uid = int(opts["uid"]) if opts.get("uid", "none") != "none" else None
    if uid is not None and os.geteuid() != 0:
        uid = None
    workroot = opts.get("workroot", "/tmp")
    os.makedirs(workroot, exist_ok=True)
    if uid is not None:
        os.chmod(workroot, 0o711)  # children may enter their own job dir but not list or write here
        for shared in ("/dev/shm", "/dev/mqueue"):
            try:
                os.chmod(shared, 0o700)
            except OSError:
                pass
    _harden_self()
    if opts.get("seccomp", "1") == "1":
        _load_seccomp()
    if opts.get("preload") == "1":
        import importlib

        for name in PRELOAD:
            try:
                importlib.import_module(name)
            except Exception:  # noqa: BLE001
                pass
    global _PLAIN_EQ
    if opts.get("preload") == "1":  # a one-job worker builds it in the child, only when verifying
        _PLAIN_EQ = _make_plain_eq(type, isinstance, id, len)
    import gc

    gc.collect()
    gc.freeze()  # forked children never traverse (and so never copy) the zygote's objects
    scrub = tuple(d for d in opts.get("scrub", "").split(":") if d)
    Zygote(uid, opts.get("pidns") == "1", workroot, scrub).serve()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
