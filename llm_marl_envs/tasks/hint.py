"""``hint``: the credit lab's HintDyad task (``../shared/reference/credit-lab.md`` section 1).

A task is a triple x = (a, b, c) with a, b in 0..9 and c in 0..C-1. Stage one is
u = (a + b) mod 10 (the thinker's correct hint), the answer is y = (3u + c) mod 10, and a hint m
maps to the answer g(m, c) = (3m + c) mod 10. Task index i = (a*10 + b)*C + c.

The split and the solo set are fixed by ``split_seed``: ``rng = numpy.random.default_rng(split_seed)``,
held-out = the sorted first ``held_frac * 100C`` entries of ``rng.permutation(100C)``, then
``solo = rng.random(100C) < solo_frac`` from the same generator. This module is the one definition
of those facts: the lab's vectorised simulator and the ``HintDyad`` env both read it.

It also holds the task source ``hint`` (``HintTaskSource``, registered in ``TASK_SOURCES``) and the
one text <-> symbol rule of the env (``parse_symbol`` / ``format_symbol``):

| option | default | meaning |
|---|---|---|
| ``C`` | 4 | c takes the values 0..C-1 (100 C tasks) |
| ``split`` | ``"train"`` | ``"train"``, ``"held_out"`` or ``"all"``: which tasks the source holds, by ``hint_split`` |
| ``held_frac`` | 0.25 | fraction of the 100 C tasks held out |
| ``split_seed`` | 0 | seed of the split and of the solo set |
| ``solo_frac`` | 0.0 | fraction of tasks flagged solo-solvable (``metadata["solo"]``; the lab pre-sets their reasoner) |

Item ``k`` of the source is the ``k``-th task of the split in increasing task index; its
``Task.id`` is ``"hint-<index>"``, ``Task.answer`` is ``str(y)``, and ``metadata`` holds ``a``,
``b``, ``c``, ``C``, ``index`` (i), ``u``, ``intermediate`` (``str(u)``), ``solo`` (plain ints and
a bool) and ``verifier`` = ``"hint"`` (the verifier that reads its answers: ``topologies.hint``).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np

from ..types import Task
from .base import TASK_SOURCES, TaskSource

HINT_VOCAB = 10
"""Hints 0..9; the null hint (says nothing useful) is index ``NULL_HINT``."""
NULL_HINT = HINT_VOCAB


def n_tasks(C: int) -> int:
    """Number of tasks for ``C`` values of c (100 C)."""
    return 100 * C


def task_triples(C: int) -> np.ndarray:
    """``[100C, 3]`` int array of (a, b, c), row i = task index i."""
    i = np.arange(n_tasks(C))
    ab, c = np.divmod(i, C)
    a, b = np.divmod(ab, 10)
    return np.stack([a, b, c], axis=1)


def stage_one(a, b):
    """The correct hint u = (a + b) mod 10 (elementwise)."""
    return (np.asarray(a) + np.asarray(b)) % 10


def hint_answer(m, c):
    """g(m, c) = (3m + c) mod 10: the answer a hint m implies (meaningless for the null hint)."""
    return (3 * np.asarray(m) + np.asarray(c)) % 10


def answer(a, b, c):
    """The gold answer y = (3 (a + b) + c) mod 10."""
    return hint_answer(stage_one(a, b), c)


@dataclass(frozen=True)
class HintSplit:
    """The fixed split of the ``100C`` tasks.

    Attributes:
        held_out: sorted task indices of the held-out set ``[round(held_frac * 100C)]``.
        train: sorted task indices of the training set.
        solo: ``[100C]`` bool, tasks whose reasoner has the solo pathway pre-set.
    """

    held_out: np.ndarray
    train: np.ndarray
    solo: np.ndarray


def hint_split(C: int = 4, *, held_frac: float = 0.25, split_seed: int = 0, solo_frac: float = 0.0) -> HintSplit:
    """The train / held-out split and the solo set, exactly as the reference defines them."""
    if C < 1:
        raise ValueError(f"hint: C must be >= 1, got {C}")
    if not 0.0 <= held_frac < 1.0:
        raise ValueError(f"hint: held_frac must be in [0, 1), got {held_frac}")
    if not 0.0 <= solo_frac <= 1.0:
        raise ValueError(f"hint: solo_frac must be in [0, 1], got {solo_frac}")
    n = n_tasks(C)
    rng = np.random.default_rng(split_seed)
    perm = rng.permutation(n)
    n_held = int(round(held_frac * n))
    held = np.sort(perm[:n_held])
    train = np.sort(perm[n_held:])
    solo = rng.random(n) < solo_frac
    return HintSplit(held_out=held, train=train, solo=solo)


# ---------------------------------------------------------------------------- text <-> symbol
#: The text a null hint is shown as to the reasoner (and what ``format_symbol(NULL_HINT)`` gives).
NULL_HINT_TEXT = "(no hint)"

_BOXED = "\\boxed{"
_SINGLE_DIGIT = re.compile(r"(?<![0-9])[0-9](?![0-9])")


def parse_symbol(text: str) -> int:
    """The symbol a message stands for: a digit 0..9, or ``NULL_HINT`` (says nothing).

    Total on every string. When ``text`` contains ``\\boxed{``, only the content of the last one
    (up to the next ``}``, or the end of the text) is read; otherwise the whole text. The symbol is
    the first ASCII digit in that text that is not part of a longer run of digits (``"12"`` is
    skipped, ``"-3"`` gives 3, ``"u = 12 mod 10 = 2"`` gives 2); no such digit gives ``NULL_HINT``.
    The same rule reads the thinker's hint and the reasoner's answer.
    """
    if not isinstance(text, str):
        return NULL_HINT
    start = text.rfind(_BOXED)
    if start >= 0:
        start += len(_BOXED)
        end = text.find("}", start)
        text = text[start:] if end < 0 else text[start:end]
    match = _SINGLE_DIGIT.search(text)
    return NULL_HINT if match is None else int(match.group())


def format_symbol(m: int) -> str:
    """The canonical text of symbol ``m``: ``"0"``..``"9"``, ``NULL_HINT_TEXT`` for ``NULL_HINT``.

    ``parse_symbol(format_symbol(m)) == m`` for every symbol.
    """
    m = int(m)
    if m == NULL_HINT:
        return NULL_HINT_TEXT
    if not 0 <= m < HINT_VOCAB:
        raise ValueError(f"hint: a symbol is 0..{HINT_VOCAB - 1} or NULL_HINT={NULL_HINT}, got {m}")
    return str(m)


# ---------------------------------------------------------------------------- task source
SPLITS = ("train", "held_out", "all")


def task_prompt(a: int, b: int, c: int) -> str:
    """The prompt of task (a, b, c): the triple and both rules (what both agents read)."""
    return (
        f"a = {a}, b = {b}, c = {c}. The hint is u = (a + b) mod 10; "
        f"the answer is y = (3u + c) mod 10."
    )


def make_task(index: int, C: int = 4, *, solo: bool = False) -> Task:
    """The ``Task`` of task index ``index`` (see the module docstring for its fields)."""
    if not 0 <= int(index) < n_tasks(C):
        raise ValueError(f"hint: task index must be in 0..{n_tasks(C) - 1} for C={C}, got {index}")
    a, b, c = (int(v) for v in task_triples(C)[int(index)])
    u = int(stage_one(a, b))
    return Task(
        id=f"hint-{int(index)}",
        kind="math",
        prompt=task_prompt(a, b, c),
        answer=str(int(answer(a, b, c))),
        metadata={
            "a": a, "b": b, "c": c, "C": int(C), "index": int(index),
            "u": u, "intermediate": str(u), "solo": bool(solo), "verifier": "hint",
        },
    )


class HintTaskSource(TaskSource):
    """The HintDyad tasks of one split (options: see the module docstring)."""

    kind = "math"

    def __init__(
        self,
        *,
        C: int = 4,
        split: str = "train",
        held_frac: float = 0.25,
        split_seed: int = 0,
        solo_frac: float = 0.0,
    ) -> None:
        if isinstance(C, bool) or not isinstance(C, (int, np.integer)):
            raise ValueError(f"hint: C must be an integer >= 1, got {C!r}")
        if split not in SPLITS:
            raise ValueError(f"hint: split must be one of {', '.join(SPLITS)}, got {split!r}")
        self.C, self.split = int(C), split
        self.held_frac, self.split_seed, self.solo_frac = float(held_frac), int(split_seed), float(solo_frac)
        self.hint_split = hint_split(self.C, held_frac=self.held_frac, split_seed=self.split_seed, solo_frac=self.solo_frac)
        if split == "all":
            self.indices = np.arange(n_tasks(self.C))
        else:
            self.indices = self.hint_split.train if split == "train" else self.hint_split.held_out
        if len(self.indices) == 0:
            raise ValueError(f"hint: split {split!r} is empty (held_frac={held_frac}, C={C})")
        self.name = "hint"
        self._tasks = [make_task(int(i), self.C, solo=bool(self.hint_split.solo[i])) for i in self.indices]

    def __len__(self) -> int:
        return len(self._tasks)

    def _get(self, i: int) -> Task:
        return self._tasks[i]


@TASK_SOURCES.register("hint")
def hint(**kwargs) -> HintTaskSource:
    """The credit lab's HintDyad tasks (options ``C``, ``split``, ``held_frac``, ``split_seed``, ``solo_frac``)."""
    return HintTaskSource(**kwargs)
