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

Framing on both pipes: a 4-byte big-endian length, then a UTF-8 JSON object. This file and its two
siblings (``_child.py``: the forked child; ``_seccomp.py``: the syscall filter) import nothing outside
the standard library: they run with ``-I -S`` and are the only project files visible inside the
sandbox. The harness imports this module too, for the framing helpers.
"""

from __future__ import annotations

import json
import os
import struct
import sys
import time

if __package__:  # imported by the harness, as part of llm_marl_envs.sandbox
    from . import _child, _seccomp
else:  # run as a script inside the sandbox: the sibling files sit in this file's folder
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    import _child
    import _seccomp

    del sys.path[0]  # jobs must not import other files from this folder

MEMORY_EXIT = _child.MEMORY_EXIT

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
# The zygote itself.
# --------------------------------------------------------------------------------------------------

# Imported by every pool worker before it serves (forked jobs then import them for free). Kept to the
# modules solutions commonly use: a bigger zygote makes every fork and copy-on-write fault dearer.
PRELOAD = (
    "math", "re", "collections", "itertools", "functools", "heapq", "bisect", "string", "typing",
    "operator", "random", "fractions", "decimal", "copy", "datetime", "array", "cmath", "numbers",
    "time", "errno", "io", "struct", "traceback", "resource", "signal", "fcntl",
)
# Also imported when the job's uid cannot read the stdlib later (root outside bubblewrap).
PRELOAD_EXTRA = (
    "threading", "statistics", "json", "hashlib", "subprocess", "socket", "ctypes", "unittest", "dataclasses",
    "enum", "pathlib", "textwrap", "contextlib", "queue", "tempfile", "shutil", "glob", "pprint",
    "multiprocessing", "abc",
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
                    "seccomp": _child.SECCOMP is not None})
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
            try:  # records are read once, after the child exits: room for ~80k tests' records
                import fcntl

                fcntl.fcntl(res_r, 1031, 1 << 20)  # F_SETPIPE_SZ
            except OSError:
                pass
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
                _child.child_setup(job, fds, self.uid, workdir)
                if verify:
                    _child.child_verify(job)
                else:
                    _child.child_run(job)
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
        for fd in (out_r, err_r, pidfd):  # not the result pipe: no wake-up per test record
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


def _harden_self() -> None:
    """Not ptrace-able or dumpable by same-uid processes; die with the harness; reap orphans (outside
    a pid namespace, zombies of killed daemons would otherwise keep counting against RLIMIT_NPROC)."""
    try:
        import ctypes
        import signal

        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(4, 0, 0, 0, 0)  # PR_SET_DUMPABLE = 0
        libc.prctl(1, int(signal.SIGKILL), 0, 0, 0)  # PR_SET_PDEATHSIG
        libc.prctl(36, 1, 0, 0, 0)  # PR_SET_CHILD_SUBREAPER: orphaned job processes come back to be reaped
        _child.LIBC = libc
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
        if opts.get("private_dev") == "1":  # bubblewrap's own /dev; never touch the host's
            for shared in ("/dev/shm", "/dev/mqueue"):
                try:
                    os.chmod(shared, 0o700)
                except OSError:
                    pass
    _harden_self()
    if opts.get("seccomp", "1") == "1":
        _child.SECCOMP = _seccomp.load(_child.LIBC)
    if opts.get("preload") in ("1", "full"):
        import importlib

        for name in PRELOAD + (PRELOAD_EXTRA if opts.get("preload") == "full" else ()):
            try:
                importlib.import_module(name)
            except Exception:  # noqa: BLE001
                pass
    if opts.get("preload") in ("1", "full"):  # a one-job worker builds it in the child, only when verifying
        _child.PLAIN_EQ = _child.make_plain_eq(type, isinstance, id, len)
    import gc

    gc.collect()
    gc.freeze()  # forked children never traverse (and so never copy) the zygote's objects
    scrub = tuple(d for d in opts.get("scrub", "").split(":") if d)
    Zygote(uid, opts.get("pidns") == "1", workroot, scrub).serve()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
