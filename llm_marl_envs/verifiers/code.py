"""The code verifier (contract: DESIGN.md section 3): the program and its tests in two processes.

The program runs in a fresh sandboxed process per submission (a fork of a sandbox worker's spawner,
see ``sandbox/_zygote.py``); the tests, their expected values, the pass/fail record and the harness
code run in the trusted checker (``sandbox/_checker.py``, inside the worker's zygote, which never runs
model code). The tests reach the program only through proxies: ``candidate(*args)`` and every other
name the tests use from the program is a remote call, with arguments and results crossing as plain
data through a strict codec (``sandbox/_codec.py``: exact builtin types, bounded size and depth,
rebuilt by the checker; see ``sandbox/_checker.py`` for what crosses: exceptions by their builtin
class, in-place changes to list/dict/set/bytearray arguments, generators drained up to a bound;
other objects stay behind as handles that cannot be compared). So a value that lies about its
comparisons, a name the tests would borrow from the program (``math``), the expected value in a
caller's frame, and the harness's own channel are all out of the program's reach: what it can
influence is the data it returns, as any honest program does.

The score is the fraction of tests passed. Names the tests use resolve in the checker: builtins and
stdlib modules used as ``module.attr`` are the checker's own; HumanEval's prompt helpers (``poly``)
are part of the task's tests (``tasks/code_datasets.py``), so the checker has its own copy. A test
that uses a result the codec cannot carry fails with a detail saying so. Exit codes, stdout and
stderr never count.

Limits, by design: the tests are trusted code (data sets, users), so whatever they do with the
program's plain data runs in the checker. The one way data could become code there is closed:
``eval`` in a test reads literals only (``ast.literal_eval``) and ``exec``/``compile`` are refused
(no MBPP or HumanEval test uses them). A test's ``assert`` counts only when it uses the program (the
check's parameter, the entry point, a name resolved to the program, or a local bound from them);
``assert True`` lines run but do not score. Not carried: ints over ``_codec.MAX_INT_BYTES``, values
nested deeper than ``_codec.MAX_DEPTH``, ranges or iterators of more than ``_codec.MAX_ITEMS`` items,
and the identity of arguments (``f(x, x)`` gets two copies).
"""

from __future__ import annotations

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


def _run_plan(program: str, plan: CheckPlan, *, prelude: str, timeout_s: float, memory_mb: int,
              sandbox: Sandbox | None) -> Verdict:
    sb = sandbox or shared_sandbox()
    limits = Limits(timeout_s=timeout_s, memory_mb=memory_mb, file_size_bytes=sb.limits.file_size_bytes,
                    open_files=sb.limits.open_files, processes=sb.limits.processes,
                    output_bytes=min(sb.limits.output_bytes, 256 * 1024))
    source = f"{prelude}\n{program}" if prelude.strip() else program
    job: dict[str, Any] = {"mode": "check", "source": source, "stdin": "", "setup": plan.program_setup,
                           "tests": plan.tests, "remote": ",".join(plan.remote), "modules": ",".join(plan.modules),
                           "n_tests": plan.n_tests, **limits.job_fields()}
    reply = sb.execute(job)
    records = [r for r in str(reply.get("checks", "")).split("\n") if r] if reply.get("checks") else []
    status = reply.get("status", "error")
    note = str(reply.get("note") or reply.get("detail") or "")
    if len(records) != plan.n_tests:  # the worker itself failed (it never sends a partial record)
        detail = note or "the sandbox worker returned no test records"
        if status == "timeout":
            return Verdict(False, 0.0, "timeout", program, f"timeout after {timeout_s:g} s; {detail}")
        return Verdict(False, 0.0, "error", program, detail)
    passed = sum(1 for r in records if r == "P")
    failures = [f"#{i} {plan.names[i][:60]!r}: {r[2:] or 'failed'}" for i, r in enumerate(records) if r != "P"]
    detail = f"{passed}/{plan.n_tests} tests passed"
    if failures:
        detail += "; " + "; ".join(failures[:3]) + (" ..." if len(failures) > 3 else "")
    score = passed / plan.n_tests
    if status == "ok":
        return Verdict(passed == plan.n_tests, score, "ok", program, detail)
    if status == "timeout":
        return Verdict(False, score, "timeout", program, f"timeout after {timeout_s:g} s; {detail}")
    if status in ("memory", "output_limit"):
        note = f"{status}: {note}"
    tail = _last_line(reply.get("stderr", ""))
    return Verdict(False, score, "error", program, f"{note}; {detail}" + (f" ({tail})" if tail else ""))


def _last_line(text: str) -> str:
    lines = [ln for ln in text.strip().splitlines() if ln.strip()]
    return lines[-1][:200] if lines else ""


def verify_code(program: str, tests: Sequence[str] | str, *, entry_point: str | None = None,
                timeout_s: float = DEFAULT_TIMEOUT_S, memory_mb: int = DEFAULT_MEMORY_MB, setup: str = "",
                prelude: str = "", sandbox: Sandbox | None = None) -> Verdict:
    """Run ``tests`` against ``program`` in the sandbox and return a :class:`Verdict`.

    ``tests``: assert statements (one test each) or a test program (HumanEval's ``check``, called
    with ``entry_point``). The tests run in the trusted checker with its own builtins; the program's
    names reach them only as remote calls (the entry point always, even when it is named like a
    builtin: MBPP's ``sum``). ``setup`` runs in the program's process after the program (MBPP's
    ``test_setup_code``, which builds inputs from the program's classes); ``prelude`` runs before the
    program and in the checker before the tests (sanitized MBPP's ``test_imports``).
    Runs on ``sandbox`` (default: the shared pool). Never raises on any program text.
    """
    if not isinstance(program, str) or not program.strip():
        return Verdict(False, 0.0, "no_answer", None, "no program")
    try:
        plan = build_plan(tests, entry_point, setup, prelude)
    except BadTestsError as e:
        return Verdict(False, 0.0, "error", program, f"bad tests: {e}")
    except Exception as e:  # noqa: BLE001 - tests of the wrong type (None, a number ...): report, never raise
        return Verdict(False, 0.0, "error", program, f"bad tests: {type(e).__name__}: {e}")
    try:
        return _run_plan(program, plan, prelude=prelude, timeout_s=timeout_s, memory_mb=memory_mb, sandbox=sandbox)
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
