"""Structure of the math verifier (issue 15): one pipeline, typed parse errors, the reasoning-gym
verifier in the registry, the subpackage layout and the old import paths."""

from __future__ import annotations

import importlib

import pytest

from llm_marl_envs.types import Task
from llm_marl_envs.verifiers import VERIFIERS, MathVerifier, get_verifier, verifier_for_task, verify_math
from llm_marl_envs.verifiers.math import clear_cache, verify_batch
from llm_marl_envs.verifiers.math.parse import LimitExceeded, ParseError, parse_answer

CASES = [
    (r"\boxed{\frac12}", "0.5"),
    (r"\boxed{(x+1)^2}", "x^2+2x+1"),
    (r"\boxed{x^2+2x+2}", "(x+1)^2"),
    ("nothing here", "3"),
    (r"\boxed{}", "3"),
    (r"so \boxed{4", "4"),
    ("\\boxed{" + "1+" * 600 + "1}", "3"),
    (r"\boxed{(1) @ {2}}", "3"),
    (r"\boxed{9^{9^{9^{9}}}}", "5"),
]


def test_verify_math_and_verify_many_give_identical_verdicts():
    """Regression: the batch path was a second copy of the pipeline with different error details."""
    clear_cache()
    single = [verify_math(r, g) for r, g in CASES]
    clear_cache()
    tasks = [Task(id=str(i), kind="math", prompt="p", answer=g) for i, (_, g) in enumerate(CASES)]
    batch = MathVerifier().verify_many([r for r, _ in CASES], tasks)
    assert batch == single
    assert verify_batch([r for r, _ in CASES], [g for _, g in CASES]) == single


def test_status_comes_from_the_error_type():
    """Regression: status was found by searching the error text for "too" / "longer"."""
    with pytest.raises(LimitExceeded):
        parse_answer("1+" * 600 + "1")
    with pytest.raises(ParseError) as e:
        parse_answer("(1) @ {2}")
    assert not isinstance(e.value, LimitExceeded)
    assert verify_math(CASES[6][0], "3").status == "error"
    # a plain syntax error whose message happens to say "too" is still a wrong answer, not an error
    v = verify_math(r"\boxed{\unsupportedtoo}", "3")
    assert (v.correct, v.status) == (False, "ok"), v


@pytest.mark.parametrize("response, how", [(r"x \boxed{}", "empty_box"), (r"\boxed{5} then \boxed{", "unclosed_box")])
def test_empty_or_unclosed_last_box_is_no_answer(response, how):
    v = verify_math(response, "5")
    assert (v.correct, v.status) == (False, "no_answer") and how in ("empty_box", "unclosed_box"), v


def test_reasoning_gym_is_a_registered_verifier_named_by_its_tasks():
    pytest.importorskip("reasoning_gym")
    from llm_marl_envs.tasks import load_tasks

    rg = get_verifier("reasoning_gym")
    assert "reasoning_gym" in VERIFIERS.names() and rg is not get_verifier("math")
    src = load_tasks("reasoning_gym", dataset="basic_arithmetic", n=3, seed=1)
    assert all(verifier_for_task(t) is rg for t in src)
    good = [f"<answer>{t.answer}</answer>" for t in src]
    assert all(v.correct for v in rg.verify_many(good, list(src)))
    # a caller that resolves by kind ("math") reaches the same verdicts through delegation
    mixed = [*src, Task(id="m", kind="math", prompt="p", answer="4")]
    verdicts = get_verifier("math").verify_many([*good, r"\boxed{4}"], mixed)
    assert [v.correct for v in verdicts] == [True, True, True, True]
    assert verifier_for_task(mixed[-1]) is get_verifier("math")


def test_math_verifier_has_no_reasoning_gym_special_case():
    import inspect

    from llm_marl_envs.verifiers.math import pipeline, verifier

    for mod in (pipeline, verifier):
        assert "reasoning_gym" not in inspect.getsource(mod).replace('"reasoning_gym"', "").replace("reasoning-gym", "")


LAYERS = ["extract", "words", "normalize", "parse", "exact", "numeric", "equiv", "surd", "pool", "worker", "pipeline", "keys", "verifier"]
def test_subpackage_layers_import():
    for name in LAYERS:
        importlib.import_module(f"llm_marl_envs.verifiers.math.{name}")
    from llm_marl_envs.verifiers.math import MATH_VERIFIER, MathVerifier, answer_key, clear_cache  # noqa: F401


def test_no_eval_in_the_math_verifier():
    """No call of eval/exec or of sympy's string parsers anywhere in the package."""
    import ast
    import pathlib

    import llm_marl_envs.verifiers.math as pkg

    for f in pathlib.Path(pkg.__file__).parent.glob("*.py"):
        src = f.read_text()
        assert "sympy.parsing" not in src, f
        for node in ast.walk(ast.parse(src)):
            if isinstance(node, ast.Call):
                fn = node.func
                if isinstance(fn, ast.Name):
                    assert fn.id not in ("eval", "exec", "sympify", "parse_expr"), f"{f.name}:{node.lineno}"
                if isinstance(fn, ast.Attribute) and isinstance(fn.value, ast.Name) and fn.value.id == "sympy":
                    assert fn.attr not in ("sympify", "parse_expr", "S"), f"{f.name}:{node.lineno}"


def test_the_marker_search_agrees_with_a_full_scan():
    """``_last_marker`` looks back from the last "answer"/"####" (a speed-up); it must find exactly
    the last match of a full ``finditer`` scan."""
    import random

    from llm_marl_envs.verifiers.math import extract

    def full_scan(text):
        last = None
        for m in extract._MARKER_RE.finditer(text):
            last = m
        return last.span() if last else None

    rng = random.Random(0)
    words = ["answer", "Answer is", "final answer is", "FINAL   ANSWER:", "####", "#", "answer:", "the answer", " x ",
             "5", "final", "\n", "answeris", "answer  :", "Final Answer: ", "## ##", "final\n answer is", " is"]
    texts = ["".join(rng.choice(words) for _ in range(rng.randint(0, 12))) for _ in range(3000)]
    for text in texts:
        found = extract._last_marker(text)
        assert (found and found.span()) == full_scan(text), text


def test_a_task_naming_an_unknown_verifier_scores_error_not_an_exception():
    task = Task(id="t", kind="math", prompt="p", answer="5", metadata={"verifier": "no-such-verifier"})
    ok = Task(id="u", kind="math", prompt="p", answer="5")
    v = get_verifier("math").verify(r"\boxed{5}", task)
    assert (v.correct, v.status) == (False, "error") and "no-such-verifier" in v.detail
    batch = get_verifier("math").verify_many([r"\boxed{5}", r"\boxed{5}"], [task, ok])
    assert [(b.correct, b.status) for b in batch] == [(False, "error"), (True, "ok")]


def test_an_empty_box_inside_answer_tags_is_no_answer():
    assert verify_math(r"<answer>\boxed{}</answer>", "5").status == "no_answer"
    assert verify_math(r"<answer>\boxed{5}</answer>", "5").correct
