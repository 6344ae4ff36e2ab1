"""Held-out evaluation: greedy team accuracy and pass@k over tasks never trained on.

Metrics (C3's evaluation profiles, algorithms.md section 6, with explicit names, pitfall P11):

- ``eval/greedy_accuracy``: one greedy (temperature 0) episode per task; share whose team answer the
  verifier judges correct (``Verdict.correct``: all tests pass for code). ``eval/greedy_reward`` is
  the mean team reward (partial credit for code).
- ``eval/pass@k``: ``k`` sampled episodes per task (training sampling settings); share of tasks with
  at least one correct team answer. ``eval/pass@1`` = mean correctness over all samples (C3's "P@1").
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Sequence
from typing import Any

import numpy as np

from llm_marl_envs.policy import SamplingParams

from .plans import restart_counters

_PROMPT_TOKENS = re.compile(r"\d+(?:\.\d+)?|[^\W\d_]+|[-+*/=<>()\[\]^%]")


def normalize_prompt(text: str) -> str:
    """The key under which two task prompts count as the same task (the one definition used by the
    trainer's held-out check and by ``algorithms.bench.holdout``).

    Unicode-normalised (NFKC) and case-folded; then only words, numbers (``3.5`` stays one number)
    and the math symbols ``+ - * / = < > ( ) [ ] ^ %`` are kept, joined by single spaces. So case,
    whitespace and punctuation do not matter (``"Compute 2+3!"`` == ``"compute 2 + 3"``) while the
    operators that change a math task do (``2+3`` != ``2-3``)."""
    folded = unicodedata.normalize("NFKC", str(text)).casefold()
    return " ".join(_PROMPT_TOKENS.findall(folded))


def evaluate(runner: Any, tasks: Sequence[Any], *, k: int, sampling: SamplingParams, seed: int,
             progress: bool = False) -> dict[str, Any]:
    """Greedy accuracy and pass@k of the runner's current policies on ``tasks`` (``progress``: the
    runner shows a bar per pass; the numbers do not depend on it)."""
    saved = dict(runner.params)
    saved_progress = getattr(runner, "progress", None)
    out: dict[str, Any] = {"eval/n_tasks": len(tasks)}
    try:
        if progress:
            runner.progress = True
        runner.params = {r: p.with_(temperature=0.0, seed=None) for r, p in saved.items()}
        restart_counters(runner)
        greedy = runner.run_episodes(list(tasks), n_per_task=1, seed=seed)
        out["eval/greedy_accuracy"] = float(np.mean([ep.verdict.correct for ep in greedy])) if greedy else 0.0
        out["eval/greedy_reward"] = float(np.mean([ep.reward for ep in greedy])) if greedy else 0.0
        calls = len(greedy)
        if k > 0:
            runner.params = {r: sampling for r in saved}
            restart_counters(runner)
            sampled = runner.run_episodes(list(tasks), n_per_task=k, seed=seed + 1)
            by_task: dict[str, list[bool]] = {}
            for ep in sampled:
                by_task.setdefault(ep.group_id, []).append(bool(ep.verdict.correct))
            out[f"eval/pass@{k}"] = float(np.mean([any(v) for v in by_task.values()])) if by_task else 0.0
            out["eval/pass@1"] = float(np.mean([x for v in by_task.values() for x in v])) if by_task else 0.0
            out["eval/k"] = k
            calls += len(sampled)
        out["eval/evaluator_calls"] = calls
    finally:
        runner.params = saved
        if progress:
            runner.progress = saved_progress
    return out
