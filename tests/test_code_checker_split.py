"""Issue #13: the tests never run in the process of the program they judge.

One regression test per attack class of the issue. Every program below is a minimal WRONG program
that scored ``correct=True`` with ``verify_code`` before the checker/program split (commit 72c6626, tests
run in the program's process; verified by running this file's ``ATTACKS`` against a checkout of that
commit). Each must now score 0 on every backend this machine has (``bwrap``, ``unshare``,
``rlimits``). Also here: what crosses the codec (exceptions, in-place arguments, generators, handles,
uncarriable results), the checker's own names, and the non-ASCII/codec cases of a correct program.
"""

from __future__ import annotations

import textwrap

import pytest

from llm_marl_envs.sandbox import BACKENDS, Sandbox
from llm_marl_envs.sandbox.backend import _probe
from llm_marl_envs.verifiers.code import verify_code

TESTS = ("assert add(1, 2) == 3", "assert add(2, 2) == 4", "assert add(-1, 1) == 0")


def _d(text: str) -> str:
    return textwrap.dedent(text).lstrip("\n")


# (program, tests, verify_code keyword arguments) per attack; each passed every test before the split.
ATTACKS: dict[str, dict[str, tuple[str, tuple[str, ...], dict]]] = {
    # 1. values whose comparisons lie past the type checks
    "lying_values": {
        "class_switch_during_isinstance": (_d("""
            class Liar:
                def __eq__(self, other):
                    return True
                __hash__ = object.__hash__
            class Plain:
                @property
                def __class__(self):  # isinstance() reads it: switch the real type, then compare
                    object.__dict__["__class__"].__set__(self, Liar)
                    return Plain
            def add(a, b):
                return Plain()
            """), TESTS, {}),
        "weakref_proxy_forwards_eq": (_d("""
            import weakref
            class Yes:
                def __eq__(self, other):
                    return True
                __hash__ = object.__hash__
            _keep = Yes()
            def add(a, b):
                return weakref.proxy(_keep)
            """), TESTS, {}),
        "fraction_with_lying_numerator": (_d("""
            from fractions import Fraction
            class Yes:
                def __eq__(self, other):
                    return True
                __hash__ = object.__hash__
            class F(Fraction):
                _numerator = property(lambda self: Yes())
                _denominator = property(lambda self: 1)
            def add(a, b):
                return object.__new__(F)
            """), TESTS, {}),
        "lying_arithmetic_and_order": (_d("""
            class Zero:
                def __sub__(self, other):
                    return 0
                def __lt__(self, other):
                    return True
            def add(a, b):
                return Zero()
            """), ("assert abs(add(1, 2) - 3) < 1e-9", "assert add(2, 2) < 5"), {}),
        "chained_comparison": (_d("""
            class Yes:
                def __eq__(self, other):
                    return True
                __hash__ = object.__hash__
            def add(a, b):
                return Yes()
            """), ("assert add(1, 2) == 3 == 3", "assert 4 == add(2, 2) == 4"), {}),
    },
    # 2. names the tests borrow from the program
    "borrowed_names": {
        "class_named_math": (_d("""
            class math:
                isclose = staticmethod(lambda *a, **k: True)
            def area(r):
                return 0
            """), ("assert math.isclose(area(1), 3.14159, rel_tol=1e-3)",), {"prelude": "import math"}),
        "fake_math_module_bound_by_setup": (_d("""
            import sys, types
            fake = types.ModuleType("math")
            fake.isclose = lambda *a, **k: True
            sys.modules["math"] = fake
            def area(r):
                return 0
            """), ("assert math.isclose(area(1), 3.14159, rel_tol=1e-3)",), {"setup": "import math"}),
        "str_subclass_key_slips_a_patched_builtin_past_the_filter": (_d("""
            class K(str):
                calls = 0
                def __eq__(self, other):  # unequal to the filter's first look, equal to the tests' lookup
                    K.calls += 1
                    return K.calls > 1 and str.__eq__(self, other)
                __hash__ = str.__hash__
            globals()[K("abs")] = lambda x: 0
            def add(a, b):
                return 99
            """), ("assert abs(add(1, 2) - 3) < 1e-9",), {}),
    },
    # 3. reading the answer from the harness
    "reading_the_answer": {
        "expected_value_in_the_callers_bytecode": (_d("""
            import sys
            def add(a, b):
                frame = sys._getframe(1)
                code = frame.f_code.co_code
                for at in range(frame.f_lasti + 2, len(code), 2):
                    if code[at] == 100:  # LOAD_CONST (3.11): the expected value follows the call
                        return frame.f_code.co_consts[code[at + 1]]
                return None
            """), TESTS, {}),
    },
    # 4. forging the harness's channel or code
    "forged_channel": {
        "nonce_read_from_its_descriptor": (_d("""
            import os
            nonce = os.read(4, 256)
            os.write(3, b"P 0\\nP 1\\nP 2\\nEND " + nonce)
            os._exit(0)
            """), TESTS, {}),
        "recorders_swapped_in_the_callers_frame": (_d("""
            import ctypes, sys
            def add(a, b):
                frame = sys._getframe(1)
                names = frame.f_locals
                passed = names["__hp"]
                names["__hf"] = lambda i, exc=None: passed(i)  # every failure is recorded as a pass
                ctypes.pythonapi.PyFrame_LocalsToFast(ctypes.py_object(frame), ctypes.c_int(0))
                return 0
            """), TESTS, {}),
    },
}


