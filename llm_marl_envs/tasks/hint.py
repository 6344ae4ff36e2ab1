"""``hint``: the credit lab's HintDyad task (``../shared/reference/credit-lab.md`` section 1).

A task is a triple x = (a, b, c) with a, b in 0..9 and c in 0..C-1. Stage one is
u = (a + b) mod 10 (the thinker's correct hint), the answer is y = (3u + c) mod 10, and a hint m
maps to the answer g(m, c) = (3m + c) mod 10. Task index i = (a*10 + b)*C + c.

The split and the solo set are fixed by ``split_seed``: ``rng = numpy.random.default_rng(split_seed)``,
held-out = the sorted first ``held_frac * 100C`` entries of ``rng.permutation(100C)``, then
``solo = rng.random(100C) < solo_frac`` from the same generator. This module is the one definition
of those facts: the lab's vectorised simulator and the ``HintDyad`` env both read it.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

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
