"""The ``arith`` procedural source: determinism, two-stage structure, exact golds, difficulty knobs."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from fractions import Fraction

import pytest

from llm_marl_envs.tasks import TASK_SOURCES, load_tasks
from llm_marl_envs.tasks.arith import DEFAULT_N, PRESETS, ArithTaskSource
from llm_marl_envs.verifiers import verify_math
from llm_marl_envs.verifiers.math.exact import exact_value
from llm_marl_envs.verifiers.math.parse import parse_answer

ALPHABET = set("0123456789+-*/=() abcdefghijklmnopqrstuvwxyz")


def _value(text: str) -> Fraction:
    return exact_value(parse_answer(text))


def test_registered_and_unlimited():
    assert "arith" in TASK_SOURCES
    src = load_tasks("arith")
    assert isinstance(src, ArithTaskSource) and len(src) == DEFAULT_N
    assert len(load_tasks("arith", n=10)) == 10
    assert src[DEFAULT_N - 1].id == f"arith-0-1-{DEFAULT_N - 1}"


def test_item_depends_only_on_seed_and_index():
    a, b = load_tasks("arith", seed=7, difficulty=3), load_tasks("arith", seed=7, difficulty=3)
    assert [a[i] for i in (5, 0, 99, 5)] == [b[i] for i in (5, 0, 99, 5)]
    assert a[5].metadata == b[5].metadata
    c = load_tasks("arith", seed=8, difficulty=3)
    assert [a[i].prompt for i in range(20)] != [c[i].prompt for i in range(20)]


@pytest.mark.parametrize("difficulty", sorted(PRESETS))
def test_golds_are_exact_and_two_stage(difficulty):
    src = load_tasks("arith", seed=1, difficulty=difficulty)
    templates = set()
    for i in range(300):
        t = src[i]
        templates.add(t.metadata["template"])
        inter, answer, prompt = t.metadata["intermediate"], t.answer, t.prompt
        assert re.fullmatch(r"-?\d+(/\d+)?", answer) and re.fullmatch(r"-?\d+(/\d+)?", inter), t
        assert t.metadata["solution"] and inter in t.metadata["solution"] and answer in t.metadata["solution"]
        assert set(prompt) <= ALPHABET, prompt
        if t.metadata["template"] == "expr":
            expr = prompt.removeprefix("compute ")
            assert _value(expr) == _value(answer)
            first = re.match(r"\(*(\(?-?\d+(?:/\d+)?\)? [-+*/] \(?-?\d+(?:/\d+)?\)?)\)", expr)
            assert first is not None, expr
            assert _value(first.group(1)) == _value(inter)
        elif t.metadata["template"] == "equation":
            m = re.fullmatch(r"solve (\d+) \* x ([-+]) (\d+) = (.+) for x", prompt)
            a, sign, b, c = int(m.group(1)), m.group(2), int(m.group(3)), _value(m.group(4))
            x = _value(answer)
            assert a * x + (b if sign == "+" else -b) == c
            assert _value(inter) == a * x
        else:
            assert verify_math(t.metadata["solution"], answer).correct
        assert verify_math(f"the answer is {answer}", answer).correct
    if difficulty >= 3:
        assert {"expr", "equation", "word"} <= templates


def test_difficulty_one_is_short_and_small():
    src = load_tasks("arith", difficulty=1)
    for i in range(1000):
        t = src[i]
        assert len(t.prompt) < 120
        assert all(int(n) <= 20 for n in re.findall(r"\d+", t.prompt))
        assert int(t.answer) >= 0 and t.metadata["template"] == "expr"


def test_difficulty_grows():
    def mean_len(d: int) -> float:
        src = load_tasks("arith", difficulty=d)
        return sum(len(src[i].prompt) for i in range(200)) / 200

    assert mean_len(1) < mean_len(3) < mean_len(5)
    rationals = load_tasks("arith", difficulty=5)
    assert any("/" in rationals[i].answer for i in range(300))


def test_knobs_override_presets():
    src = load_tasks("arith", difficulty=1, steps=4, max_operand=9, equations=True)
    assert src.config.steps == 4 and src.config.max_operand == 9 and src.config.equations
    exprs = [src[i] for i in range(200) if src[i].metadata["template"] == "expr"]
    assert exprs and all(t.prompt.count("(") == 3 for t in exprs)
    assert any(src[i].metadata["template"] == "equation" for i in range(200))
    with pytest.raises(ValueError):
        load_tasks("arith", difficulty=9)
    with pytest.raises(ValueError):
        load_tasks("arith", steps=1)
    with pytest.raises(TypeError):
        load_tasks("arith", colour="red")
    with pytest.raises(IndexError):
        load_tasks("arith", n=5)[5]


def test_tasks_cli_lists_and_shows():
    exe = [sys.executable, "-m", "llm_marl_envs.cli", "tasks"]
    listing = subprocess.run(exe, capture_output=True, text=True, check=True).stdout
    for name in ("arith", "gsm8k", "math", "math500"):
        assert any(line.split()[0] == name and len(line.split()) > 1 for line in listing.splitlines()), listing
    shown = subprocess.run([*exe, "--show", "arith", "-n", "3", "--seed", "4"], capture_output=True, text=True, check=True).stdout
    src = load_tasks("arith", seed=4)
    for i in range(3):
        assert src[i].prompt in shown and f"answer: {src[i].answer}" in shown
    as_json = subprocess.run([*exe, "--show", "arith", "-n", "2", "--json"], capture_output=True, text=True, check=True).stdout
    assert [json.loads(x)["id"] for x in as_json.splitlines()] == ["arith-0-1-0", "arith-0-1-1"]
    bad = subprocess.run([*exe, "--show", "no-such-source"], capture_output=True, text=True)
    assert bad.returncode == 2 and "unknown task source" in bad.stderr
