"""The in-sandbox worker ("zygote"): a small stdlib-only script that runs INSIDE the isolation boundary.

It is started once per worker as ``python -I -S _zygote.py <options>`` (inside bubblewrap, ``unshare`` or
bare rlimits, see ``backend.py``), pre-imports common modules, applies what every job inherits
(no-new-privileges, the seccomp syscall filter (x86-64), default signals, a clean environment), then
serves jobs read from fd 0 and answers on fd 1, one job at a time.

Two processes share the work. The *spawner*, forked once after the preload (before any test was
ever loaded: every job's memory starts as a copy of it), does nothing but fork a fresh child per job,
enforce its deadline and report its exit status; the *zygote* does everything else (framing,
creating the job's pipes, reading capped output, killing leftovers, cleaning the work directory) and,
for ``check`` jobs, is the trusted checker: it runs the task's tests (compiled once per task, kept
here) against the job's program over the job's request/reply pipes (``_checker.py``, ``_codec.py``),
so no test, expected value or pass/fail record ever exists in a process that runs model code. Only the spawner ever forks per job, so only its few pages are write-protected and
copied again and again: the zygote's own bookkeeping costs no copy-on-write faults, which is most of
the per-job overhead a single forking process pays. Every job gets pipes of its own (stdout,
stderr, and in check mode the checker's request and reply pipes), created by the zygote and handed to
the spawner with the job (``SCM_RIGHTS`` over a Unix socket): nothing a job can reach is shared with
another job. The job itself (program, setup, stdin) travels the same way, in a memfd the child reads:
the spawner never holds a program's text, so no later job (a copy of the spawner) inherits it.

Every job's child, before running any untrusted code: starts a new session, keeps only its own
descriptors, applies the rlimits (AS, CPU, FSIZE, NOFILE, NPROC, CORE=0), drops to a per-worker
unprivileged uid (when the zygote runs as root) and enters the private work directory (see
``_child.py``). The spawner SIGKILLs it (and its process group) at the deadline; the zygote caps
stdout/stderr while reading them incrementally, and afterwards kills every process the job left
behind (a double-forked daemon, a zombie leader with live threads) and removes the work directory.
When it cannot (processes that will not die, a directory it cannot remove, a lost spawner), the
worker answers ``fatal`` and exits, and the harness starts a fresh one: it never serves a job it
cannot vouch for.

Framing on both pipes: a 4-byte big-endian length, then the job as ``marshal`` (from the harness)
or the result as a flat JSON object (to the harness). This file and its siblings (``_child.py``: the
forked child; ``_seccomp.py``: the syscall filter; ``_checker.py`` and ``_codec.py``: the checker and
its plain-data codec) import nothing outside the standard library: they run with ``-I -S`` and are the only project files visible inside the
sandbox. The harness imports this module too, for the framing helpers. Imports are kept lean because
one-off runs start a worker each time: ``_signal`` (the C module) rather than ``signal`` (which
loads ``enum``), no ``json``/``re``/``platform``.
"""

from __future__ import annotations

import marshal
import os
import struct
import sys
import time

if __package__:  # imported by the harness, as part of llm_marl_envs.sandbox
    from . import _checker, _child, _seccomp
else:  # run as a script inside the sandbox: the sibling files sit in this file's folder
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    import _checker
    import _child
    import _seccomp

    del sys.path[0]  # jobs must not import other files from this folder

MEMORY_EXIT = _child.MEMORY_EXIT

_HEADER = struct.Struct(">I")
MAX_FRAME = 256 * 1024 * 1024
SPAWNER_GRACE_S = 3.0  # beyond the job deadline, before the zygote gives up on its spawner


def encode_job(job: dict) -> bytes:
    """Harness -> worker: length prefix + ``marshal`` of a dict of str/int/float (built in: the
    worker imports no parser for it; only the trusted harness writes this direction)."""
    data = marshal.dumps(job)
    return _HEADER.pack(len(data)) + data


def read_job(fd: int) -> dict | None:
    """Read one job frame from ``fd``; ``None`` at end of file."""
    head = _child._read_exact(fd, _HEADER.size)
    if head is None:
        return None
    (n,) = _HEADER.unpack(head)
    if n > MAX_FRAME:
        raise ValueError(f"frame of {n} bytes is too large")
    body = _child._read_exact(fd, n)
    if body is None:
        return None
    job = marshal.loads(body)
    if not isinstance(job, dict):
        raise ValueError("a job frame must hold a dict")
    return job


