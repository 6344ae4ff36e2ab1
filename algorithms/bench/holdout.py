"""Held-out evaluation tasks, disjoint from training tasks by construction and by check."""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from llm_marl_envs.types import Task

from ..evaluation import normalize_prompt  # the one definition, shared with the trainer

__all__ = ["OverlapError", "check_disjoint", "disjoint_tasks", "normalize_prompt"]


class OverlapError(ValueError):
    """Raised when an evaluation task's normalised prompt also appears among training tasks."""


def check_disjoint(eval_tasks: Sequence[Task], *train_sets: Iterable[Task]) -> int:
    """Raise :class:`OverlapError` if any evaluation prompt equals a training prompt (normalised).

    Returns the number of training prompts compared against.
    """
    seen: set[str] = set()
    for tasks in train_sets:
        seen.update(normalize_prompt(t.prompt) for t in tasks)
    clashes = [t.id for t in eval_tasks if normalize_prompt(t.prompt) in seen]
    if clashes:
        raise OverlapError(f"{len(clashes)} evaluation task(s) also appear in training data, e.g. {clashes[:3]}")
    return len(seen)


def disjoint_tasks(candidates: Iterable[Task], n: int, *exclude: Iterable[Task]) -> list[Task]:
    """The first ``n`` candidates whose normalised prompts are not in ``exclude`` (nor repeated)."""
    seen: set[str] = set()
    for tasks in exclude:
        seen.update(normalize_prompt(t.prompt) for t in tasks)
    out: list[Task] = []
    for task in candidates:
        key = normalize_prompt(task.prompt)
        if key in seen:
            continue
        seen.add(key)
        out.append(task)
        if len(out) == n:
            break
    if len(out) < n:
        raise OverlapError(f"only {len(out)} of {n} held-out tasks are disjoint from the training data")
    return out
