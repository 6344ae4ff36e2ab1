"""verify_code, CodeVerifier (extraction, answer keys, scoring, integrity) and the reference sweeps."""

from __future__ import annotations

import time

import pytest

from llm_marl_envs.sandbox import Sandbox
from llm_marl_envs.tasks import load_tasks
from llm_marl_envs.types import Task, Verdict
from llm_marl_envs.verifiers import VERIFIERS, get_verifier, verify_code
from llm_marl_envs.verifiers.code import CODE_VERIFIER, CodeVerifier
from llm_marl_envs.verifiers.code_extract import answer_key, extract_program
from llm_marl_envs.verifiers.code_harness import BadTestsError, build_plan

ADD_TESTS = ("assert add(1, 2) == 3", "assert add(2, 2) == 4", "assert add(-1, 1) == 0", "assert add(0, 0) == 0")
ADD = "def add(a, b):\n    return a + b\n"


@pytest.fixture(scope="module")
def sb():
    with Sandbox(workers=2) as sandbox:
        yield sandbox


@pytest.fixture(scope="module")
def verifier(sb):
    return CodeVerifier(sandbox=sb, timeout_s=10)


def _task(tests=ADD_TESTS, **kw) -> Task:
    return Task(id="t", kind="code", prompt="write add", tests=tests, entry_point="add", **kw)


# --- extraction and keys ----------------------------------------------------------------------

@pytest.mark.parametrize(
    ("response", "program"),
    [
        ("Sure:\n```python\nx = 1\n```\nand better:\n```python\nx = 2\n```", "x = 2"),
        ("```\nplain = 1\n```", "plain = 1"),
        ("```py\na = 1\n```\n```text\nnot code\n```", "a = 1"),
        ("```js\nlet a\n```\n```bash\nls\n```", "ls"),
        ("def f():\n    return 1", "def f():\n    return 1"),
        ("```python\ndef g():\n    return 2", "def g():\n    return 2"),  # unterminated (truncated) fence
        ("", None),
        ("   \n\t", None),
        ("```python\n\n```", None),
    ],
)
def test_extract_program(response, program):
    assert extract_program(response) == program


def test_answer_key_groups_equivalent_programs():
    a = "```python\ndef add(a, b):\n    # sum\n    return a + b\n```"
    b = "Here you go\n```python\ndef add(a,b):\n\n    return a+b   \n```"
    c = "```python\ndef add(a, b):\n    return b + a\n```"
    assert answer_key(a) == answer_key(b) == CODE_VERIFIER.answer_key(a)
    assert answer_key(a) != answer_key(c)
    assert answer_key("") is None and answer_key("```python\n```") is None
    broken1, broken2 = "def f(:\n  x", "def f(:\n  x   \n# note\n"
    assert answer_key(broken1) == answer_key(broken2) is not None


@pytest.mark.parametrize("junk", ["\x00" * 10, "(" * 100_000, "\udcff", "```" * 1000, "a" * 1_000_000, None, 42])
def test_answer_key_never_raises(junk):
    key = answer_key(junk)  # type: ignore[arg-type]
    assert key is None or isinstance(key, str)


# --- verify_code ------------------------------------------------------------------------------

def test_correct_program_passes(sb):
    v = verify_code(ADD, ADD_TESTS, sandbox=sb)
    assert isinstance(v, Verdict)
    assert (v.correct, v.score, v.status) == (True, 1.0, "ok")
    assert v.detail.startswith("4/4")


def test_score_is_the_fraction_of_tests_passed(sb):
    v = verify_code("def add(a, b):\n    return a * 2 if a == b else a + b + (a < 0)\n", ADD_TESTS, sandbox=sb)
    assert v.status == "ok" and not v.correct
    assert v.score == pytest.approx(3 / 4)


def test_each_test_is_independent(sb):
    prog = "def add(a, b):\n    if a == 2:\n        raise RuntimeError('x')\n    return a + b\n"
    v = verify_code(prog, ADD_TESTS, sandbox=sb)
    assert v.score == pytest.approx(3 / 4) and "RuntimeError" in v.detail


