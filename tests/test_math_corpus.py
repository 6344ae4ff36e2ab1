"""The labelled corpus (tests/data/math_cases.jsonl) and the GSM8K / MATH-500 gold sweeps."""

from __future__ import annotations

import json
import re
import time
from collections import Counter
from pathlib import Path

import pytest

from llm_marl_envs.tasks import DatasetNotFoundError, load_tasks
from llm_marl_envs.verifiers import verify_math
from llm_marl_envs.verifiers.math.normalize import normalize_answer

CASES_FILE = Path(__file__).parent / "data" / "math_cases.jsonl"
CASES = [json.loads(line) for line in CASES_FILE.read_text(encoding="utf-8").splitlines() if line.strip()]


def test_corpus_covers_every_category():
    counts = Counter(c["category"] for c in CASES)
    assert len(CASES) >= 200
    assert set(counts) == {"reward_hack", "pathological", "false_negative", "gsm8k", "math"}
    assert counts["reward_hack"] >= 30 and counts["false_negative"] >= 30
    assert sum(c["expected"] for c in CASES) >= 100 and sum(not c["expected"] for c in CASES) >= 100


# issue 15: every measured cause of a missed right answer has cases of both labels (near misses stay false)
ISSUE_15_CAUSES = {
    "span_latex_words", "answer_sentence", "approx_sum_pm", "ratio", "not_equal", "chain_expression", "glued_or",
    "relation_negated", "name_label", "solution_set", "escaped_dollar", "braced_separator", "line_label",
    "semicolon_solutions", "equation_not_rhs", "percent", "empty_box",
}


# the adversarial review after issue 15 (hedged values, qualifier "units", ...): cause "review"
REVIEW_CAUSES = {"review"}


def test_every_issue_15_cause_has_true_and_false_cases():
    by_cause: dict[str, set[bool]] = {}
    for c in CASES:
        if "cause" in c:
            by_cause.setdefault(c["cause"], set()).add(c["expected"])
    assert set(by_cause) == ISSUE_15_CAUSES | REVIEW_CAUSES
    missing = {k: v for k, v in by_cause.items() if v != {True, False}}
    assert not missing, missing


@pytest.mark.parametrize("case", CASES, ids=[f"{i}-{c['category']}" for i, c in enumerate(CASES)])
def test_labelled_case(case):
    start = time.monotonic()
    v = verify_math(case["response"], case["gold"], timeout_s=5.0)
    assert time.monotonic() - start < 6.0
    assert v.correct is case["expected"], f"{case} -> {v}"
    if case["category"] == "pathological":
        assert v.status in ("error", "timeout", "ok")


def _load(name: str, **kwargs):
    try:
        return load_tasks(name, **kwargs)
    except DatasetNotFoundError as e:
        pytest.skip(f"{name} data is not beside the checkout (../shared/data): {str(e).splitlines()[0]}")


def _changed(gold: str) -> str | None:
    """The gold with its last digit changed (None when it has no digit)."""
    digits = list(re.finditer(r"\d", gold))
    if not digits:
        return None
    k = digits[-1].start()
    return gold[:k] + str((int(gold[k]) + 1) % 10) + gold[k + 1 :]


def _model_style(gold: str) -> str:
    return f"Let me think step by step.\n...\nso the answer is $\\boxed{{{gold}}}$."


@pytest.mark.parametrize("name", ["gsm8k", "math500"])
def test_every_gold_verifies_and_a_changed_gold_does_not(name):
    tasks = _load(name)
    wrong_accepted = []
    for task in tasks:
        gold = task.answer
        assert verify_math(_model_style(gold), gold).correct, gold
        changed = _changed(gold)
        if changed is not None and normalize_answer(changed) != normalize_answer(gold):
            v = verify_math(_model_style(changed), gold)
            if v.correct:
                wrong_accepted.append((gold, changed))
    # changing a unit's exponent ("cm^2" -> "cm^3") does not change the value: the only allowed case
    assert all(re.search(r"\\(?:mbox|text)\{[^}]*\}\^\d$", g) for g, _ in wrong_accepted), wrong_accepted


def test_math500_golds_through_the_full_path():
    """A sample written differently from the gold, so that parsing and equivalence (not string
    equality) decide: spaces removed, \\frac written \\dfrac, a leading "x =" ."""
    tasks = _load("math500")
    checked = 0
    for task in tasks[::5]:
        gold = task.answer
        for variant in (gold.replace(" ", ""), gold.replace(r"\frac", r"\dfrac"), re.sub(r"\\left|\\right", "", gold)):
            v = verify_math(_model_style(variant), gold)
            assert v.correct, (gold, variant, v)
            checked += 1
    assert checked >= 300


def test_math_train_golds_sweep():
    tasks = _load("math")
    for task in tasks:
        if task.answer:
            assert verify_math(_model_style(task.answer.replace(r"\frac", r"\dfrac")), task.answer).correct, task.answer
