"""Task sources: finite datasets or unlimited seeded generators, behind one registry.

A task source is an indexable sequence of :class:`~llm_marl_envs.types.Task`. Procedural sources
are unlimited in principle; they report a large finite ``len`` and generate item ``i``
deterministically from ``(seed, i)``.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from ..registry import Registry
from ..types import Task

TaskSourceFactory = Callable[..., "TaskSource"]
TASK_SOURCES: Registry[TaskSourceFactory] = Registry("task source")


class TaskSource(Sequence[Task]):
    """Base class: subclasses implement ``__len__`` and ``_get(i)``; slicing and bounds are here."""

    name: str = "tasks"
    kind: str = "math"

    def _get(self, i: int) -> Task:  # pragma: no cover - abstract
        raise NotImplementedError

    def __len__(self) -> int:  # pragma: no cover - abstract
        raise NotImplementedError

    def __getitem__(self, i):  # type: ignore[override]
        if isinstance(i, slice):
            return [self[j] for j in range(*i.indices(len(self)))]
        n = len(self)
        if not isinstance(i, int):
            raise TypeError(f"task index must be int, got {type(i).__name__}")
        if i < 0:
            i += n
        if not 0 <= i < n:
            raise IndexError(f"task index {i} out of range for {self.name} ({n} tasks)")
        return self._get(i)

    def __repr__(self) -> str:
        return f"{type(self).__name__}(name={self.name!r}, n={len(self)})"


class ListTaskSource(TaskSource):
    """A fixed list of tasks (also what a JSONL file of ``Task`` dicts loads into)."""

    def __init__(self, tasks: Sequence[Task], name: str = "list") -> None:
        self._tasks = list(tasks)
        if not self._tasks:
            raise ValueError("a task list must not be empty")
        bad = [t for t in self._tasks if not isinstance(t, Task)]
        if bad:
            raise TypeError(f"expected Task objects, got {type(bad[0]).__name__}")
        self.name = name
        self.kind = self._tasks[0].kind

    def __len__(self) -> int:
        return len(self._tasks)

    def _get(self, i: int) -> Task:
        return self._tasks[i]


def load_tasks(spec: str | Path | Sequence[Task] | TaskSource, **kwargs: Any) -> TaskSource:
    """Resolve ``spec`` into a task source.

    ``spec`` may be a registered name (``"arith"``, ``"gsm8k"``, ...; ``kwargs`` go to its factory),
    a path to a JSONL file of ``Task`` dicts, a list of ``Task``, or a task source (returned as is).
    """
    if isinstance(spec, TaskSource):
        return spec
    if isinstance(spec, (str, Path)):
        if isinstance(spec, str) and spec in TASK_SOURCES:
            return TASK_SOURCES.get(spec)(**kwargs)
        path = Path(spec)
        if path.suffix in (".jsonl", ".json") and path.exists():
            with path.open(encoding="utf-8") as f:
                tasks = [Task.from_dict(json.loads(line)) for line in f if line.strip()]
            return ListTaskSource(tasks, name=path.stem)
        raise KeyError(
            f"unknown task source {str(spec)!r}: not a registered name ({', '.join(TASK_SOURCES.names())}) "
            "and not an existing .jsonl file of Task dicts"
        )
    if isinstance(spec, Sequence):
        return ListTaskSource(list(spec))
    raise TypeError(f"cannot load tasks from {type(spec).__name__}")


def save_tasks(tasks: Sequence[Task], path: str | Path) -> None:
    """Write tasks as JSONL (one ``Task.to_dict()`` per line); ``load_tasks(path)`` reads them back."""
    with Path(path).open("w", encoding="utf-8") as f:
        for t in tasks:
            f.write(json.dumps(t.to_dict(), ensure_ascii=False) + "\n")