# JSON string escapes: the quote, the backslash, control characters and lone surrogates.
_JSON_ESCAPES = {c: f"\\u{c:04x}" for c in (*range(0x20), *range(0xD800, 0xE000))}
_JSON_ESCAPES.update({ord('"'): '\\"', ord("\\"): "\\\\"})


def _json_value(value) -> str:
    if value is None:
        return "null"
    if value is True or value is False:
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return repr(value) if value == value and abs(value) != float("inf") else "null"
    return '"' + str(value).translate(_JSON_ESCAPES) + '"'


def encode_reply(reply: dict) -> bytes:
    """Worker -> harness: length prefix + a flat JSON object (str/int/float/bool/None values),
    written by hand so that the worker never imports ``json`` (and ``re``); the harness parses it
    with ``json``, never with an unsafe loader, since this direction comes from inside the sandbox."""
    data = ("{" + ",".join(_json_value(str(k)) + ":" + _json_value(v) for k, v in reply.items()) + "}").encode("utf-8")
    return _HEADER.pack(len(data)) + data


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
    "multiprocessing", "abc", "unicodedata", "stringprep", "string", "base64", "binascii", "zlib", "bz2", "lzma",
    "csv", "calendar", "locale", "gettext", "uuid", "secrets", "hmac", "difflib", "doctest", "inspect", "ast",
    "dis", "tokenize", "keyword", "weakref", "types", "warnings", "numbers", "graphlib", "html", "urllib.parse",
    "email", "zoneinfo", "sqlite3", "gzip", "zipfile", "tarfile", "io", "codecs", "pickle", "copyreg", "shlex",
    "argparse", "optparse", "getopt", "platform", "sysconfig", "timeit", "cProfile", "pstats", "trace",
    "concurrent.futures", "asyncio", "selectors", "ipaddress", "mmap", "sched", "contextvars", "reprlib",
    # text codecs looked up by name at run time ("é".encode("cp1252")): the job's uid could not load them
    *(f"encodings.{name}" for name in (
        "ascii", "latin_1", "utf_8_sig", "utf_16", "utf_16_le", "utf_16_be", "utf_32", "utf_32_le", "utf_32_be",
        "utf_7", "cp1252", "cp1251", "cp1250", "cp437", "cp850", "cp866", "iso8859_2", "iso8859_15", "koi8_r",
        "mac_roman", "unicode_escape", "raw_unicode_escape", "idna", "punycode", "hex_codec", "base64_codec",
        "rot_13", "charmap", "big5", "gbk", "gb2312", "shift_jis", "euc_jp", "euc_kr", "cp932", "cp949", "cp950",
        "aliases")),
)


class WorkerBroken(RuntimeError):
    """The worker can no longer vouch for the next job (its spawner is gone, a job's processes would
    not die, its work directory cannot be reset, a failure after a job was dispatched): it answers
    with ``fatal`` and exits, and the harness starts a fresh one."""


class SpawnerDied(WorkerBroken):
    """The spawner process went away."""


_JOB_FIELDS = {"timeout_s": float, "memory_mb": int, "cpu_s": int, "fsize": int, "nofile": int, "nproc": int,
               "out_cap": int}


def _checked_job(job: dict) -> dict:
    """The job with its fields converted; raises before anything is dispatched when one is missing or
    of the wrong type (the worker answers an error and stays usable)."""
    checked = dict(job)
    for key, kind in _JOB_FIELDS.items():
        checked[key] = kind(job[key])
    if checked.get("mode", "run") not in ("run", "check"):
        raise ValueError(f"unknown mode {checked.get('mode')!r}")
    for key in ("source", "stdin", "setup", "tests", "remote", "modules"):
        if not isinstance(checked.get(key, ""), str):
            raise TypeError(f"{key} must be a string")
    if checked.get("mode") == "check":
        checked["n_tests"] = int(job["n_tests"])
    return checked


