"""Math dataset loaders: ``gsm8k``, ``math`` (Hendrycks MATH, train by default) and ``math500``.

They read the canonical Hugging Face row formats from local files and never download:

- JSONL (one row per line), JSON (an array), parquet (needs ``pyarrow`` or ``pandas``), or a folder
  written by ``datasets.Dataset.save_to_disk`` (needs ``datasets``);
- looked up by :func:`~llm_marl_envs.tasks.datapaths.find_data_file`: ``path=``, then the environment
  variable (``LLM_MARL_GSM8K``, ``LLM_MARL_MATH``, ``LLM_MARL_MATH500``), then ``$LLM_MARL_DATA`` and
  ``../shared/data``. A missing file raises ``DatasetNotFoundError`` saying where to put it.

Golds: GSM8K from the ``#### n`` line of ``answer`` (separators removed); MATH from the ``answer``
field when present, else the last ``\\boxed{}`` of ``solution`` (brace matching). MATH tasks carry
``metadata["level"]`` (int, or ``None`` for ``"Level ?"``) and ``metadata["subject"]``.

Common factory arguments: ``split=``, ``path=``, ``n=`` (first n after filtering/shuffling),
``seed=`` with ``shuffle=True`` (a seeded permutation), ``difficulty=`` (MATH level, an int or a list
of ints; GSM8K ignores it).

``reasoning_gym`` (optional, needs the ``reasoning-gym`` package): ``load_tasks("reasoning_gym",
dataset="basic_arithmetic", n=1000, seed=0, **generator_config)`` wraps one of its procedural
generators; its tasks name the ``reasoning_gym`` verifier (``metadata["verifier"]``), which scores them
with the generator's own ``score_answer`` and counts only a score of exactly 1.0 as correct.
"""

from __future__ import annotations

import json
import random
import re
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from ..types import Task
from ..verifiers.math.extract import last_boxed
from .base import TASK_SOURCES, ListTaskSource, TaskSource
from .datapaths import DatasetNotFoundError, find_data_file

__all__ = [
    "ReasoningGymTaskSource", "gsm8k_gold", "load_gsm8k", "load_math", "load_math500", "math_gold", "read_rows",
]


def read_rows(path: Path) -> list[dict[str, Any]]:
    """Rows of a JSONL / JSON / parquet file or a ``save_to_disk`` folder, as dicts."""
    path = Path(path)
    if path.is_dir():
        try:
            import datasets  # type: ignore[import-not-found]
        except ImportError as e:  # pragma: no cover - depends on the environment
            raise DatasetNotFoundError(f"{path} is a folder; reading a datasets cache needs `pip install datasets`") from e
        ds = datasets.load_from_disk(str(path))
        if isinstance(ds, datasets.DatasetDict):
            ds = ds[next(iter(ds))]
        return [dict(r) for r in ds]
    if path.suffix == ".parquet":
        try:
            import pyarrow.parquet as pq  # type: ignore[import-not-found]

            return pq.read_table(path).to_pylist()
        except ImportError:
            try:
                import pandas as pd  # type: ignore[import-not-found]
            except ImportError as e:  # pragma: no cover
                raise DatasetNotFoundError(f"reading {path} needs `pip install pyarrow` (or pandas)") from e
            return pd.read_parquet(path).to_dict("records")
    if path.suffix == ".gz":
        import gzip

        with gzip.open(path, "rt", encoding="utf-8") as f:
            return [json.loads(line) for line in f if line.strip()]
    text = path.read_text(encoding="utf-8")
    if path.suffix == ".json" and text.lstrip().startswith("["):
        return list(json.loads(text))
    return [json.loads(line) for line in text.splitlines() if line.strip()]


def gsm8k_gold(answer_text: str) -> str:
    """The number after the last ``####`` of a GSM8K solution, without separators or ``$``."""
    tail = answer_text.rsplit("####", 1)
    if len(tail) != 2:
        raise ValueError("GSM8K answer has no '#### n' line")
    gold = tail[1].strip().splitlines()[0].strip()
    return re.sub(r"[,\s$]", "", gold)


def math_gold(row: dict[str, Any]) -> str:
    """A MATH row's gold: its ``answer`` field, else the last ``\\boxed{}`` of its ``solution``."""
    ans = row.get("answer")
    if isinstance(ans, str) and ans.strip():
        return ans.strip()
    box = last_boxed(row.get("solution") or "")
    if box is None or not box.strip():
        raise ValueError("MATH row has neither an 'answer' field nor a non-empty \\boxed{} in its solution")
    return box.strip()


def _level(value: Any) -> int | None:
    if isinstance(value, int):
        return value
    m = re.search(r"\d+", str(value or ""))
    return int(m.group(0)) if m else None


def _select(tasks: list[Task], *, n: int | None, seed: int, shuffle: bool) -> list[Task]:
    if shuffle:
        tasks = list(tasks)
        random.Random(seed).shuffle(tasks)
    if n is not None:
        tasks = tasks[: int(n)]
    return tasks


def _levels(difficulty: int | Iterable[int] | None) -> set[int] | None:
    if difficulty is None:
        return None
    return {int(difficulty)} if isinstance(difficulty, (int, str)) else {int(d) for d in difficulty}