def _available_backends() -> list[str]:
    return [name for name in BACKENDS if _probe(name) is None]


AVAILABLE = _available_backends()


@pytest.fixture(scope="module", params=AVAILABLE)
def pool(request):
    with Sandbox(workers=1, backend=request.param) as sandbox:
        yield sandbox


def _attack_ids(cls: str) -> list[str]:
    return sorted(ATTACKS[cls])


@pytest.mark.parametrize("name", _attack_ids("lying_values"))
def test_values_whose_comparisons_lie_score_zero(pool, name):
    """Before the split each of these passed every test: the check ran against the program's live
    object in the program's process. Now the checker compares only values it rebuilt itself."""
    program, tests, kw = ATTACKS["lying_values"][name]
    v = verify_code(program, tests, sandbox=pool, timeout_s=5, **kw)
    assert v.score == 0.0 and not v.correct, v.detail


@pytest.mark.parametrize("name", _attack_ids("borrowed_names"))
def test_names_the_tests_borrow_score_zero(pool, name):
    """Before the split a ``class math`` (or a fake ``sys.modules['math']`` that the setup line
    imported) answered the tests' ``math.isclose``; now ``math`` is the checker's own import."""
    program, tests, kw = ATTACKS["borrowed_names"][name]
    v = verify_code(program, tests, sandbox=pool, timeout_s=5, **kw)
    assert v.score == 0.0 and not v.correct, v.detail


@pytest.mark.parametrize("name", _attack_ids("reading_the_answer"))
def test_the_answer_is_not_in_the_programs_process(pool, name):
    """Before the split the expected value sat in the caller's frame (the test's bytecode); now the
    caller is the program's own request loop, and no test code exists in its process."""
    program, tests, kw = ATTACKS["reading_the_answer"][name]
    v = verify_code(program, tests, sandbox=pool, timeout_s=5, **kw)
    assert v.score == 0.0 and not v.correct, v.detail


def test_no_test_code_is_reachable_from_the_program(pool):
    """Neither this task's tests nor any other task's (formerly cached in the spawner, whose memory
    every job inherits) exist in the program's process: no code object from the test files, no test
    text, in any frame or in the heap."""
    other = verify_code("def mul(a, b):\n    return a * b\n", ("assert mul(6, 7) == 424242",), sandbox=pool)
    assert other.status == "ok"
    probe = _d("""
        import gc, sys
        def found():
            hits = 0
            frames = []
            f = sys._getframe()
            while f is not None:
                frames.append(f)
                f = f.f_back
            for obj in gc.get_objects() + frames:
                code = getattr(obj, "f_code", None) or getattr(obj, "__code__", None)
                if code is not None and code.co_filename in ("tests.py", "test_setup.py"):
                    hits += 1
                if isinstance(obj, dict):
                    for v in list(obj.values()):
                        if isinstance(v, str) and "424242" in v:
                            hits += 1
            return hits
        def add(a, b):
            return found() + a + b - found()
        """)
    assert verify_code(probe, TESTS, sandbox=pool).correct  # found() is 0 both times


