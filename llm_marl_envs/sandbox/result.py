"""The result of one sandboxed execution (contract: DESIGN.md section 3)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

ExecStatus = Literal["ok", "error", "timeout", "memory", "output_limit"]
EXEC_STATUSES: tuple[str, ...] = ("ok", "error", "timeout", "memory", "output_limit")


@dataclass(frozen=True)
class ExecResult:
    """What a program did in the sandbox.

    ``status``: ``"ok"`` (exit code 0), ``"error"`` (non-zero exit, uncaught exception, signal),
    ``"timeout"`` (killed at the wall-clock deadline), ``"memory"`` (died of ``MemoryError`` under
    RLIMIT_AS), ``"output_limit"`` (killed for writing more than the cap). ``exit_code`` is negative
    for a signal (as in ``subprocess``) and ``None`` when the program never ran. ``stdout`` and
    ``stderr`` are each capped. ``backend`` names the isolation backend that ran it.
    """

    status: ExecStatus
    exit_code: int | None
    stdout: str
    stderr: str
    duration_s: float
    backend: str = ""
    detail: str = ""
    leftover_processes: int = 0

    @property
    def ok(self) -> bool:
        return self.status == "ok"
