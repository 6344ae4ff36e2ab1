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
        if path.suffix in (".jsonl", ".json") and path.is_file():
            return ListTaskSource(read_task_jsonl(path), name=path.stem)
        if path.suffix in (".jsonl", ".json"):
            raise TaskFileError(f"task file {str(path)!r} does not exist")
        raise KeyError(
            f"unknown task source {str(spec)!r}: not a registered name ({', '.join(TASK_SOURCES.names())}) "
            "and not a .jsonl file of tasks (format: README, 'Your own tasks')"
        )
    if isinstance(spec, Sequence):
        return ListTaskSource(list(spec))
    raise TypeError(f"cannot load tasks from {type(spec).__name__}")


class TaskFileError(ValueError):
    """A task JSONL file that cannot be read; the message names the file, the line and the field."""


def read_task_jsonl(path: str | Path) -> list[Task]:
    """Read a JSONL file of task objects (one per line; blank lines skipped) into ``Task`` values.

    Raises :class:`TaskFileError` naming ``path:line`` and the field for any bad line, and for a
    file with no task at all.
    """
    path = Path(path)
    text = path.read_text(encoding="utf-8")
    rows: list[tuple[str, Any]] = []
    if path.suffix == ".json" and text.lstrip().startswith("["):  # a .json file may hold one array of tasks
        try:
            items = json.loads(text)
        except json.JSONDecodeError as e:
            raise TaskFileError(f"{path}:{e.lineno}: not valid JSON ({e.msg} at column {e.colno})") from None
        rows = [(f"item {i}", item) for i, item in enumerate(items)]
    else:
        for lineno, line in enumerate(text.splitlines(), start=1):
            if not line.strip():
                continue
            try:
                rows.append((str(lineno), json.loads(line)))
            except json.JSONDecodeError as e:
                raise TaskFileError(f"{path}:{lineno}: not valid JSON ({e.msg} at column {e.colno}); "
                                    "each line must be one JSON object") from None
    tasks: list[Task] = []
    seen: dict[str, str] = {}
    for where, row in rows:
        try:
            task = Task.from_dict(row)
        except ValueError as e:
            raise TaskFileError(f"{path}:{where}: {e}") from None
        if task.id in seen:
            first = seen[task.id]
            raise TaskFileError(f"{path}:{where}: duplicate task id {task.id!r} (first at "
                                f"{first if first.startswith('item') else 'line ' + first})")
        seen[task.id] = where
        tasks.append(task)
    if not tasks:
        raise TaskFileError(f"{path}: no tasks (expected one JSON object per line)")
    return tasks


def save_tasks(tasks: Sequence[Task], path: str | Path) -> None:
    """Write tasks as JSONL (one ``Task.to_dict()`` per line); ``load_tasks(path)`` reads them back."""
    with Path(path).open("w", encoding="utf-8") as f:
        for t in tasks:
            f.write(json.dumps(t.to_dict(), ensure_ascii=False) + "\n")