@pytest.mark.parametrize(
    ("program", "status"),
    [
        ("def add(a, b)\n    return a + b", "error"),  # syntax error
        ("raise ImportError('nope')", "error"),
        ("", "no_answer"),
        ("def add(a, b):\n    while True:\n        pass", "timeout"),
        ("x = bytearray(4 * 1024 ** 3)", "error"),
    ],
)
def test_failure_statuses(sb, program, status):
    v = verify_code(program, ADD_TESTS, sandbox=sb, timeout_s=1.5)
    assert v.status == status and not v.correct and v.score == 0.0


def test_stdout_is_irrelevant(sb):
    noisy = ADD + "print('FAIL ' * 1000)\nimport sys\nprint('Traceback', file=sys.stderr)\n"
    assert verify_code(noisy, ADD_TESTS, sandbox=sb).correct


def test_bad_tests_are_an_error_not_an_exception(sb):
    v = verify_code(ADD, ("assert add(1, 2) ==",), sandbox=sb)
    assert v.status == "error" and "bad tests" in v.detail
    with pytest.raises(BadTestsError):
        build_plan("x = 1", None)


@pytest.mark.parametrize("tests", [None, 123, [None, 4], ("assert 1", ["unhashable"])])
def test_tests_of_the_wrong_type_are_an_error_not_an_exception(sb, tests):
    """Regression: ``verify_code(prog, None)`` raised TypeError (a verifier never raises)."""
    v = verify_code(ADD, tests, sandbox=sb)
    assert v.status == "error" and "bad tests" in v.detail


def test_test_program_with_check_function(sb):
    tests = "METADATA = {}\n\ndef check(candidate):\n    assert candidate(1, 2) == 3\n    x = 5\n    for i in range(3):\n        assert candidate(i, x) == i + x\n    assert candidate(0, 0) == 1\n"
    v = verify_code(ADD, tests, entry_point="add", sandbox=sb)
    assert v.status == "ok" and v.score == pytest.approx(2 / 3)
    plan = build_plan(tests, "add")
    assert plan.n_tests == 3


def test_setup_and_prelude(sb):
    v = verify_code("def area(r):\n    return pi * r * r\n", ("assert area(1) == pi",), prelude="from math import pi",
                    sandbox=sb)
    assert v.correct
    v = verify_code("class Node:\n    def __init__(self, v):\n        self.v = v\n", ("assert root.v == 3",),
                    setup="root = Node(3)", sandbox=sb)
    assert v.correct


# --- CodeVerifier -----------------------------------------------------------------------------

def test_registered_and_protocol():
    assert VERIFIERS.get("code") is CODE_VERIFIER and get_verifier("code").kind == "code"
    from llm_marl_envs.verifiers.base import Verifier

    assert isinstance(CODE_VERIFIER, Verifier)


def test_verify_extracts_from_a_response(verifier):
    assert verifier.verify(f"Explanation...\n```python\n{ADD}```\nDone.", _task()).correct
    assert verifier.verify("I don't know", _task()).status in ("error", "ok")
    assert verifier.verify("", _task()).status == "no_answer"


def test_completion_style_answer_gets_the_header(verifier):
    header = 'def add(a, b):\n    """Add two numbers."""\n'
    task = _task(metadata={"prompt_code": header})
    assert verifier.verify("```python\n    return a + b\n```", task).correct
    assert verifier.verify(f"```python\n{ADD}```", task).correct


def test_verify_many_keeps_order_and_runs_concurrently(verifier):
    responses = [ADD if i % 3 else "def add(a, b):\n    return 0" for i in range(12)]
    tasks = [_task()] * 12
    verdicts = verifier.verify_many(responses, tasks)
    assert [v.correct for v in verdicts] == [bool(i % 3) for i in range(12)]
    assert verifier.verify_many([], []) == []
    with pytest.raises(ValueError):
        verifier.verify_many(["x"], [])


@pytest.mark.parametrize("junk", ["\x00", "```python\n\x00\n```", "(" * 10000, "\udcff", "import os\nos.kill(os.getpid(), 9)"])
def test_verify_never_raises(verifier, junk):
    v = verifier.verify(junk, _task())
    assert isinstance(v, Verdict) and not v.correct


# --- reference solutions from ../shared/data --------------------------------------------------

def _sweep(verifier: CodeVerifier, tasks: list[Task]) -> list[tuple[str, str]]:
    responses = [f"```python\n{t.metadata['reference']}\n```" for t in tasks]
    return [(t.id, v.detail) for t, v in zip(tasks, verifier.verify_many(responses, tasks), strict=True) if not v.correct]


