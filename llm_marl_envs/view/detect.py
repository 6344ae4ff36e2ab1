"""What a path given to ``llm-marl view`` holds: a rollout JSONL, a training run, or benchmark results.

    >>> detect("episodes.jsonl").kind
    'rollout'

Kinds: ``"rollout"`` (episodes / trees / stats JSONL written by ``llm-marl rollout``), ``"run"`` (a
``llm-marl train`` run directory: ``metrics.jsonl`` and usually ``config.json``), ``"bench-lab"``
(``results.json`` of ``llm-marl bench lab``: a ``regimes`` list) and ``"bench-credit"``
(``results.json`` of ``llm-marl bench credit``: ``"benchmark": "credit"``). Anything else is a
:class:`ViewInputError` (a ``ValueError`` with one line naming the path and what was expected).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

EXPECTED = ("expected an episodes/trees JSONL from 'llm-marl rollout', a training run directory "
            "(metrics.jsonl, config.json) or a benchmark results folder (results.json of 'bench lab' "
            "or 'bench credit')")
ROLLOUT_TYPES = ("episode", "tree", "stats")


class ViewInputError(ValueError):
    """The path is not something ``llm-marl view`` can show (message: one line)."""


@dataclass(frozen=True)
class Source:
    """A detected input: ``kind`` and the files to read.

    Attributes:
        kind: ``"rollout"``, ``"run"``, ``"bench-lab"`` or ``"bench-credit"``.
        path: the path as given.
        main: the file holding the data (the JSONL, ``metrics.jsonl`` or ``results.json``).
        folder: the folder beside it (run directory or results folder; the JSONL's folder).
    """

    kind: str
    path: Path
    main: Path
    folder: Path


def _first_record(path: Path) -> dict | None:
    try:
        with path.open(encoding="utf-8") as f:
            for line in f:
                if line.strip():
                    d = json.loads(line)
                    return d if isinstance(d, dict) else None
    except (OSError, UnicodeDecodeError, ValueError):
        return None
    return None


def _results_kind(path: Path) -> str | None:
    try:
        d = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError):
        return None
    if not isinstance(d, dict):
        return None
    if d.get("benchmark") == "credit" or ("runs" in d and "summary" in d):
        return "bench-credit"
    if isinstance(d.get("regimes"), list):
        return "bench-lab"
    return None


def detect(path: str | Path) -> Source:
    """The kind of ``path`` (see the module docstring); raises :class:`ViewInputError` otherwise."""
    p = Path(path)
    if not p.exists():
        raise ViewInputError(f"{p}: no such file or directory; {EXPECTED}")
    if p.is_dir():
        if (p / "metrics.jsonl").is_file():
            return Source("run", p, p / "metrics.jsonl", p)
        if (p / "results.json").is_file():
            kind = _results_kind(p / "results.json")
            if kind:
                return Source(kind, p, p / "results.json", p)
            raise ViewInputError(f"{p / 'results.json'}: neither a 'bench lab' (top-level 'regimes' list) nor a "
                                 f"'bench credit' (\"benchmark\": \"credit\") results file; {EXPECTED}")
        raise ViewInputError(f"{p}: a directory without metrics.jsonl or results.json; {EXPECTED}")
    if p.name == "metrics.jsonl":
        return Source("run", p, p, p.parent)
    if p.suffix == ".json":
        kind = _results_kind(p)
        if kind:
            return Source(kind, p, p, p.parent)
        raise ViewInputError(f"{p}: a JSON file that is not a 'bench lab' or 'bench credit' results.json; {EXPECTED}")
    first = _first_record(p)
    if first is not None and first.get("type", "episode") in ROLLOUT_TYPES and (
            "type" in first or "episode_id" in first):
        return Source("rollout", p, p, p.parent)
    raise ViewInputError(f"{p}: not a JSONL of episode/tree/stats records (first line has no \"type\" of "
                         f"{', '.join(ROLLOUT_TYPES)}); {EXPECTED}")
