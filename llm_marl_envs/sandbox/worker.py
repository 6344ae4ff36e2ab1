"""One sandbox worker: a zygote process inside the isolation boundary, driven over two pipes.

The harness side never trusts the worker's timing: it waits at most the job's deadline plus a grace
period for the answer, then kills the worker's whole process group (and with it the namespace) and
starts a new one. Worker processes are started from one long-lived thread, because bubblewrap's
``--die-with-parent`` (PR_SET_PDEATHSIG) fires when the *thread* that started it exits.
"""

from __future__ import annotations

import itertools
import os
import selectors
import shutil
import signal
import subprocess
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

from . import _zygote
from .backend import SCRUB_DIRS, BackendInfo, new_child_uid, worker_env, zygote_command

GRACE_S = 5.0  # extra wall time the harness allows the zygote before killing the whole worker
START_TIMEOUT_S = 30.0
_SPAWNER = ThreadPoolExecutor(max_workers=1, thread_name_prefix="llm-marl-sandbox-spawner")
_IDS = itertools.count(1)


@dataclass(frozen=True)
class Limits:
    """Per-job resource limits (bytes unless named otherwise).

    ``memory_mb`` is an address-space limit per process (RLIMIT_AS) and a job may run up to
    ``processes`` processes, so one job's total can reach ``memory_mb * processes``; lower
    ``processes`` where that matters (there is no per-job memory cgroup)."""

    timeout_s: float = 5.0
    memory_mb: int = 512
    file_size_bytes: int = 16 * 1024 * 1024
    open_files: int = 64
    processes: int = 64
    output_bytes: int = 1024 * 1024

    def job_fields(self) -> dict[str, Any]:
        timeout = max(0.05, float(self.timeout_s))
        return {
            "timeout_s": timeout,
            "memory_mb": max(16, int(self.memory_mb)),
            "cpu_s": int(timeout) + 1,
            "fsize": int(self.file_size_bytes),
            "nofile": int(self.open_files),
            "nproc": int(self.processes),
            "out_cap": int(self.output_bytes),
        }


class WorkerDied(RuntimeError):
    """The zygote went away while (or before) running a job."""


