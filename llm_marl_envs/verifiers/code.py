"""The code verifier (contract: DESIGN.md section 3): run a program's tests in the sandbox.

Pass is decided only by the result channel (fd 3 in the sandboxed child): one record per test,
in order, followed by ``END <nonce>``, where the nonce is fresh per run and handed to the child
only after every test ran. Exit codes, stdout and stderr never count. The score is the fraction of
tests that passed; without the closing nonce (early ``sys.exit``/``os._exit``, crash, timeout,
tampered records) it is 0.

Limits of in-process checking, stated plainly: the tests call the solution's functions in the
same process (as in every assert-based harness), so a solution can look at its caller's frame to
read the expected value, and one that knows this harness's protocol and reaches into the
interpreter (``sys.settrace``, ``ctypes``, reading fd 4 itself) could still forge a pass. The
defences here stop the known reward hacks (exit early, print a pass marker, patch builtins or
``AssertionError``, AlwaysEqual objects, ``__bool__`` lies, searching frames and the heap for the
nonce); the namespaces, uid and rlimits protect the host regardless. A job's process is a fork of the
sandbox's spawner, whose cache of compiled test code (this task's and others') its frames can
reach; other tasks' tests are of no use to it (nothing it learns outlives the job), and this
task's tests are reachable in any in-process harness. Only ``==``, ``!=``, ``in``, ``not in``
(each single comparison anywhere in an assert) and truth are checked for lying objects: a value
whose Python-level arithmetic or ordering lies (``abs(f(x) - y) < eps`` with a ``__sub__`` that
returns 0, ``<`` on such objects) or a chained ``a == b == c`` still passes; and HumanEval tests
that call helpers from the prompt (``poly``) use the solution's copy of them.
"""

from __future__ import annotations

import secrets
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from ..sandbox import Sandbox, shared_sandbox
from ..sandbox.worker import Limits
from ..types import Task, Verdict
from .base import VERIFIERS
from .code_extract import answer_key, defined_names, extract_program
from .code_harness import BadTestsError, CheckPlan, build_plan

DEFAULT_TIMEOUT_S = 10.0
DEFAULT_MEMORY_MB = 1024


def _score_channel(channel: str, nonce: str, plan: CheckPlan) -> tuple[int | None, str]:
    """Passed-test count from the result channel, or ``None`` when the run does not count."""
    lines = channel.splitlines()
    if not lines or lines[-1] != f"END {nonce}":
        for line in lines:
            if line.startswith("L "):
                return None, f"the program failed to load: {line[2:] or 'error'}"
        return None, "the tests did not run to completion (no end-of-tests nonce)"
    expected = 0
    passed = 0
    failures: list[str] = []
    for line in lines[:-1]:
        kind, _, rest = line.partition(" ")
        if kind in ("P", "F"):
            idx_text, _, exc = rest.partition(" ")
            if not idx_text.isdigit() or int(idx_text) != expected or expected >= plan.n_tests:
                return None, "the result channel was tampered with"
            expected += 1
            if kind == "P":
                passed += 1
            else:
                failures.append(f"#{idx_text} {plan.names[int(idx_text)][:60]!r}: {exc or 'failed'}")
        elif kind == "X":
            failures.append(f"the test program stopped: {rest}")
        else:
            return None, "the result channel was tampered with"
    missing = plan.n_tests - expected
    detail = f"{passed}/{plan.n_tests} tests passed"
    if failures:
        detail += "; " + "; ".join(failures[:3]) + (" ..." if len(failures) > 3 else "")
    if missing:
        detail += f"; {missing} not run"
    return passed, detail


def _run_plan(program: str, plan: CheckPlan, *, prelude: str, timeout_s: float, memory_mb: int,
              sandbox: Sandbox | None, entry_point: str | None) -> Verdict:
    sb = sandbox or shared_sandbox()
    nonce = secrets.token_hex(16)
    limits = Limits(timeout_s=timeout_s, memory_mb=memory_mb, file_size_bytes=sb.limits.file_size_bytes,
                    open_files=sb.limits.open_files, processes=sb.limits.processes,
                    output_bytes=min(sb.limits.output_bytes, 256 * 1024))
    source = f"{prelude}\n{program}" if prelude.strip() else program
    job: dict[str, Any] = {"mode": "verify", "source": source, "stdin": "", "setup": plan.setup,
                           "driver": plan.driver, "nonce": nonce, "entry_point": entry_point or "",
                           **limits.job_fields()}
    reply = sb.execute(job)
    passed, detail = _score_channel(reply.get("channel", ""), nonce, plan)
    status = reply.get("status", "error")
    if passed is None:
        if status == "timeout":
            return Verdict(False, 0.0, "timeout", program, f"timeout after {timeout_s:g} s; {detail}")
        if status in ("memory", "output_limit"):
            detail = f"{status}: {detail}"
        tail = _last_line(reply.get("stderr", ""))
        return Verdict(False, 0.0, "error", program, detail + (f" ({tail})" if tail else ""))
    score = passed / plan.n_tests
    return Verdict(passed == plan.n_tests, score, "ok", program, detail)