class Zygote:
    def __init__(self, uid: int | None, private_pidns: bool, workroot: str, scrub: tuple[str, ...] = (),
                 empty: tuple[str, ...] = ()) -> None:
        self.uid = uid
        self.private_pidns = private_pidns
        self.workdir = f"{workroot}/job"  # one at a time; constant, so the jobs' environment is too
        self.scrub = scrub if uid is not None else ()  # shared host dirs: only the job uid's entries go
        self.empty = empty  # the worker's private dirs (bubblewrap's /tmp, /dev/shm, /dev/mqueue): all goes
        self.cmd_fd = os.dup(0)
        self.reply_fd = os.dup(1)
        null = os.open("/dev/null", os.O_RDWR)
        os.dup2(null, 0)
        os.dup2(null, 1)
        os.close(null)
        self.status_buf = b""
        self.seccomp = False
        self.spawner_pid = -1
        self.sock = None
        self.compiled: dict = {}

    def start_spawner(self) -> None:
        """Fork the spawner, connected by a Unix socket (each job's timeout, with the job's body in a
        memfd and its own pipe ends passed as SCM_RIGHTS) and a pipe (its reports)."""
        import _socket
        import fcntl

        self.sock, spawner_sock = _socket.socketpair(_socket.AF_UNIX, _socket.SOCK_STREAM)
        self.status_r, status_w = os.pipe()
        os.set_blocking(self.status_r, False)
        pid = os.fork()
        if pid == 0:  # ---- the spawner
            try:
                import _signal as signal

                signal.signal(signal.SIGTERM, signal.SIG_DFL)  # the zygote's orphan handler is not its
                for fd in (self.cmd_fd, self.reply_fd, self.status_r):
                    os.close(fd)
                self.sock.close()
                # Its own channels on fds 3 and 4: received job fds are then >= 5, so a job's dup2 onto
                # its fds 1-4 never overwrites a source it still needs.
                high = [fcntl.fcntl(fd, fcntl.F_DUPFD, 100) for fd in (spawner_sock.fileno(), status_w)]
                spawner_sock.close()
                os.close(status_w)
                for target, fd in zip((3, 4), high, strict=True):
                    os.dup2(fd, target)
                    os.close(fd)
                sock = _socket.socket(_socket.AF_UNIX, _socket.SOCK_STREAM, 0, 3)
                spawner_loop(sock, 4, os.open("/dev/null", os.O_RDONLY), self.uid, self.workdir)
            except BaseException:  # noqa: BLE001
                pass
            os._exit(0)
        spawner_sock.close()
        os.close(status_w)
        self.spawner_pid = pid

    def reply(self, obj: dict) -> None:
        data = encode_reply(obj)
        while data:
            n = os.write(self.reply_fd, data)
            data = data[n:]

    def serve(self) -> None:
        self.reply({"ready": True, "pid": os.getpid(), "uid": os.getuid(), "child_uid": self.uid,
                    "seccomp": self.seccomp, "landlock": bool(_child.LANDLOCK_READ) and _child.landlock_abi() >= 3,
                    "stdlib": STATE["stdlib"]})
        while True:
            job = read_job(self.cmd_fd)
            if job is None:
                return
            broken = False
            try:
                result = self.run_job(job)
            except Exception as exc:  # noqa: BLE001 - report the zygote's own failure
                broken = isinstance(exc, WorkerBroken)
                result = {"status": "error", "exit_code": None, "stdout": "", "stderr": "",
                          "duration_s": 0.0, "detail": f"sandbox worker error: {type(exc).__name__}: {exc}",
                          "checks": "", "fatal": broken}
            result["id"] = job.get("id")
            self.reply(result)
            if broken:
                return  # exiting takes the pid namespace (and anything left in it) down; a fresh worker follows

    def run_job(self, job: dict) -> dict:
        job = _checked_job(job)
        try:
            os.mkdir(self.workdir, 0o700)
            if self.uid is not None:
                os.chown(self.workdir, self.uid, self.uid)
        except OSError as exc:
            raise WorkerBroken(f"cannot create the work directory: {exc}") from exc
        try:
            return self._run(job)
        finally:
            self.remove_tree(self.workdir)
            self.scrub_shared_dirs()

    def _run(self, job: dict) -> dict:
        check = job.get("mode") == "check"
        plan = None
        if check:  # the tests stay here, in the checker: they are not part of what the child gets
            plan = (self.compiled_tests(job.pop("tests", "")), tuple(n for n in job.pop("remote", "").split(",") if n),
                    tuple(n for n in job.pop("modules", "").split(",") if n), job.pop("n_tests"))
        # The job body travels in a memfd of its own: the spawner (whose memory every later job starts
        # as a copy of) only forwards descriptors and never holds a program's text; the child reads it.
        body_fd = os.memfd_create("job", os.MFD_CLOEXEC)
        try:
            _write_all(body_fd, marshal.dumps(job))  # built here from the decoded frame: plain str/int/float
        except BaseException:
            os.close(body_fd)
            raise
        timeout = job["timeout_s"]
        # This job's own pipes; the child gets the write ends (and the request pipe's read end) through
        # the spawner, this process keeps the other ends: nothing is shared with any other job.
        out_r, out_w = os.pipe()
        err_r, err_w = os.pipe()
        ours, theirs = [out_r, err_r], [body_fd, out_w, err_w]
        req_w = rep_r = -1
        if check:
            req_r, req_w = os.pipe()
            rep_r, rep_w = os.pipe()
            ours += [req_w, rep_r]
            theirs += [req_r, rep_w]
        for fd in ours:
            os.set_blocking(fd, False)
        try:
            start = time.monotonic()
            backstop = start + timeout + SPAWNER_GRACE_S  # the spawner kills at the deadline; this catches a stuck one
            try:
                self._dispatch(_PARTS.pack(timeout), theirs)
            finally:
                for fd in theirs:
                    os.close(fd)
            try:
                return self._supervise(job, plan, start, backstop, out_r, err_r, req_w, rep_r)
            except WorkerBroken:
                raise
            except Exception as exc:  # noqa: BLE001 - after the dispatch, the spawner's state is unknown
                raise WorkerBroken(f"{type(exc).__name__}: {exc}") from exc
        finally:
            for fd in ours:
                try:
                    os.close(fd)
                except OSError:
                    pass

    def compiled_tests(self, source: str):
        """The checker's code for a task, compiled once per distinct text (cached here, in the checker,
        never in the spawner whose memory every job inherits); its text when it does not compile."""
        code = self.compiled.get(source)
        if code is None:
            try:
                code = compile(source, "tests.py", "exec")
            except Exception:  # noqa: BLE001 - the checker reports it as a broken test program
                return source
            if len(self.compiled) >= 512:
                self.compiled.clear()
            self.compiled[source] = code
        return code

    def _dispatch(self, header: bytes, fds: list[int]) -> None:
        import _socket

        try:
            sent = self.sock.sendmsg([header], [(_socket.SOL_SOCKET, _socket.SCM_RIGHTS,
                                                  struct.pack(f"{len(fds)}i", *fds))])
            if sent < len(header):
                self.sock.sendall(header[sent:])
        except OSError as exc:
            raise SpawnerDied(f"the spawner is gone: {exc}") from exc

    def _supervise(self, job: dict, plan, start: float, backstop: float, out_r: int, err_r: int, req_w: int,
                   rep_r: int) -> dict:
        """Stream the child's output (capped) until the spawner reports its end (check mode: run the
        tests against it first, then stop it); then sweep."""
        import _signal as signal
        import select

        pid = self._next_report(backstop)[0]
        if pid < 0:
            raise WorkerBroken(f"the spawner could not fork the job (errno {-pid})")
        outputs = {out_r: bytearray(), err_r: bytearray()}
        cap = job["out_cap"]
        poller = select.poll()
        for fd in (out_r, err_r, self.status_r):
            poller.register(fd, select.POLLIN)
        state = {"over": False, "report": None}

        def kill_job() -> None:
            try:
                os.killpg(pid, signal.SIGKILL)  # a new session: its own process group
            except OSError:
                pass

        def pump() -> str | None:
            """Between the checker's waits: read the outputs, notice the child's end."""
            if _read_outputs(outputs, poller, cap):
                state["over"] = True
                kill_job()
                return "output_limit"
            if state["report"] is None:
                state["report"] = self._next_report(None)
            if state["report"] is not None:
                return "timeout" if state["report"][2] else _checker.ENDED
            return None

        checks = None
        if plan is not None:
            chan = _checker.Channel(req_w, rep_r, poller, pump, start + job["timeout_s"])
            checks = self._check(plan, chan)
            kill_job()  # every test ran (or the program is gone): nothing more is asked of it
        while state["report"] is None and not state["over"]:
            if pump():
                break
            left = backstop - time.monotonic()
            if left <= 0:
                raise SpawnerDied("the spawner did not report the job's end")
            poller.poll(max(1, int(left * 1000)))
        report = state["report"] or self._next_report(backstop)
        _read_outputs(outputs, poller, cap)  # what the child wrote just before it exited
        duration = time.monotonic() - start
        _, wait_status, timed_out = report
        leftovers = self.sweep(pid)
        if os.WIFSIGNALED(wait_status):
            exit_code = -os.WTERMSIG(wait_status)
        else:
            exit_code = os.WEXITSTATUS(wait_status)
        stderr = bytes(outputs[err_r]).decode("utf-8", "replace")
        result = {
            "stdout": bytes(outputs[out_r]).decode("utf-8", "replace"),
            "stderr": stderr,
            "duration_s": duration,
            "leftover_processes": leftovers,
            "exit_code": exit_code,
        }
        if checks is not None:
            records, note, calls = checks
            if state["over"]:
                status = "output_limit"
            elif note == "timeout" or timed_out and note:
                status = "timeout"
            elif note and "MemoryError" in note:
                status = "memory"
            else:
                status = "error" if note else "ok"
            result.update(status=status, checks="\n".join(records), note=note, calls=calls)
            return result
        if timed_out:
            status = "timeout"
        elif state["over"]:
            status = "output_limit"
        elif exit_code == 0:
            status = "ok"
        elif exit_code == MEMORY_EXIT or "MemoryError" in stderr[-2000:]:
            status = "memory"
        else:
            status = "error"
        result["status"] = status
        return result

    @staticmethod
    def _check(plan, chan) -> tuple[list[str], str, int]:
        """Run the plan's tests against the child: first its load report, then the tests."""
        code, remote, modules, n_tests = plan
        try:
            hello = chan.receive()
        except _checker.ProgramGone:
            hello = None
        if type(hello) is tuple and hello[:2] == (0, "ready"):
            if isinstance(code, str):  # the task's own tests do not compile: no test can pass
                return ["F the test program does not compile"] * n_tests, "the test program does not compile", 0
            records, note = _checker.run_checks(code, remote, modules, n_tests, chan)
            return records, note, chan.calls
        if type(hello) is tuple and len(hello) == 4 and hello[1] == "loadfail":
            note = f"the program failed to load: {str(hello[2])[:60]}: {str(hello[3])[:200]}"
        else:
            note = chan.gone or "the program did not start"
        return ["F not run"] * n_tests, note, 0

    def _next_report(self, deadline: float | None) -> tuple[int, ...] | None:
        """The spawner's next report line as integers: ``(pid,)`` after a fork, ``(pid, wait status,
        killed at the deadline)`` after the reaping. ``deadline=None``: never block (``None`` when
        nothing is there yet); otherwise wait until ``deadline``."""
        import select

        while b"\n" not in self.status_buf:
            if deadline is not None:
                left = deadline - time.monotonic()
                if left <= 0:
                    raise SpawnerDied("the spawner did not answer")
                select.select([self.status_r], [], [], left)
            try:
                data = os.read(self.status_r, 4096)
            except BlockingIOError:
                if deadline is None:
                    return None
                continue
            if not data:
                raise SpawnerDied("the spawner exited")
            self.status_buf += data
        line, self.status_buf = self.status_buf.split(b"\n", 1)
        return tuple(int(x) for x in line.split())

    def scrub_shared_dirs(self) -> None:
        """After the sweep (nothing of the job runs any more): empty the worker's private dirs, and in
        world-writable host dirs delete what the job's uid left (the uid is unique to this worker)."""
        doomed = []
        for folder in self.empty:
            try:
                doomed += [e.path for e in os.scandir(folder) if e.path != self.workdir]
            except OSError:
                pass
        for folder in self.scrub:
            try:
                doomed += [e.path for e in os.scandir(folder) if e.stat(follow_symlinks=False).st_uid == self.uid]
            except OSError:
                pass
        if doomed:
            _remove_paths(doomed)

    def sweep(self, pid: int) -> int:
        """Kill every process the job left behind and return how many were alive. Zombies are killed
        too (a thread-group leader that exited can still have running threads) and reaped; the
        listing is repeated until it is empty (one taken as a job process exits can miss the child it
        forked a moment before). Processes that will not go make the worker unusable."""
        import _signal as signal

        try:
            os.killpg(pid, signal.SIGKILL)
        except OSError:
            pass
        found = 0
        for _ in range(200):
            live, dead = self._job_processes()
            if not live and not dead:
                return found
            found = max(found, len(live))
            if self.uid is not None:
                self._kill_uid(self.uid)
            else:
                for p in live + dead:
                    try:
                        os.kill(p, signal.SIGKILL)
                    except OSError:
                        pass
            self._reap()
            time.sleep(0.001)
        raise WorkerBroken("processes of the job survived the sweep")

    def _job_processes(self) -> tuple[list[int], list[int]]:
        """The job's processes: (live, zombies). Without a uid of its own or a pid namespace the job's
        processes cannot be told from the host's: the process-group kill is all there is."""
        if self.uid is None and not self.private_pidns:
            return [], []
        spared = (1, os.getpid(), self.spawner_pid)
        live, dead = [], []
        for name in os.listdir("/proc"):
            if not name.isdigit() or int(name) in spared:
                continue
            try:  # the real uid from status: /proc/<pid> of a non-dumpable process is owned by root
                with open(f"/proc/{name}/status", "rb") as f:
                    fields = dict(line.split(b":", 1) for line in f.read().splitlines() if b":" in line)
            except OSError:
                continue
            if self.uid is not None and int(fields.get(b"Uid", b"-1").split()[0]) != self.uid:
                continue
            if fields.get(b"State", b"").split()[:1] in ([b"Z"], [b"X"]):
                dead.append(int(name))
            else:
                live.append(int(name))
        return live, dead

    @staticmethod
    def _kill_uid(uid: int) -> None:
        # kill(-1) as the job's uid signals every process of that uid at once (atomic against forks).
        import _signal as signal

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

    def _reap(self) -> None:
        """Reap the job's orphans (this process is their subreaper)."""
        while True:
            try:
                pid, _ = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                return
            if pid == 0:
                return
            if pid == self.spawner_pid:
                self.spawner_pid = -1  # the next job finds its socket closed and the worker restarts

    @staticmethod
    def remove_tree(path: str) -> None:
        """Remove the work directory; ``WorkerBroken`` when it stays."""
        try:
            os.rmdir(path)  # the usual case: the job left nothing behind
            return
        except FileNotFoundError:
            return
        except OSError:
            pass
        _remove_paths([path])
        if os.path.lexists(path):
            raise WorkerBroken(f"cannot remove {path}")


