"""``arith``: this project's procedural generator of two-stage arithmetic problems.

Every task is a TWO-STAGE problem: stage one computes an intermediate value (``metadata["intermediate"]``,
an exact string such as ``"42"``), stage two turns it into the final answer (``Task.answer``), and
``metadata["solution"]`` is a short worked solution (``"17 + 25 = 42. 42 * 3 = 126."``). The
credit-assignment benchmark trains a character-level model on these, so prompts are short and use a
small alphabet: digits, ``+ - * / = ( )``, spaces and lowercase English words (no other punctuation).

The source is unlimited in principle: it reports ``n`` tasks (default 100,000) and item ``i`` is
generated from ``(seed, difficulty, i)`` alone, so any index can be produced in O(1), in any order.
Gold answers are exact: integers, or reduced fractions ``"p/q"`` when rationals are on.

Templates:

| template | example prompt | intermediate | answer |
|---|---|---|---|
| ``expr`` | ``compute (17 + 25) * 3`` | ``42`` | ``126`` |
| ``equation`` | ``solve 3 * x + 5 = 26 for x`` | ``21`` (= 26 - 5) | ``7`` |
| ``word`` | ``tom has 12 apples and buys 5 bags of 4 apples each how many apples does tom have`` | ``20`` | ``32`` |

With ``steps > 2`` an ``expr`` problem chains more operations, ``((a op b) op c) op d``; the first
(innermost) operation is still stage one.

Knobs (``difficulty`` picks a preset; any explicit knob overrides the preset):

| difficulty | steps | max_operand | rationals | equations | word_problems | negatives |
|---|---|---|---|---|---|---|
| 1 | 2 | 20 | off | off | off | off |
| 2 | 2 | 99 | off | on | off | off |
| 3 | 3 | 99 | off | on | on | off |
| 4 | 4 | 999 | on | on | on | on |
| 5 | 5 | 9999 | on | on | on | on |

- ``steps``: number of binary operations of an ``expr`` problem (>= 2).
- ``max_operand``: largest operand (multipliers and divisors are kept smaller, up to ``max(9, max_operand // 10)``);
  with ``max_operand <= 20`` stage one of an ``expr`` problem is always a sum or a difference.
- ``rationals``: division may give a fraction; the answer is then the reduced ``p/q``.
- ``equations``: linear equations ``a * x + b = c`` (also ``a * x - b = c``) solved for ``x``.
- ``word_problems``: short story problems with the same two-stage structure.
- ``negatives``: intermediate and final results may be negative.

Difficulty 1 (a sum or difference of operands up to 20, times a one-digit multiplier) is
learnable by a few-million-parameter character model within minutes; difficulty 5 is not.
"""

from __future__ import annotations

import inspect
import random
from dataclasses import dataclass
from fractions import Fraction
from typing import Any

from ..types import Task
from .base import TASK_SOURCES, TaskSource

DEFAULT_N = 100_000


@dataclass(frozen=True)
class ArithConfig:
    """The resolved generator knobs (see the module docstring)."""

    steps: int = 2
    max_operand: int = 20
    rationals: bool = False
    equations: bool = False
    word_problems: bool = False
    negatives: bool = False


PRESETS: dict[int, ArithConfig] = {
    1: ArithConfig(2, 20, False, False, False, False),
    2: ArithConfig(2, 99, False, True, False, False),
    3: ArithConfig(3, 99, False, True, True, False),
    4: ArithConfig(4, 999, True, True, True, True),
    5: ArithConfig(5, 9999, True, True, True, True),
}


def format_number(x: Fraction | int) -> str:
    """Exact string of a rational: ``"42"``, ``"-3"`` or ``"7/2"``."""
    x = Fraction(x)
    return str(x.numerator) if x.denominator == 1 else f"{x.numerator}/{x.denominator}"


def _operand(x: Fraction) -> str:
    """An operand as it appears inside a prompt (fractions and negatives in parentheses)."""
    s = format_number(x)
    return f"({s})" if (x.denominator != 1 or x < 0) else s


