"""``Sandbox``: a thread-safe pool of pre-started workers, and ``run_python`` for one-off runs.

Pool mode keeps N zygotes alive inside their isolation boundaries (bubblewrap namespaces when
available); each job still runs in a freshly forked process with its own rlimits, uid, session and
work directory, so pool mode gives the same per-submission isolation as a fresh interpreter at a
fraction of the start-up cost. ``run_python`` (module level) starts a worker for one job and stops it.
"""

from __future__ import annotations

import atexit
import os
import threading
from typing import Any

from .backend import BackendInfo, detect_backend
from .result import ExecResult
from .worker import Limits, Worker, WorkerDied


def _to_result(reply: dict[str, Any], backend: str) -> ExecResult:
    return ExecResult(
        status=reply.get("status", "error"),
        exit_code=reply.get("exit_code"),
        stdout=reply.get("stdout", ""),
        stderr=reply.get("stderr", ""),
        duration_s=float(reply.get("duration_s", 0.0)),
        backend=backend,
        detail=reply.get("detail", ""),
        leftover_processes=int(reply.get("leftover_processes", 0)),
    )


def _job(source: str, stdin: str, limits: Limits, **extra: Any) -> dict[str, Any]:
    if not isinstance(source, str):
        raise TypeError(f"source must be a str, got {type(source).__name__}")
    return {"mode": "run", "source": source, "stdin": stdin or "", **limits.job_fields(), **extra}


def _run_on(worker: Worker, job: dict[str, Any]) -> dict[str, Any]:
    """Run a job; a worker that dies mid-job (e.g. killed by the job) gives an ``error`` result."""
    try:
        return worker.run(job)
    except WorkerDied as e:
        return {"status": "error", "exit_code": None, "stdout": "", "stderr": "", "duration_s": 0.0,
                "checks": "", "detail": str(e)}


class Sandbox:
    """A reusable, thread-safe pool of ``workers`` pre-started sandbox workers (context manager).

    ``run_python`` may be called from many threads at once; each call takes an idle worker (waiting
    when all are busy). ``backend`` forces an isolation backend by name (default: the strongest that
    works, see :func:`detect_backend`).
    """

    def __init__(self, workers: int | None = None, *, backend: str | None = None, preload: bool = True,
                 limits: Limits | None = None) -> None:
        self.backend: BackendInfo = _backend_named(backend)
        self.limits = limits or Limits()
        n = workers if workers is not None else (os.cpu_count() or 2)
        if n < 1:
            raise ValueError(f"workers must be >= 1, got {n}")
        self._cond = threading.Condition()
        self._idle: list[Worker] = []
        self._all: list[Worker] = []
        self._closed = False
        try:
            for _ in range(n):
                w = Worker(self.backend, preload=preload)
                self._all.append(w)
                self._idle.append(w)
        except BaseException:
            self.close()
            raise

    @property
    def workers(self) -> int:
        return len(self._all)

    def run_python(self, source: str, *, timeout_s: float = 5.0, memory_mb: int = 512, stdin: str = "",
                   limits: Limits | None = None) -> ExecResult:
        """Run ``source`` as a fresh sandboxed program (like ``python solution.py``)."""
        lim = _limits(limits or self.limits, timeout_s, memory_mb)
        return _to_result(self.execute(_job(source, stdin, lim)), self.backend.name)

    def execute(self, job: dict[str, Any]) -> dict[str, Any]:
        """Low-level: run a prepared job dict on an idle worker and return the raw reply."""
        worker = self._checkout()
        try:
            return _run_on(worker, job)
        finally:
            self._checkin(worker)

    def _checkout(self) -> Worker:
        with self._cond:
            while not self._idle:
                if self._closed:
                    raise RuntimeError("the sandbox is closed")
                self._cond.wait()
            if self._closed:
                raise RuntimeError("the sandbox is closed")
            return self._idle.pop()

    def _checkin(self, worker: Worker) -> None:
        with self._cond:
            if self._closed:
                worker.kill()
                return
            self._idle.append(worker)
            self._cond.notify()

    def close(self) -> None:
        """Stop every worker (their namespaces and any leftover processes go with them)."""
        with self._cond:
            self._closed = True
            idle, self._idle = self._idle, []
            self._cond.notify_all()
        for w in idle:
            w.kill()

    def __del__(self) -> None:  # a pool dropped without close() still stops its workers
        try:
            self.close()
        except Exception:  # noqa: BLE001 - interpreter shutdown
            pass

    def __enter__(self) -> Sandbox:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"Sandbox(workers={self.workers}, backend={self.backend.name!r})"


def _limits(base: Limits, timeout_s: float, memory_mb: int) -> Limits:
    return Limits(timeout_s=timeout_s, memory_mb=memory_mb, file_size_bytes=base.file_size_bytes,
                  open_files=base.open_files, processes=base.processes, output_bytes=base.output_bytes)


def _backend_named(name: str | None) -> BackendInfo:
    chosen = detect_backend()
    if name is None or name == chosen.name:
        return chosen
    from .backend import BACKENDS, _describe, _probe

    if name not in BACKENDS:
        raise ValueError(f"unknown sandbox backend {name!r}; choose from {BACKENDS}")
    why = _probe(name)
    if why is not None:
        raise RuntimeError(f"sandbox backend {name!r} does not work: {why}")
    return _describe(name, {name: "ok"})


def run_python(source: str, *, timeout_s: float = 5.0, memory_mb: int = 512, stdin: str = "",
               limits: Limits | None = None, backend: str | None = None) -> ExecResult:
    """Run ``source`` in a brand-new sandbox worker (fresh interpreter and namespaces) and stop it.

    Returns an :class:`ExecResult`; never raises on anything the program does. For many runs use a
    :class:`Sandbox` pool (several times faster).
    """
    info = _backend_named(backend)
    lim = _limits(limits or Limits(), timeout_s, memory_mb)
    worker = Worker(info, preload=False)
    try:
        return _to_result(_run_on(worker, _job(source, stdin, lim)), info.name)
    finally:
        worker.kill()


_SHARED: Sandbox | None = None
_SHARED_PID = 0
_SHARED_LOCK = threading.Lock()


def shared_sandbox() -> Sandbox:
    """One process-wide pool, started on first use and closed at exit. It has two workers per CPU
    (at most 16): while one worker's job crosses the pipes, the other keeps the CPU busy.

    A forked child process gets its own pool (it must not share the parent's worker pipes)."""
    global _SHARED, _SHARED_PID
    with _SHARED_LOCK:
        if _SHARED is None or _SHARED._closed or _SHARED_PID != os.getpid():
            _SHARED = Sandbox(workers=min(16, 2 * (os.cpu_count() or 1)))
            _SHARED_PID = os.getpid()
            atexit.register(_SHARED.close)
        return _SHARED