def _remove_paths(paths: list[str]) -> None:
    """Remove files and trees (any depth, symlinks never followed) with one ``rm`` (GNU: fd-relative,
    no recursion limit)."""
    try:
        import subprocess

        subprocess.run(["rm", "-rf", "--one-file-system", "--", *paths], stdin=subprocess.DEVNULL,
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, timeout=60, check=False)
    except Exception:  # noqa: BLE001 - the caller checks what is left where it matters
        pass


_PARTS = struct.Struct(">d")  # zygote -> spawner: the job's timeout (its body comes as a memfd, see _run)


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view):]


def _read_outputs(outputs: dict, poller, cap: int) -> bool:
    """Read what is available on the child's stdout/stderr (non-blocking), keeping ``cap`` bytes of
    each; a closed one is unregistered. True when one went over the cap."""
    over = False
    for fd, buf in outputs.items():
        while True:
            try:
                data = os.read(fd, 65536)
            except BlockingIOError:
                break
            except OSError:
                data = b""
            if not data:
                try:
                    poller.unregister(fd)
                except KeyError:
                    pass
                break
            room = cap - len(buf)
            buf += data[:max(room, 0)]
            if len(data) > room:
                over = True
                break
    return over


def spawner_loop(sock, status_fd: int, null_fd: int, uid: int | None, workdir: str) -> None:
    """The spawner: for each job frame (and the job's own pipe ends, received with it), fork the
    job's child, report ``<pid>``, enforce the wall clock (SIGKILL of the child and its process group
    at the deadline, through a pidfd: never a recycled pid), reap it, report ``<pid> <wait status>
    <killed>``. It never holds test code nor any job's body (that arrives as a memfd the child reads
    itself): every job's memory starts as a copy of this process's."""
    import _signal as signal
    import _socket
    import select

    _die_with_parent()  # not inherited through fork
    poller = select.poll()
    sock_fd = sock.fileno()
    while True:
        try:
            head, ancillary, _, _ = sock.recvmsg(_PARTS.size, _socket.CMSG_LEN(4 * (1 + len(_child.JOB_FDS))))
        except OSError:
            return
        if not head:
            return
        received = []
        for level, kind, data in ancillary:
            if level == _socket.SOL_SOCKET and kind == _socket.SCM_RIGHTS:
                received += struct.unpack(f"{len(data) // 4}i", data[: len(data) // 4 * 4])
        if len(head) < _PARTS.size:
            rest = _child._read_exact(sock_fd, _PARTS.size - len(head))
            if rest is None:
                return
            head += rest
        (timeout,) = _PARTS.unpack(head)
        if not received:
            return  # not a job: the zygote always sends the body's memfd and the pipes
        job_fds = {"stdin": null_fd, **dict(zip(_child.JOB_FDS[1 : len(received)], received[1:], strict=True))}
        try:
            pid = os.fork()
        except OSError as exc:
            pid = -(exc.errno or 1)
        if pid == 0:
            _child.child_main(received[0], job_fds, uid, workdir)
        for fd in received:
            os.close(fd)
        os.write(status_fd, b"%d\n" % pid)
        if pid < 0:
            continue
        pidfd = os.pidfd_open(pid)
        poller.register(pidfd, select.POLLIN)
        killed = 0
        if not poller.poll(timeout * 1000.0):
            killed = 1
            signal.pidfd_send_signal(pidfd, signal.SIGKILL)
            try:
                os.killpg(pid, signal.SIGKILL)  # its group too (the child is not reaped: still ours)
            except OSError:
                pass
        poller.unregister(pidfd)
        os.close(pidfd)
        _, wait_status = os.waitpid(pid, 0)
        os.write(status_fd, b"%d %d %d\n" % (pid, wait_status, killed))


def _die_with_parent() -> None:
    import _signal as signal

    if _child.LIBC is not None:
        _child.LIBC.prctl(1, int(signal.SIGKILL), 0, 0, 0)  # PR_SET_PDEATHSIG


def _mount_private_tmp(dirs: tuple[str, ...], size: int) -> None:
    """In the worker's own mount namespace (``unshare``): a fresh size-limited tmpfs on each of
    ``dirs`` (the host's /tmp, /var/tmp, /dev/shm ...), so that jobs neither see the host's files and
    sockets there nor fill the host's disk or memory. Raises when a mount fails (the worker must not
    run jobs with less than it reports)."""
    import ctypes

    libc = _child.LIBC or ctypes.CDLL(None, use_errno=True)
    ms_nosuid, ms_nodev, ms_rec, ms_private = 2, 4, 16384, 1 << 18
    if libc.mount(b"none", b"/", None, ms_rec | ms_private, None) != 0:
        raise OSError(ctypes.get_errno(), "cannot make the mount namespace private")
    for d in dirs:
        if not os.path.isdir(d):
            continue
        opts = f"size={size if d == '/tmp' else min(size, 16 << 20)},mode=1777".encode()
        if libc.mount(b"tmpfs", d.encode(), b"tmpfs", ms_nosuid | ms_nodev, opts) != 0:
            raise OSError(ctypes.get_errno(), f"cannot mount a private tmpfs on {d}")


STATE = {"stdlib": False}  # what the worker reports in its hello beyond seccomp


def _expose_read_only(prefix: str) -> bool:
    """In the worker's own mount namespace: make the interpreter's prefix reachable by the job's uid
    when a parent dir blocks it (``/root`` is 0700 for a pyenv interpreter), by covering the first
    blocking dir with an empty tmpfs (the rest of it stays hidden from jobs) and bind-mounting the
    prefix back read-only at the same path. Best effort: False leaves the preloaded modules only."""
    import ctypes
    import stat

    libc = _child.LIBC or ctypes.CDLL(None, use_errno=True)
    path = os.path.abspath(prefix)
    parts = path.strip("/").split("/")
    blocker = None
    for i in range(1, len(parts) + 1):
        d = "/" + "/".join(parts[:i])
        try:
            if not os.stat(d).st_mode & stat.S_IXOTH:
                blocker = d
                break
        except OSError:
            return False
    if blocker is None or blocker == path:
        return blocker is None
    ms_rdonly, ms_nosuid, ms_nodev, ms_remount, ms_bind, ms_rec = 1, 2, 4, 32, 4096, 16384
    fd = os.open(path, os.O_PATH | os.O_DIRECTORY)
    try:
        if libc.mount(b"tmpfs", blocker.encode(), b"tmpfs", ms_nosuid | ms_nodev, b"size=1m,mode=0755") != 0:
            return False
        os.makedirs(path, 0o755, exist_ok=True)
        src = f"/proc/self/fd/{fd}".encode()
        if libc.mount(src, path.encode(), None, ms_bind | ms_rec, None) != 0:
            return False
        libc.mount(None, path.encode(), None, ms_remount | ms_bind | ms_rdonly | ms_nosuid | ms_nodev, None)
        return True
    except OSError:
        return False
    finally:
        os.close(fd)


def _kill_jobs_when_orphaned(uid: int) -> None:
    """Without a pid namespace nothing takes a job's processes down with the worker: when the harness
    dies (even by SIGKILL), the parent-death signal (SIGTERM here) makes the zygote kill every process
    of the job's uid before it exits. The spawner and jobs get the default disposition back."""
    import _signal as signal

    def on_orphaned(signum, frame) -> None:
        try:
            Zygote._kill_uid(uid)
        finally:
            os._exit(1)

    signal.signal(signal.SIGTERM, on_orphaned)
    if _child.LIBC is not None:
        _child.LIBC.prctl(1, int(signal.SIGTERM), 0, 0, 0)  # PR_SET_PDEATHSIG
        if os.getppid() == 1:  # the harness is already gone
            on_orphaned(0, None)


CHECKER_MEMORY_BYTES = 4 << 30  # the zygote's (the checker's) address space; jobs set their own


def _limit_own_memory() -> None:
    """A soft RLIMIT_AS on the zygote (and so the spawner): values a program sends make the checker
    build objects, and no reply may grow it without bound. Only the soft limit: every job sets its
    own (soft and hard) from ``memory_mb``, which may be larger."""
    import resource

    _, hard = resource.getrlimit(resource.RLIMIT_AS)
    soft = CHECKER_MEMORY_BYTES if hard == resource.RLIM_INFINITY else min(CHECKER_MEMORY_BYTES, hard)
    try:
        resource.setrlimit(resource.RLIMIT_AS, (soft, hard))
    except (ValueError, OSError):
        pass


def _harden_self() -> None:
    """Not ptrace-able or dumpable by same-uid processes; die with the harness; reap orphans (outside
    a pid namespace, zombies of killed daemons would otherwise keep counting against RLIMIT_NPROC)."""
    try:
        import _signal as signal
        import ctypes

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
    private = tuple(d for d in opts.get("private_tmp", "").split(":") if d)
    if private:  # before anything is created there, and before the filter (which denies mount)
        if os.stat("/proc/self/ns/mnt").st_ino == int(opts.get("host_mntns", "0")):
            raise SystemExit("private_tmp: not in a mount namespace of its own; refusing to mount over the host's dirs")
        _mount_private_tmp(private, int(opts.get("tmp_bytes", 256 << 20)))
        if opts.get("expose"):
            STATE["stdlib"] = _expose_read_only(opts["expose"])
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
    _limit_own_memory()
    mode = opts.get("seccomp", "verify")
    unix = opts.get("sockets", "unix") == "unix"
    seccomp_filter = (_seccomp.load(_child.LIBC, verify=mode == "verify", unix_sockets=unix)
                      if mode in ("verify", "trusted") else None)
    if opts.get("preload") in ("1", "full"):
        import importlib

        for name in PRELOAD + (PRELOAD_EXTRA if opts.get("preload") == "full" else ()):
            try:
                importlib.import_module(name)
            except Exception:  # noqa: BLE001
                pass
    zygote = Zygote(uid, opts.get("pidns") == "1", workroot, tuple(d for d in opts.get("scrub", "").split(":") if d),
                    tuple(d for d in opts.get("empty", "").split(":") if d))
    zygote.seccomp = _child.prepare_worker(seccomp_filter, zygote.workdir)
    if opts.get("landlock") and _child.landlock_abi() >= 3:  # rlimits, unshare: the file-system
        # confinement bubblewrap's mounts give. A kernel without it: jobs run, the hello says so, and
        # BackendInfo.gaps states that the host's files are readable.
        _child.LANDLOCK_READ = tuple(p for p in opts["landlock"].split(":") if p)
    if uid is not None and opts.get("pidns") != "1":
        _kill_jobs_when_orphaned(uid)
    import gc

    gc.collect()
    gc.freeze()  # forked children never traverse (and so never copy) the zygote's objects
    if _child.LIBC is not None:
        _child.LIBC.malloc_trim(0)  # free heap pages go back: jobs that reuse them get zero-fill, not copy, faults
    zygote.start_spawner()
    zygote.serve()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