@pytest.mark.parametrize("name", _attack_ids("forged_channel"))
def test_forging_the_harness_channel_or_code_scores_zero(pool, name):
    """Before the split the program could read the run's nonce and write the pass records itself,
    or swap the recorders in its caller's frame; now the records live in the checker."""
    program, tests, kw = ATTACKS["forged_channel"][name]
    v = verify_code(program, tests, sandbox=pool, timeout_s=5, **kw)
    assert v.score == 0.0 and not v.correct, v.detail


# --- what crosses ---------------------------------------------------------------------------------

def test_exceptions_cross_by_their_builtin_class(pool):
    program = _d("""
        class Mine(KeyError):
            pass
        def f(x):
            if x < 0:
                raise ValueError("negative")
            if x == 0:
                raise Mine("zero")
            return x
        """)
    tests = ("try:\n    f(-1)\n    assert False\nexcept ValueError as e:\n    assert 'negative' in str(e)",
             "try:\n    f(0)\n    assert False\nexcept LookupError:\n    pass",
             "assert f(3) == 3")
    v = verify_code(program, tests, sandbox=pool)
    assert v.correct, v.detail


def test_in_place_changes_generators_handles_and_builtins_as_arguments(pool):
    program = _d("""
        class Node:
            def __init__(self, v):
                self.v = v
        def sort_in_place(xs):
            xs.sort()
        def squares(n):
            return (i * i for i in range(n))
        def total(nodes):
            return sum(n.v for n in nodes)
        def keep_type(xs, t):
            return [x for x in xs if isinstance(x, t)]
        """)
    tests = ("xs = [3, 1, 2]\nsort_in_place(xs)\nassert xs == [1, 2, 3]",
             "assert list(squares(4)) == [0, 1, 4, 9]",
             "g = squares(3)\nassert next(g) == 0",
             "assert total([Node(1), Node(2)]) == 3 and Node(5).v == 5",
             "assert keep_type([1, 'a', 2.0], int) == [1]",
             "assert root.v == 7")
    v = verify_code(program, tests, setup="root = Node(7)", sandbox=pool)
    assert v.correct, v.detail


@pytest.mark.parametrize(("body", "why"), [
    ("return object()", "== on a object object of the program"),
    ("return 'x' * (20 * 1024 * 1024)", "cannot cross"),
    ("x = 0\n    for _ in range(150):\n        x = [x]\n    return x", "cannot cross"),
    ("return 10 ** 5000", "cannot cross"),
])
def test_results_that_cannot_cross_fail_with_a_clear_detail(pool, body, why):
    v = verify_code(f"def add(a, b):\n    {body}\n", TESTS[:1], sandbox=pool)
    assert v.score == 0.0 and why in v.detail, v.detail


def test_a_swallowed_refusal_still_fails_the_test(pool):
    """A test that catches everything cannot turn a refused comparison into a pass."""
    program = "class X:\n    pass\ndef add(a, b):\n    return X()\n"
    tests = ("try:\n    assert add(1, 2) == 3\nexcept BaseException:\n    pass",)
    assert verify_code(program, tests, sandbox=pool).score == 0.0


def test_the_entry_point_named_like_a_builtin_is_the_programs(pool):
    program = "def sum(a, b):\n    return a - b\n"
    assert verify_code(program, ("assert sum(10, 4) == 6", "assert max([1, 2]) == 2"), entry_point="sum",
                       sandbox=pool).correct


def test_a_correct_program_with_a_non_ascii_name_and_a_legacy_codec_passes(pool):
    """Regression (unshare, rlimits): the job's uid could not import ``unicodedata`` or the cp1252 codec."""
    program = "def ａｄｄ(a, b):\n    return a + b\ndef enc(s):\n    return s.encode('cp1252')\n"
    v = verify_code(program, ("assert add(1, 2) == 3", "assert enc('é') == b'\\xe9'"), sandbox=pool)
    assert v.correct, v.detail
