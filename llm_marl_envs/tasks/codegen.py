"""``codegen``: procedural small function-writing tasks with generated unit tests (seeded, unlimited).

Item ``i`` of ``CodegenSource(seed=s)`` is generated from ``random.Random(f"{s}:{i}")`` alone, so
sources are reproducible and random-access. Each family picks parameters (divisors, characters,
bounds, moduli ...), writes a one-paragraph prompt, a reference solution (``metadata["reference"]``)
and ``n_tests`` asserts whose expected values come from a trusted Python implementation.

Difficulty knobs: ``difficulty`` 1-3 widens the inputs and adds a twist to some families (e.g.
"ignore case", "skip negatives"); ``n_tests`` sets the number of asserts; ``families`` restricts the
mix. Prompts stay short (one or two sentences plus the signature) for fast CPU experiments.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from ..types import Task
from .base import TASK_SOURCES, TaskSource


@dataclass(frozen=True)
class Spec:
    """One generated problem before it becomes a Task."""

    name: str  # function name
    signature: str  # e.g. "sum_multiples(n)"
    text: str  # what the function must do
    reference: str  # a correct solution (source)
    solve: Callable[..., Any]  # trusted implementation used to compute expected outputs
    inputs: Callable[[random.Random], tuple]  # draws one argument tuple


def _ints(rng: random.Random, n: int, lo: int, hi: int) -> list[int]:
    return [rng.randint(lo, hi) for _ in range(n)]


def _word(rng: random.Random, letters: str = "abcdefghij", lo: int = 1, hi: int = 6) -> str:
    return "".join(rng.choice(letters) for _ in range(rng.randint(lo, hi)))


def fam_sum_multiples(rng: random.Random, d: int) -> Spec:
    a, b = rng.sample(range(2, 8), 2)
    hi = 30 * 10 ** (d - 1)
    return Spec(
        "sum_multiples", "sum_multiples(n)",
        f"returns the sum of all positive integers below n that are divisible by {a} or by {b}",
        f"def sum_multiples(n):\n    return sum(k for k in range(1, n) if k % {a} == 0 or k % {b} == 0)\n",
        lambda n: sum(k for k in range(1, n) if k % a == 0 or k % b == 0),
        lambda r: (r.randint(0, hi),),
    )


def fam_count_char(rng: random.Random, d: int) -> Spec:
    c = rng.choice("abcde")
    if d >= 2:
        return Spec(
            "count_char", "count_char(s)",
            f"returns how many times the letter '{c}' occurs in the string s, ignoring case",
            f"def count_char(s):\n    return s.lower().count('{c}')\n",
            lambda s: s.lower().count(c),
            lambda r: (_word(r, "abcdeABCDE", 0, 6 * d),),
        )
    return Spec(
        "count_char", "count_char(s)", f"returns how many times the character '{c}' occurs in the string s",
        f"def count_char(s):\n    return s.count('{c}')\n",
        lambda s: s.count(c), lambda r: (_word(r, "abcde", 0, 8),),
    )


def fam_reverse_words(rng: random.Random, d: int) -> Spec:
    sep = rng.choice([" ", "-", ","])
    return Spec(
        "reverse_words", "reverse_words(s)",
        f"returns the words of s (separated by {sep!r}) in reverse order, joined by {sep!r}",
        f"def reverse_words(s):\n    return {sep!r}.join(reversed(s.split({sep!r})))\n",
        lambda s: sep.join(reversed(s.split(sep))),
        lambda r: (sep.join(_word(r) for _ in range(r.randint(1, 3 * d + 1))),),
    )


def fam_clip_list(rng: random.Random, d: int) -> Spec:
    lo = rng.randint(-10, 0)
    hi = rng.randint(1, 10)
    return Spec(
        "clip_list", "clip_list(xs)",
        f"returns a new list in which every number of the list xs is clipped to the range [{lo}, {hi}]",
        f"def clip_list(xs):\n    return [min(max(x, {lo}), {hi}) for x in xs]\n",
        lambda xs: [min(max(x, lo), hi) for x in xs],
        lambda r: (_ints(r, r.randint(0, 4 * d), -20 * d, 20 * d),),
    )


def fam_fib_mod(rng: random.Random, d: int) -> Spec:
    m = rng.choice([7, 10, 13, 97, 1000])

    def fib_mod(n: int) -> int:
        a, b = 0, 1
        for _ in range(n):
            a, b = b, (a + b) % m
        return a % m

    return Spec(
        "fib_mod", "fib_mod(n)", f"returns the n-th Fibonacci number modulo {m}, with F(0) = 0 and F(1) = 1",
        f"def fib_mod(n):\n    a, b = 0, 1\n    for _ in range(n):\n        a, b = b, (a + b) % {m}\n    return a % {m}\n",
        fib_mod, lambda r: (r.randint(0, 15 * d * d),),
    )


def fam_running_max(rng: random.Random, d: int) -> Spec:
    if d >= 2:
        return Spec(
            "running_min", "running_min(xs)",
            "returns a list whose i-th element is the smallest of xs[0], ..., xs[i]",
            "def running_min(xs):\n    out = []\n    for x in xs:\n        out.append(x if not out else min(out[-1], x))\n    return out\n",
            lambda xs: [min(xs[: i + 1]) for i in range(len(xs))],
            lambda r: (_ints(r, r.randint(0, 5 * d), -50, 50),),
        )
    return Spec(
        "running_max", "running_max(xs)", "returns a list whose i-th element is the largest of xs[0], ..., xs[i]",
        "def running_max(xs):\n    out = []\n    for x in xs:\n        out.append(x if not out else max(out[-1], x))\n    return out\n",
        lambda xs: [max(xs[: i + 1]) for i in range(len(xs))],
        lambda r: (_ints(r, r.randint(0, 6), -50, 50),),
    )


def fam_caesar(rng: random.Random, d: int) -> Spec:
    k = rng.randint(1, 25)

    def shift(s: str) -> str:
        return "".join(chr((ord(c) - 97 + k) % 26 + 97) if "a" <= c <= "z" else c for c in s)

    return Spec(
        "caesar", "caesar(s)",
        f"shifts every lowercase letter of s forward by {k} places in the alphabet (wrapping from z to a) "
        "and leaves every other character unchanged",
        f"def caesar(s):\n    return ''.join(chr((ord(c) - 97 + {k}) % 26 + 97) if 'a' <= c <= 'z' else c for c in s)\n",
        shift, lambda r: (_word(r, "abcxyz XYZ!", 0, 5 * d),),
    )


def fam_poly_eval(rng: random.Random, d: int) -> Spec:
    return Spec(
        "poly_eval", "poly_eval(coeffs, x)",
        "returns the value at x of the polynomial coeffs[0] + coeffs[1]*x + ... + coeffs[k]*x**k",
        "def poly_eval(coeffs, x):\n    return sum(c * x ** i for i, c in enumerate(coeffs))\n",
        lambda cs, x: sum(c * x**i for i, c in enumerate(cs)),
        lambda r: (_ints(r, r.randint(0, 2 + d), -5, 5), r.randint(-3 * d, 3 * d)),
    )


def fam_filter_range(rng: random.Random, d: int) -> Spec:
    lo = rng.randint(-5, 5)
    hi = lo + rng.randint(3, 15)
    if d >= 3:
        return Spec(
            "filter_range", "filter_range(xs)",
            f"returns the distinct numbers x of xs with {lo} <= x < {hi}, sorted in decreasing order",
            f"def filter_range(xs):\n    return sorted({{x for x in xs if {lo} <= x < {hi}}}, reverse=True)\n",
            lambda xs: sorted({x for x in xs if lo <= x < hi}, reverse=True),
            lambda r: (_ints(r, r.randint(0, 10), lo - 10, hi + 10),),
        )
    return Spec(
        "filter_range", "filter_range(xs)",
        f"returns the numbers x of xs with {lo} <= x < {hi}, in their original order",
        f"def filter_range(xs):\n    return [x for x in xs if {lo} <= x < {hi}]\n",
        lambda xs: [x for x in xs if lo <= x < hi],
        lambda r: (_ints(r, r.randint(0, 4 * d + 2), lo - 10, hi + 10),),
    )


def fam_digit_sum(rng: random.Random, d: int) -> Spec:
    p = rng.randint(1, 3)
    return Spec(
        "digit_power_sum", "digit_power_sum(n)",
        f"returns the sum of the decimal digits of the non-negative integer n, each raised to the power {p}",
        f"def digit_power_sum(n):\n    return sum(int(c) ** {p} for c in str(n))\n",
        lambda n: sum(int(c) ** p for c in str(n)),
        lambda r: (r.randint(0, 10 ** (2 + 2 * d)),),
    )


def fam_count_positive(rng: random.Random, d: int) -> Spec:
    t = rng.randint(-3, 3)
    return Spec(
        "count_above", "count_above(xs)", f"returns how many numbers in the list xs are strictly greater than {t}",
        f"def count_above(xs):\n    return sum(1 for x in xs if x > {t})\n",
        lambda xs: sum(1 for x in xs if x > t),
        lambda r: (_ints(r, r.randint(0, 5 * d), -10, 10),),
    )


FAMILIES: dict[str, Callable[[random.Random, int], Spec]] = {
    "sum_multiples": fam_sum_multiples,
    "count_char": fam_count_char,
    "reverse_words": fam_reverse_words,
    "clip_list": fam_clip_list,
    "fib_mod": fam_fib_mod,
    "running_max": fam_running_max,
    "caesar": fam_caesar,
    "poly_eval": fam_poly_eval,
    "filter_range": fam_filter_range,
    "digit_power_sum": fam_digit_sum,
    "count_above": fam_count_positive,
}


def _call_repr(name: str, args: tuple) -> str:
    return f"{name}({', '.join(repr(a) for a in args)})"


class CodegenSource(TaskSource):
    """Unlimited seeded function-writing tasks (``len`` is ``size``; item ``i`` depends on seed and i)."""

    kind = "code"

    def __init__(self, seed: int = 0, size: int = 100_000, difficulty: int = 1, n_tests: int = 4,
                 families: Sequence[str] | None = None) -> None:
        if difficulty not in (1, 2, 3):
            raise ValueError(f"difficulty must be 1, 2 or 3, got {difficulty}")
        if n_tests < 1:
            raise ValueError(f"n_tests must be >= 1, got {n_tests}")
        names = list(families) if families is not None else list(FAMILIES)
        unknown = [f for f in names if f not in FAMILIES]
        if unknown or not names:
            raise ValueError(f"unknown codegen families {unknown}; choose from {sorted(FAMILIES)}")
        self.seed, self.size, self.difficulty, self.n_tests = seed, int(size), difficulty, n_tests
        self.families = names
        self.name = f"codegen[seed={seed},d={difficulty}]"

    def __len__(self) -> int:
        return self.size

    def _get(self, i: int) -> Task:
        rng = random.Random(f"codegen:{self.seed}:{self.difficulty}:{i}")
        family = rng.choice(self.families)
        spec = FAMILIES[family](rng, self.difficulty)
        tests: list[str] = []
        outputs: list[Any] = []
        seen: set[str] = set()
        for _ in range(self.n_tests * 10):
            args = spec.inputs(rng)
            call = _call_repr(spec.name, args)
            if call in seen:
                continue
            seen.add(call)
            outputs.append(spec.solve(*args))
            tests.append(f"assert {call} == {outputs[-1]!r}")
            if len(tests) == self.n_tests:
                break
        # show an informative example (a non-empty, non-zero result) when there is one
        informative = [t for t, out in zip(tests, outputs, strict=True) if out not in (0, "", [], None)]
        example = (informative or tests)[0].removeprefix("assert ")
        prompt = f"Write a Python function `{spec.signature}` that {spec.text}.\nExample: {example}"
        return Task(
            id=f"codegen/{self.seed}/{self.difficulty}/{i}", kind="code", prompt=prompt, tests=tuple(tests),
            entry_point=spec.name,
            metadata={"source": "codegen", "family": family, "difficulty": self.difficulty,
                      "reference": spec.reference},
        )


def load_codegen(seed: int = 0, size: int = 100_000, difficulty: int = 1, n_tests: int = 4,
                 families: Sequence[str] | None = None) -> CodegenSource:
    """Procedural small function-writing tasks with generated unit tests (knobs: difficulty 1-3, n_tests, families)."""
    return CodegenSource(seed=seed, size=size, difficulty=difficulty, n_tests=n_tests, families=families)


TASK_SOURCES.register("codegen", load_codegen)