def _last_line(text: str) -> str:
    lines = [ln for ln in text.strip().splitlines() if ln.strip()]
    return lines[-1][:200] if lines else ""


def verify_code(program: str, tests: Sequence[str] | str, *, entry_point: str | None = None,
                timeout_s: float = DEFAULT_TIMEOUT_S, memory_mb: int = DEFAULT_MEMORY_MB, setup: str = "",
                prelude: str = "", sandbox: Sandbox | None = None) -> Verdict:
    """Run ``tests`` against ``program`` in the sandbox and return a :class:`Verdict`.

    ``tests``: assert statements (one test each) or a test program (HumanEval's ``check``, called
    with ``entry_point``). The tests run with the builtins as they were before the program ran; of
    the program's names that rebind a builtin, only ``entry_point`` reaches them (MBPP's ``sum``). ``setup`` runs after the program, before the tests (MBPP's
    ``test_setup_code``); ``prelude`` runs before the program (sanitized MBPP's ``test_imports``).
    Runs on ``sandbox`` (default: the shared pool). Never raises on any program text.
    """
    if not isinstance(program, str) or not program.strip():
        return Verdict(False, 0.0, "no_answer", None, "no program")
    try:
        plan = build_plan(tests, entry_point, setup)
    except BadTestsError as e:
        return Verdict(False, 0.0, "error", program, f"bad tests: {e}")
    except Exception as e:  # noqa: BLE001 - tests of the wrong type (None, a number ...): report, never raise
        return Verdict(False, 0.0, "error", program, f"bad tests: {type(e).__name__}: {e}")
    try:
        return _run_plan(program, plan, prelude=prelude, timeout_s=timeout_s, memory_mb=memory_mb, sandbox=sandbox,
                         entry_point=entry_point)
    except Exception as e:  # noqa: BLE001 - infrastructure failure: report, never raise
        return Verdict(False, 0.0, "error", program, f"sandbox failure: {type(e).__name__}: {e}")


def _complete_program(program: str, task: Task) -> str:
    """HumanEval-style completions: when the program lacks the entry point but the task ships the
    function header (``metadata['prompt_code']``), prepend it."""
    header = task.metadata.get("prompt_code") if task.metadata else None
    if not header or not task.entry_point:
        return program
    names = defined_names(program)
    if names is not None and task.entry_point in names:
        return program
    completed = header.rstrip("\n") + "\n" + program
    names = defined_names(completed)
    return completed if names is not None else program


class CodeVerifier:
    """Scores code responses: extracts the program, runs ``task.tests`` in the sandbox pool.

    Uses ``task.tests``, ``task.entry_point`` and ``task.metadata`` keys ``test_setup_code`` (run after
    the program), ``test_imports`` (list of lines run before it), ``prompt_code`` (function header for
    completion-style answers), ``timeout_s`` and ``memory_mb``.
    """

    kind = "code"

    def __init__(self, *, timeout_s: float = DEFAULT_TIMEOUT_S, memory_mb: int = DEFAULT_MEMORY_MB,
                 sandbox: Sandbox | None = None) -> None:
        self.timeout_s = timeout_s
        self.memory_mb = memory_mb
        self._sandbox = sandbox

    @property
    def sandbox(self) -> Sandbox:
        return self._sandbox or shared_sandbox()

    def verify(self, response: str, task: Task) -> Verdict:
        try:
            program = extract_program(response, task.entry_point)
            if program is None:
                return Verdict(False, 0.0, "no_answer", None, "no code in the response")
            meta = task.metadata or {}
            imports = meta.get("test_imports") or []
            prelude = "\n".join(imports) if isinstance(imports, (list, tuple)) else str(imports)
            return verify_code(
                _complete_program(program, task), task.tests or (), entry_point=task.entry_point,
                timeout_s=float(meta.get("timeout_s", self.timeout_s)),
                memory_mb=int(meta.get("memory_mb", self.memory_mb)),
                setup=str(meta.get("test_setup_code") or ""), prelude=prelude, sandbox=self.sandbox,
            )
        except Exception as e:  # noqa: BLE001 - total by contract
            return Verdict(False, 0.0, "error", None, f"verifier failure: {type(e).__name__}: {e}")

    def verify_many(self, responses: Sequence[str], tasks: Sequence[Task]) -> list[Verdict]:
        """Score a batch concurrently on the shared sandbox pool (order preserved)."""
        if len(responses) != len(tasks):
            raise ValueError(f"{len(responses)} responses for {len(tasks)} tasks")
        if not responses:
            return []
        sb = self.sandbox
        with ThreadPoolExecutor(max_workers=min(sb.workers, len(responses))) as pool:
            return list(pool.map(self.verify, responses, tasks))

    def answer_key(self, response: str) -> str | None:
        return answer_key(response)

    def __repr__(self) -> str:
        return f"CodeVerifier(timeout_s={self.timeout_s}, memory_mb={self.memory_mb})"


CODE_VERIFIER = CodeVerifier()
VERIFIERS.register("code", CODE_VERIFIER)

__all__ = ["CODE_VERIFIER", "CodeVerifier", "answer_key", "extract_program", "verify_code"]