def load_gsm8k(
    *, split: str = "test", path: str | Path | None = None, n: int | None = None, seed: int = 0,
    shuffle: bool = False, difficulty: Any = None,
) -> ListTaskSource:
    """GSM8K (``split`` ``"test"`` or ``"train"``): prompt = question, answer = the ``####`` number."""
    file = find_data_file(
        "gsm8k", [f"{split}.jsonl", f"{split}-00000-of-00001.parquet", f"main/{split}-00000-of-00001.parquet", split],
        path=path, env_var="LLM_MARL_GSM8K",
    )
    tasks = [
        Task(
            id=f"gsm8k-{split}-{i}", kind="math", prompt=row["question"], answer=gsm8k_gold(row["answer"]),
            metadata={"solution": row["answer"], "dataset": "gsm8k", "split": split},
        )
        for i, row in enumerate(read_rows(file))
    ]
    return ListTaskSource(_select(tasks, n=n, seed=seed, shuffle=shuffle), name=f"gsm8k-{split}")


def _math_tasks(rows: list[dict[str, Any]], prefix: str, levels: set[int] | None) -> list[Task]:
    """Tasks of MATH rows; rows without a usable gold (an empty ``\\boxed{}`` upstream: nothing could
    ever be rewarded) are skipped with a warning that counts them."""
    tasks = []
    skipped = 0
    for i, row in enumerate(rows):
        level = _level(row.get("level"))
        if levels is not None and level not in levels:
            continue
        try:
            gold = math_gold(row)
        except ValueError:
            skipped += 1
            continue
        tasks.append(
            Task(
                id=str(row.get("unique_id") or f"{prefix}-{i}"), kind="math", prompt=row["problem"],
                answer=gold,
                metadata={
                    "level": level, "subject": row.get("subject") or row.get("type"),
                    "solution": row.get("solution", ""), "dataset": prefix,
                },
            )
        )
    if skipped:
        import warnings

        warnings.warn(f"{prefix}: skipped {skipped} row(s) without a gold answer", stacklevel=3)
    return tasks


def load_math(
    *, split: str = "train", path: str | Path | None = None, n: int | None = None, seed: int = 0,
    shuffle: bool = False, difficulty: int | Iterable[int] | None = None,
) -> ListTaskSource:
    """Hendrycks MATH (``split="train"``: 7,500 problems); ``difficulty`` filters by level 1-5."""
    file = find_data_file(
        "math", [f"{split}.jsonl", f"{split}-00000-of-00001.parquet", f"{split}.parquet", split],
        path=path, env_var="LLM_MARL_MATH",
    )
    tasks = _math_tasks(read_rows(file), f"math-{split}", _levels(difficulty))
    return ListTaskSource(_select(tasks, n=n, seed=seed, shuffle=shuffle), name=f"math-{split}")


def load_math500(
    *, split: str = "test", path: str | Path | None = None, n: int | None = None, seed: int = 0,
    shuffle: bool = False, difficulty: int | Iterable[int] | None = None,
) -> ListTaskSource:
    """MATH-500 (PRM800K's test subset; ``HuggingFaceH4/MATH-500``); ids are the ``unique_id`` field."""
    file = find_data_file(
        "math", ["math500.jsonl", "math500/test.jsonl", "MATH-500/test.jsonl", "test500.jsonl"],
        path=path, env_var="LLM_MARL_MATH500",
    )
    tasks = _math_tasks(read_rows(file), "math500", _levels(difficulty))
    return ListTaskSource(_select(tasks, n=n, seed=seed, shuffle=shuffle), name="math500")


class ReasoningGymTaskSource(TaskSource):
    """Tasks from one reasoning-gym generator; ``self[i]`` is its entry ``i`` for (dataset, seed, n, config)."""

    kind = "math"

    def __init__(self, dataset: str = "basic_arithmetic", *, n: int = 1000, seed: int = 0, **config: Any) -> None:
        from ..verifiers.reasoning_gym import reasoning_gym_dataset

        try:
            self._ds = reasoning_gym_dataset(dataset, seed=seed, size=n, config=config)
        except ImportError as e:
            raise ImportError("the reasoning_gym task source needs `pip install reasoning-gym`") from e
        self.meta = {"dataset": dataset, "seed": int(seed), "size": int(n), "config": dict(config)}
        self.name = f"reasoning_gym-{dataset}"
        self._n = int(n)

    def __len__(self) -> int:
        return self._n

    def _get(self, i: int) -> Task:
        entry = self._ds[i]
        return Task(
            id=f"rg-{self.meta['dataset']}-{self.meta['seed']}-{i}", kind="math", prompt=entry["question"],
            answer=str(entry["answer"]), metadata={"reasoning_gym": {**self.meta, "index": i}, "dataset": self.name, "verifier": "reasoning_gym"},
        )


def load_reasoning_gym(**kwargs: Any) -> ReasoningGymTaskSource:
    """A reasoning-gym generator (optional package); only a score of exactly 1.0 counts as correct."""
    return ReasoningGymTaskSource(**kwargs)


TASK_SOURCES.register("reasoning_gym", load_reasoning_gym)
TASK_SOURCES.register("gsm8k", load_gsm8k)
TASK_SOURCES.register("math", load_math)
TASK_SOURCES.register("math500", load_math500)