def _wrong(task: Task) -> str:
    return f"def {task.entry_point}(*args, **kwargs):\n    return None\n"


SOURCES = [("mbpp", {"split": "all"}), ("mbpp_sanitized", {"split": "all"}), ("humaneval", {})]


@pytest.mark.slow
@pytest.mark.parametrize(("name", "kwargs"), SOURCES, ids=[s[0] for s in SOURCES])
def test_every_reference_solution_passes(sb, name, kwargs):
    """Full sweep through the pool: 974 MBPP + 427 sanitized + 164 HumanEval references (about 25 s on
    2 cores), the tests in the checker and the reference in its own process. No genuine upstream
    failures: every reference passes its own tests (MBPP 123's reference computes for 5-11 s on 2
    busy cores, hence the 60 s limit here)."""
    tasks = list(load_tasks(name, **kwargs))
    t = time.monotonic()
    failures = _sweep(CodeVerifier(sandbox=sb, timeout_s=60), tasks)  # 123's reference runs ~5-11 s on 2 busy cores
    print(f"\n{name}: {len(tasks)} references in {time.monotonic() - t:.1f} s")
    assert failures == []


@pytest.mark.parametrize(("name", "kwargs"), SOURCES, ids=[s[0] for s in SOURCES])
def test_sampled_reference_solutions_pass(verifier, name, kwargs):
    """Every 5th reference (313 in all) plus those that exercise the codec's edges: program-side setup
    objects (MBPP 367, 927), a builtin type as an argument (533), Match objects tested for truth
    (sanitized 737, 787, 794), prompt helpers in the checker (HumanEval/32, /38, /50)."""
    tasks = list(load_tasks(name, **kwargs))
    edges = {"mbpp/367", "mbpp/927", "mbpp/533", "mbpp_sanitized/737", "mbpp_sanitized/787", "mbpp_sanitized/794",
             "HumanEval/32", "HumanEval/38", "HumanEval/50"}
    sample = [t for i, t in enumerate(tasks) if i % 5 == 0 or t.id in edges]
    assert _sweep(verifier, sample) == []


@pytest.mark.parametrize(("name", "kwargs"), SOURCES, ids=[s[0] for s in SOURCES])
def test_sampled_wrong_solutions_fail(verifier, name, kwargs):
    tasks = list(load_tasks(name, **kwargs))[::7]
    wrong = verifier.verify_many([_wrong(t) for t in tasks], tasks)
    assert [t.id for t, v in zip(tasks, wrong, strict=True) if v.correct] == []


@pytest.mark.slow
@pytest.mark.parametrize(("name", "kwargs"), SOURCES, ids=[s[0] for s in SOURCES])
def test_every_wrong_solution_fails(verifier, name, kwargs):
    tasks = list(load_tasks(name, **kwargs))
    wrong = verifier.verify_many([_wrong(t) for t in tasks], tasks)
    assert [t.id for t, v in zip(tasks, wrong, strict=True) if v.correct] == []


def test_mbpp_challenge_tests_pass(verifier):
    tasks = [t for t in load_tasks("mbpp", split="all", include_challenge=True)
             if t.metadata["challenge_test_list"]]
    assert len(tasks) == 11
    assert _sweep(verifier, tasks) == []


def test_main_block_of_a_solution_does_not_run_under_verification(sb):
    program = ADD + "if __name__ == '__main__':\n    print(add(int(input()), 1))\n"
    assert verify_code(program, ADD_TESTS, sandbox=sb).correct


def test_dataclasses_and_pickle_work_in_solutions(sb):
    program = ("from __future__ import annotations\nimport dataclasses, pickle\n"
               "@dataclasses.dataclass\nclass P:\n    x: int\n"
               "def add(a, b):\n    return pickle.loads(pickle.dumps(P(a + b))).x\n")
    assert verify_code(program, ADD_TESTS, sandbox=sb).correct


