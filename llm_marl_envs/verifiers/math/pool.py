"""A persistent pool of sympy worker processes with a hard, caller-side deadline.

Each worker is a separate ``python -I worker.py`` process (no ``fork`` of the caller, so it is safe
to use from threads), talking JSON lines over pipes. A call checks out an idle worker, sends one
request and waits with ``select`` until the deadline; a worker that misses it is SIGKILLed and a fresh
one is started in its place (the caller never waits for the respawn: a new worker warms up in the
background). No signals are used in the caller. The pool starts lazily on first use and is shut down
at interpreter exit.

A process forked from a user of the pool gets its own pool on first use (the parent's workers are
never touched). The number of workers is ``LLM_MARL_MATH_WORKERS`` (default: 2, at most the CPU count).
"""

from __future__ import annotations

import atexit
import itertools
import json
import os
import queue
import select
import subprocess
import sys
import threading
import time
from fractions import Fraction
from pathlib import Path

WORKER_SCRIPT = Path(__file__).with_name("worker.py")
WORKER_MEMORY_MB = 2048


def to_wire(node):
    """A parse tree as JSON-ready lists (``("num", Fraction)`` becomes ``["num", p, q]``)."""
    if isinstance(node, tuple):
        if len(node) == 2 and node[0] == "num" and isinstance(node[1], Fraction):
            return ["num", node[1].numerator, node[1].denominator]
        return [to_wire(x) for x in node]
    return node


class _Worker:
    def __init__(self) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-I", str(WORKER_SCRIPT)],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
            bufsize=0, close_fds=True, start_new_session=True,
        )
        self.ready = False
        self._buf = b""
        init = {"sys_path": [p for p in sys.path if p], "memory_mb": WORKER_MEMORY_MB}
        self.proc.stdin.write((json.dumps(init) + "\n").encode())
        self.proc.stdin.flush()

    def _readline(self, deadline: float) -> bytes | None:
        fd = self.proc.stdout.fileno()
        while b"\n" not in self._buf:
            left = deadline - time.monotonic()
            if left <= 0:
                return None
            r, _, _ = select.select([fd], [], [], left)
            if not r:
                return None
            chunk = os.read(fd, 65536)
            if not chunk:
                raise EOFError("worker exited")
            self._buf += chunk
        line, self._buf = self._buf.split(b"\n", 1)
        return line

    def wait_ready(self, deadline: float) -> bool:
        if not self.ready:
            line = self._readline(deadline)
            if line is None:
                return False
            self.ready = json.loads(line).get("ready", False)
        return self.ready

    def request(self, payload: dict, deadline: float) -> dict | None:
        self.proc.stdin.write((json.dumps(payload) + "\n").encode())
        self.proc.stdin.flush()
        line = self._readline(deadline)
        return None if line is None else json.loads(line)

    def kill(self) -> None:
        try:
            self.proc.kill()
        except OSError:
            pass
        try:
            self.proc.wait(timeout=2)
        except subprocess.TimeoutExpired:  # pragma: no cover
            pass
        for f in (self.proc.stdin, self.proc.stdout):
            try:
                f.close()
            except OSError:
                pass


class SymbolicPool:
    """Thread-safe pool: ``check(pairs, timeout_s)`` -> list of worker results, or ``None`` on timeout."""

    def __init__(self, workers: int | None = None) -> None:
        default = min(2, os.cpu_count() or 1)
        self.size = max(1, int(workers or os.environ.get("LLM_MARL_MATH_WORKERS") or default))
        self._idle: queue.Queue[_Worker] = queue.Queue()
        self._all: list[_Worker] = []
        self._lock = threading.Lock()
        self._started = False
        self._closed = False
        self._ids = itertools.count()
        self.kills = 0
        self.pid = os.getpid()  # a forked child must not use (or kill) its parent's workers

    def start(self) -> None:
        """Start the workers now (otherwise the first ``check`` does)."""
        with self._lock:
            if self._started or self._closed:
                return
            self._started = True
            for _ in range(self.size):
                self._spawn_locked()
            atexit.register(self.shutdown)

    def _spawn_locked(self) -> None:
        w = _Worker()
        self._all.append(w)
        self._idle.put(w)

    def _replace(self, dead: _Worker) -> None:
        dead.kill()
        with self._lock:
            if dead in self._all:
                self._all.remove(dead)
            self.kills += 1
            if not self._closed:
                self._spawn_locked()

    def wait_ready(self, timeout_s: float = 30.0) -> bool:
        """Block until every idle worker has imported sympy (for benchmarks and warm starts)."""
        self.start()
        deadline = time.monotonic() + timeout_s
        got = []
        try:
            for _ in range(self.size):
                w = self._idle.get(timeout=max(0.0, deadline - time.monotonic()))
                got.append(w)
                if not w.wait_ready(deadline):
                    return False
            return True
        except (queue.Empty, EOFError, OSError, ValueError):
            return False
        finally:
            for w in got:
                self._idle.put(w)

    def check(self, pairs: list[tuple], timeout_s: float) -> list[str] | None:
        """Symbolic verdicts for ``pairs`` of parse trees, or ``None`` when the deadline passed."""
        deadline = time.monotonic() + max(0.0, timeout_s)
        self.start()
        if self._closed:
            return None
        try:
            w = self._idle.get(timeout=max(0.0, deadline - time.monotonic()))
        except queue.Empty:
            return None
        try:
            if not w.wait_ready(deadline):
                self._idle.put(w)  # still importing sympy: not its fault, keep it
                return None
            payload = {"id": next(self._ids), "pairs": [[to_wire(a), to_wire(b)] for a, b in pairs]}
            reply = w.request(payload, deadline)
        except (EOFError, OSError, ValueError):
            reply = None
        if reply is None or "results" not in reply:
            self._replace(w)
            return None
        self._idle.put(w)
        return list(reply["results"])

    def shutdown(self) -> None:
        """Kill every worker (registered with ``atexit``; safe to call twice; a no-op in a forked child)."""
        if os.getpid() != self.pid:
            return
        with self._lock:
            self._closed = True
            workers, self._all = self._all, []
        for w in workers:
            w.kill()


_POOL: SymbolicPool | None = None
_POOL_LOCK = threading.Lock()


def get_pool() -> SymbolicPool:
    """The process-wide pool (created on first use)."""
    global _POOL
    with _POOL_LOCK:
        if _POOL is None or _POOL._closed or _POOL.pid != os.getpid():
            _POOL = SymbolicPool()
        return _POOL
