"""Run untrusted Python safely (contract: DESIGN.md section 3).

    from llm_marl_envs.sandbox import run_python, Sandbox
    run_python("print(1 + 1)").stdout          # '2\\n'  (a fresh worker for one run)
    with Sandbox(workers=2) as sb:              # pre-started workers, thread-safe, for high rates
        sb.run_python("import sys; sys.exit(3)").exit_code   # 3

Isolation backend: the strongest that works is probed once and reported by :func:`detect_backend`
(and ``llm-marl doctor``): bubblewrap > unshare > rlimits only (warns). See ``backend.py`` and
``_zygote.py`` for exactly what each job gets.
"""

from .backend import BACKENDS, BackendInfo, detect_backend
from .pool import Sandbox, run_python, shared_sandbox
from .result import EXEC_STATUSES, ExecResult
from .worker import Limits

__all__ = [
    "BACKENDS",
    "EXEC_STATUSES",
    "BackendInfo",
    "ExecResult",
    "Limits",
    "Sandbox",
    "detect_backend",
    "run_python",
    "shared_sandbox",
]