# Regressions from the adversarial review of the verifier: each program below passed before.
_LYING_PROGRAMS = {
    "eq_is_id": "class X:\n    __eq__ = id\n    __ne__ = id\n    __hash__ = object.__hash__\ndef f(x):\n    return X()\n",
    "int_subclass_eq_is_ne": "class I(int):\n    __eq__ = int.__ne__\ndef f(x):\n    return I(7)\n",
    "str_subclass_eq_is_ne": "class S(str):\n    __eq__ = str.__ne__\ndef f(x):\n    return S('zzz')\n",
    "metaclass_property_lie": (
        "class M(type):\n    __eq__ = property(lambda c: object.__eq__)\n    __ne__ = property(lambda c: object.__ne__)\n"
        "    __bool__ = property(lambda c: object.__init__)\n"
        "class X(metaclass=M):\n    def __eq__(self, o):\n        return True\n    def __bool__(self):\n        return True\n"
        "def f(x):\n    return X()\n"),
    "shadow_set": "set = lambda *a, **k: 0\nsorted = lambda *a, **k: 0\ndef f(x):\n    return [9]\n",
    "patch_builtins_and_math": (
        "import builtins, math\nbuiltins.abs = lambda x: 0\nmath.isclose = lambda *a, **k: True\n"
        "builtins.bool = lambda *a: True\nbuiltins.getattr = lambda *a: None\ndef f(x):\n    return 123.0\n"),
}
_LYING_TESTS = ["assert f(1) == 2", "assert f(2) == [1, 2]", "assert f(3) == 'abc'", "assert set(f(1)) == {1, 2}",
                "assert sorted(f(1)) == [1, 2]", "assert abs(f(1) - 2.5) < 1e-9", "assert math.isclose(f(1), 1.5)"]


@pytest.mark.parametrize("name", sorted(_LYING_PROGRAMS))
def test_values_and_names_that_lie_do_not_pass(sb, name):
    v = verify_code(_LYING_PROGRAMS[name], _LYING_TESTS, setup="import math", sandbox=sb)
    assert v.score == 0.0, v.detail


def test_honest_values_of_stdlib_types_and_a_builtin_named_function_still_pass(sb):
    program = ("from fractions import Fraction\nfrom collections import Counter\nimport enum\n"
               "class C(enum.IntEnum):\n    A = 1\n"
               "def half(x):\n    return Fraction(x, 2)\ndef count(s):\n    return Counter(s)\ndef color():\n    return C.A\n"
               "def sum(a, b):\n    return a - b\n")
    tests = ["assert half(1) == 0.5", "assert count('aab') == {'a': 2, 'b': 1}", "assert color() == 1",
             "assert sum(10, 4) == 6"]
    assert verify_code(program, tests, entry_point="sum", sandbox=sb).correct


def test_extraction_prefers_the_block_that_defines_the_entry_point_and_reads_indented_and_tilde_fences(verifier):
    """Regression: a solution followed by an example-usage block scored 0 (the last block won);
    fences inside a markdown list kept their indentation; ~~~ fences were not read."""
    solution = "def add(a, b):\n    return a + b\n"
    usage = f"Here it is:\n```python\n{solution}```\nExample:\n```python\nprint(add(1, 2))\n```\n"
    indented = "1. The code:\n    ```python\n" + "".join("    " + line + "\n" for line in solution.splitlines()) + "    ```\n"
    tilde = f"~~~python\n{solution}~~~\n"
    task = _task()
    for response in (usage, indented, tilde):
        assert verifier.verify(response, task).correct, response


def test_comparisons_anywhere_in_an_assert_refuse_lying_values(sb):
    """Regression: only a top-level ``==``/``!=`` was checked; ``in``, ``and``, ``all(...)`` and
    ``not ... !=`` let an AlwaysEqual object through."""
    always = "class A:\n    def __eq__(self, o):\n        return True\n    def __ne__(self, o):\n        return False\n" \
             "    __hash__ = object.__hash__\ndef f(x):\n    return A()\n"
    tests = ["assert f(1) in [5, 6]", "assert f(1) == 2 and f(2) == 3", "assert all(f(i) == i * i for i in range(3))",
             "assert not f(1) != 7", "assert [f(1)] == [3]"]
    assert verify_code(always, tests, sandbox=sb).score == 0.0
    honest = "def f(x):\n    return x * x\n"
    good = ["assert f(2) in [4, 5]", "assert f(1) == 1 and f(2) == 4", "assert all(f(i) == i * i for i in range(3))",
            "assert not f(3) != 9", "assert 'a' in 'cat' and 3 not in {1: 2}", "assert 4 in map(f, [1, 2])"]
    assert verify_code(honest, good, sandbox=sb).correct