def apply_op(a: Fraction, op: str, b: Fraction) -> Fraction:
    """``a op b`` exactly, for ``op`` in ``+ - * /`` (``ZeroDivisionError`` on division by zero)."""
    if op == "+":
        return a + b
    if op == "-":
        return a - b
    if op == "*":
        return a * b
    return a / b


class _Gen:
    """Draws one problem from a seeded RNG under a config."""

    def __init__(self, rng: random.Random, cfg: ArithConfig) -> None:
        self.rng = rng
        self.cfg = cfg
        self.small = max(9, cfg.max_operand // 10)

    def num(self, hi: int | None = None, lo: int = 1) -> int:
        return self.rng.randint(lo, hi or self.cfg.max_operand)

    def next_op(self, acc: Fraction, ops: str) -> tuple[str, Fraction]:
        """Pick an operation and a right operand that keep the result in range (exact, small)."""
        cfg, rng = self.cfg, self.rng
        for _ in range(50):
            op = rng.choice(ops)
            if op == "*":
                b = Fraction(self.num(self.small, 2))
            elif op == "/":
                if cfg.rationals:
                    b = Fraction(self.num(self.small, 2))
                else:
                    divisors = [d for d in range(2, self.small + 1) if acc.denominator == 1 and acc.numerator % d == 0]
                    if not divisors or acc == 0:
                        continue
                    b = Fraction(rng.choice(divisors))
            else:
                b = Fraction(self.num())
            r = apply_op(acc, op, b)
            if not cfg.negatives and r < 0:
                continue
            return op, b
        return "+", Fraction(self.num())

    def expr(self) -> tuple[str, str, str, str]:
        cfg = self.cfg
        ops = "+-*/" if (cfg.rationals or cfg.max_operand > 20) else "+-*"
        # small operands (difficulty 1): stage one is a sum or a difference, the easiest thing to learn
        first_ops = "+-" if cfg.max_operand <= 20 else "+-*/" if cfg.rationals else "+-*"
        a = Fraction(self.num())
        op1, b = self.next_op(a, first_ops)
        inter = apply_op(a, op1, b)
        text = f"{_operand(a)} {op1} {_operand(b)}"
        lines = [f"{format_number(a)} {op1} {format_number(b)} = {format_number(inter)}."]
        acc = inter
        for k in range(cfg.steps - 1):
            # the first operation of stage two multiplies (or divides) so the two stages differ
            stage_ops = ops if k > 0 else ("*/" if "/" in ops else "*")
            op, c = self.next_op(acc, stage_ops)
            new = apply_op(acc, op, c)
            text = f"({text}) {op} {_operand(c)}"
            lines.append(f"{format_number(acc)} {op} {format_number(c)} = {format_number(new)}.")
            acc = new
        return f"compute {text}", format_number(inter), format_number(acc), " ".join(lines)

    def equation(self) -> tuple[str, str, str, str]:
        cfg, rng = self.cfg, self.rng
        a = self.num(self.small, 2)
        if cfg.rationals:
            x = Fraction(self.num(), self.num(self.small)) if rng.random() < 0.5 else Fraction(self.num())
        else:
            x = Fraction(self.num())
        if cfg.negatives and rng.random() < 0.3:
            x = -x
        b = self.num()
        minus = rng.random() < 0.5 and (cfg.negatives or a * x >= b)
        c = a * x - b if minus else a * x + b
        inter = c + b if minus else c - b
        sign = "-" if minus else "+"
        undo = "+" if minus else "-"
        prompt = f"solve {a} * x {sign} {b} = {_operand(c)} for x"
        solution = (
            f"{a} * x = {format_number(c)} {undo} {b} = {format_number(inter)}. "
            f"x = {format_number(inter)} / {a} = {format_number(x)}."
        )
        return prompt, format_number(inter), format_number(x), solution

    def word(self) -> tuple[str, str, str, str]:
        rng = self.rng
        name = rng.choice(["tom", "ana", "sam", "lee", "mia", "ben", "kim", "raj"])
        item = rng.choice(["apples", "coins", "books", "stamps", "eggs", "pens"])
        kind = rng.randrange(3)
        if kind == 0:
            have, bags, each = self.num(), self.num(self.small, 2), self.num(self.small, 2)
            inter, ans = bags * each, have + bags * each
            prompt = f"{name} has {have} {item} and buys {bags} bags of {each} {item} each how many {item} does {name} have"
            sol = f"{bags} * {each} = {inter}. {have} + {inter} = {ans}."
        elif kind == 1:
            a, b, k = self.num(), self.num(), self.num(self.small, 2)
            inter, ans = a + b, (a + b) * k
            prompt = f"{name} has {a} {item} and gets {b} more then the pile is copied {k} times how many {item} are there"
            sol = f"{a} + {b} = {inter}. {inter} * {k} = {ans}."
        else:
            k = self.num(self.small, 2)
            per = self.num()
            spent = self.num(max(1, per * k))
            inter, ans = per * k, per * k - spent
            prompt = f"{name} packs {k} boxes of {per} {item} and gives away {spent} how many {item} are left"
            sol = f"{k} * {per} = {inter}. {inter} - {spent} = {ans}."
        return prompt, str(inter), str(ans), sol


class ArithTaskSource(TaskSource):
    """Unlimited seeded two-stage arithmetic tasks; ``self[i]`` depends only on (seed, difficulty, knobs, i)."""

    kind = "math"

    def __init__(
        self,
        *,
        seed: int = 0,
        difficulty: int = 1,
        n: int = DEFAULT_N,
        steps: int | None = None,
        max_operand: int | None = None,
        rationals: bool | None = None,
        equations: bool | None = None,
        word_problems: bool | None = None,
        negatives: bool | None = None,
    ) -> None:
        if difficulty not in PRESETS:
            raise ValueError(f"arith difficulty must be one of {sorted(PRESETS)}, got {difficulty!r}")
        base = PRESETS[difficulty]
        self.config = ArithConfig(
            steps=base.steps if steps is None else int(steps),
            max_operand=base.max_operand if max_operand is None else int(max_operand),
            rationals=base.rationals if rationals is None else bool(rationals),
            equations=base.equations if equations is None else bool(equations),
            word_problems=base.word_problems if word_problems is None else bool(word_problems),
            negatives=base.negatives if negatives is None else bool(negatives),
        )
        if self.config.steps < 2:
            raise ValueError("arith steps must be >= 2 (every task has two stages)")
        if self.config.max_operand < 2:
            raise ValueError("arith max_operand must be >= 2")
        if n < 1:
            raise ValueError("arith n must be >= 1")
        self.seed, self.difficulty, self.n = int(seed), difficulty, int(n)
        self.name = "arith"

    def __len__(self) -> int:
        return self.n

    def _get(self, i: int) -> Task:
        cfg = self.config
        rng = random.Random(f"arith:{self.seed}:{self.difficulty}:{cfg}:{i}")
        gen = _Gen(rng, cfg)
        templates = ["expr"] * 2
        if cfg.equations:
            templates.append("equation")
        if cfg.word_problems:
            templates.append("word")
        template = rng.choice(templates)
        prompt, inter, answer, solution = getattr(gen, template)()
        return Task(
            id=f"arith-{self.seed}-{self.difficulty}-{i}",
            kind="math",
            prompt=prompt,
            answer=answer,
            metadata={
                "intermediate": inter,
                "solution": solution,
                "template": template,
                "difficulty": self.difficulty,
                "seed": self.seed,
                "index": i,
            },
        )


@TASK_SOURCES.register("arith")
def arith(**kwargs: Any) -> ArithTaskSource:
    """Procedural two-stage arithmetic / linear-equation / word problems (knobs: see module docstring)."""
    return ArithTaskSource(**kwargs)


arith.__signature__ = inspect.signature(ArithTaskSource)  # what callers (llm-marl tasks) may pass