class Worker:
    """A started zygote. Not thread-safe: one job at a time (the pool hands workers out)."""

    def __init__(self, backend: BackendInfo, *, preload: bool) -> None:
        self.backend = backend
        self.preload = preload
        self.uid = new_child_uid() if backend.drops_uid else None
        self.proc: subprocess.Popen | None = None
        self.workroot: str | None = None
        self.jobs_run = 0
        self._start()

    def _start(self) -> None:
        cmd = zygote_command(self.backend.name, uid=self.uid, preload=self.preload,
                             seccomp="trusted" if self.backend.seccomp else "off")
        self.workroot = next((a.split("=", 1)[1] for a in cmd if a.startswith("workroot=")), None)
        if self.backend.name in ("bwrap", "unshare"):
            self.workroot = None  # inside the worker's private tmpfs; nothing on the host
        stderr = None if os.environ.get("LLM_MARL_SANDBOX_DEBUG") else subprocess.DEVNULL
        self.proc = _SPAWNER.submit(
            subprocess.Popen, cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=stderr,
            env=worker_env(), start_new_session=True, close_fds=True,
        ).result()
        os.set_blocking(self.proc.stdin.fileno(), False)
        hello = self._read_reply(time.monotonic() + START_TIMEOUT_S)
        if not hello or not hello.get("ready"):
            self.kill()
            raise WorkerDied(f"sandbox worker ({self.backend.name}) failed to start")
        if self.backend.seccomp and not hello.get("seccomp"):
            self.kill()  # the probe verified the filter on this host: never run jobs without it
            raise WorkerDied(f"sandbox worker ({self.backend.name}) could not install its seccomp filter")

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def run(self, job: dict[str, Any]) -> dict[str, Any]:
        """Send one job and wait for its result; kill and restart the worker when it overruns."""
        if not self.alive():
            self.restart()
        job = dict(job, id=next(_IDS))
        deadline = time.monotonic() + float(job["timeout_s"]) + GRACE_S
        start = time.monotonic()
        try:
            if not self._write_all(_zygote.encode_job(job), deadline):
                reply = None
            else:
                reply = self._read_reply(deadline)
        except (BrokenPipeError, OSError, ValueError) as e:
            self.restart()
            raise WorkerDied(f"sandbox worker died: {e}") from e
        if reply is None:
            timed_out = time.monotonic() >= deadline
            self.restart()
            if timed_out:
                return {"status": "timeout", "exit_code": None, "stdout": "", "stderr": "",
                        "duration_s": time.monotonic() - start, "checks": "",
                        "detail": "the sandbox worker overran its deadline and was killed"}
            raise WorkerDied("sandbox worker exited during a job")
        if not isinstance(reply, dict) or reply.get("id") != job["id"]:
            self.restart()  # an answer to another job: the channel cannot be trusted any more
            raise WorkerDied("sandbox worker answered out of turn")
        self.jobs_run += 1
        if reply.get("fatal"):
            self.restart()  # the worker could not vouch for its next job and is exiting
        return reply

    def _write_all(self, data: bytes, deadline: float) -> bool:
        """Write a frame without ever blocking past ``deadline`` (a frozen worker cannot hang us)."""
        fd = self.proc.stdin.fileno()
        view = memoryview(data)
        with selectors.DefaultSelector() as sel:
            sel.register(fd, selectors.EVENT_WRITE)
            while view:
                left = deadline - time.monotonic()
                if left <= 0 or not sel.select(left):
                    return False
                try:
                    n = os.write(fd, view[:1 << 20])
                except BlockingIOError:
                    continue
                view = view[n:]
        return True

    def _read_reply(self, deadline: float) -> dict[str, Any] | None:
        fd = self.proc.stdout.fileno()
        buf = bytearray()
        need = 4
        header_done = False
        with selectors.DefaultSelector() as sel:
            sel.register(fd, selectors.EVENT_READ)
            while len(buf) < need:
                left = deadline - time.monotonic()
                if left <= 0 or not sel.select(left):
                    return None
                chunk = os.read(fd, max(need - len(buf), 65536) if header_done else need - len(buf))
                if not chunk:
                    return None
                buf += chunk
                if not header_done and len(buf) >= 4:
                    header_done = True
                    need = 4 + int.from_bytes(buf[:4], "big")
                    if need > _zygote.MAX_FRAME:
                        return None
        import json

        return json.loads(bytes(buf[4:need]))

    def restart(self) -> None:
        self.kill()
        if self.uid is not None:
            self.uid = new_child_uid()  # nothing the old uid left anywhere is readable by the new worker
        self._start()

    def kill(self) -> None:
        proc = self.proc
        if proc is not None and proc.poll() is None:
            try:
                os.killpg(proc.pid, signal.SIGKILL)
            except OSError:
                pass
            try:
                proc.kill()
            except OSError:
                pass
        if proc is not None:
            try:
                proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                pass
            for stream in (proc.stdin, proc.stdout):
                try:
                    stream.close()
                except (OSError, ValueError):
                    pass
        if self.uid is not None and os.geteuid() == 0 and self.backend.name != "bwrap":
            _kill_uid_everywhere(self.uid)
            _remove_uid_files(self.uid)
        if self.workroot:
            _run_quietly(["rm", "-rf", "--one-file-system", "--", self.workroot])  # any depth
            self.workroot = None
        self.proc = None

    close = kill


def _run_quietly(argv: list[str], timeout: float = 60.0, **kwargs: Any) -> None:
    try:
        subprocess.run(argv, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                       timeout=timeout, check=False, **kwargs)
    except (OSError, subprocess.SubprocessError):
        pass


def _remove_uid_files(uid: int) -> None:
    """Outside bubblewrap: what a worker's private uid left anywhere in the host's world-writable dirs
    (the per-job scrub sees only their top level)."""
    dirs = [d for d in SCRUB_DIRS.split(":") if os.path.isdir(d)]
    if dirs:
        _run_quietly(["find", *dirs, "-xdev", "-user", str(uid), "-delete"])


def _kill_uid_everywhere(uid: int) -> None:
    """Outside a pid namespace: kill every process of a worker's private uid (leftover daemons)."""
    kill = shutil.which("kill")
    if kill is None:
        return
    try:  # kill(-1) as that uid reaches exactly its processes (the caller itself is spared)
        subprocess.run([kill, "-KILL", "-1"], user=uid, group=uid, extra_groups=[], env=worker_env(),
                       stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, timeout=10)
    except (OSError, subprocess.SubprocessError):
        pass
