"""Scoring of tasks from ``reasoning-gym`` generators (optional package ``reasoning-gym``).

A task made by the ``reasoning_gym`` task source carries ``metadata["reasoning_gym"]`` (dataset name,
seed, size, config, index); its entry is rebuilt from those and scored with the dataset's own
``score_answer``. Only a score of exactly 1.0 counts as correct (partial credit is a reward-hacking
surface); the raw score is reported in ``detail``.
"""

from __future__ import annotations

import json
import threading
from functools import lru_cache
from typing import Any

from ..types import Verdict
from .math_extract import extract_answer

_LOCK = threading.Lock()


@lru_cache(maxsize=64)
def _dataset(name: str, seed: int, size: int, config_json: str):
    import reasoning_gym  # optional dependency, imported only when such a task is used

    return reasoning_gym.create_dataset(name, seed=seed, size=size, **json.loads(config_json))


def reasoning_gym_dataset(name: str, *, seed: int, size: int, config: dict[str, Any] | None = None):
    """The (cached) reasoning-gym dataset object for these parameters."""
    with _LOCK:
        return _dataset(name, int(seed), int(size), json.dumps(config or {}, sort_keys=True))


def score_reasoning_gym(response: str, meta: dict[str, Any]) -> Verdict:
    """Score ``response`` against the reasoning-gym entry described by ``meta``; never raises."""
    try:
        extracted, how = extract_answer(response if isinstance(response, str) else "")
        if extracted is None:
            return Verdict(False, 0.0, "no_answer", None, "no final answer found")
        ds = reasoning_gym_dataset(meta["dataset"], seed=meta["seed"], size=meta["size"], config=meta.get("config"))
        entry = ds[int(meta["index"])]
        raw = ds.score_answer(extracted, entry)
        correct = raw is not None and float(raw) == 1.0
        return Verdict(correct, 1.0 if correct else 0.0, "ok", extracted, f"{how}: reasoning-gym score {raw}")
    except Exception as e:
        return Verdict(False, 0.0, "error", None, f"reasoning-gym scoring failed: {type(e).__name__}: {e}"[:300])
