"""The reasoning-gym verifier (registered as ``"reasoning_gym"``; optional package ``reasoning-gym``).

A task made by the ``reasoning_gym`` task source names this verifier in ``metadata["verifier"]`` and
carries ``metadata["reasoning_gym"]`` (dataset name, seed, size, config, index); its entry is rebuilt
from those and scored with the dataset's own ``score_answer``, after the math verifier's answer
extraction. Only a score of exactly 1.0 counts as correct (partial credit is a reward-hacking
surface); the raw score is reported in ``detail``.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Sequence
from functools import lru_cache
from typing import Any

from ..types import Task, Verdict
from .base import VERIFIERS
from .math.extract import extract_answer

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
            return Verdict(False, 0.0, "no_answer", None, f"no final answer found ({how})")
        ds = reasoning_gym_dataset(meta["dataset"], seed=meta["seed"], size=meta["size"], config=meta.get("config"))
        entry = ds[int(meta["index"])]
        raw = ds.score_answer(extracted, entry)
        correct = raw is not None and float(raw) == 1.0
        return Verdict(correct, 1.0 if correct else 0.0, "ok", extracted, f"{how}: reasoning-gym score {raw}")
    except Exception as e:
        return Verdict(False, 0.0, "error", None, f"reasoning-gym scoring failed: {type(e).__name__}: {e}"[:300])


class ReasoningGymVerifier:
    """Scores tasks of the ``reasoning_gym`` task source with their generator's ``score_answer``."""

    kind = "math"

    def verify(self, response: str, task: Task) -> Verdict:
        meta = task.metadata.get("reasoning_gym")
        if not isinstance(meta, dict):
            return Verdict(False, 0.0, "error", None, f"task {task.id!r} has no metadata['reasoning_gym']")
        return score_reasoning_gym(response, meta)

    def verify_many(self, responses: Sequence[str], tasks: Sequence[Task]) -> list[Verdict]:
        if len(responses) != len(tasks):
            raise ValueError(f"{len(responses)} responses for {len(tasks)} tasks")
        return [self.verify(r, t) for r, t in zip(responses, tasks, strict=True)]

    def answer_key(self, response: str) -> str | None:
        from .math.keys import answer_key

        return answer_key(response)


REASONING_GYM_VERIFIER = ReasoningGymVerifier()
VERIFIERS.register("reasoning_gym", REASONING_GYM_VERIFIER)
