"""The benchmark's credit diagnostics of one finished run, from the credits it trained on.

The trainer logged the per-decision credits of its last iteration (``<run dir>/credits.jsonl``,
:func:`algorithms.diagnostics.write_credit_log`). The first agent's trained messages there (the dyad's
thinker, the first solver of a vote), grouped by task, are the buckets: each message is continued
``replays`` times by the downstream agents under the final policy, and ``extra`` fresh messages per
context give the baseline, which yields the Monte-Carlo target ``Delta*`` independent of the rewards
the credits came from. Fidelity, within-group variance, a random credit's fidelity (the noise floor),
influence (CMI) and the upstream entropy H come from :func:`algorithms.diagnostics.credit_diagnostics`.
There is one credit path (the learner's own estimator during training); no credit rule is re-derived.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from algorithms.diagnostics import collect_replay_buckets, credit_diagnostics, read_credit_log


def diagnose(runner: Any, run_dir: str | Path, tasks: Sequence[Any], *, buckets: int, replays: int, extra: int,
             seed: int) -> dict[str, Any]:
    """Diagnostics of the run in ``run_dir`` (``tasks``: its training pool, to look the logged task ids up).

    Returns ``{"buckets", "evaluator_calls", "credit_iteration", "fidelity", "fidelity_real_only",
    "within_group_var", "null_fidelity", "influence", "upstream_entropy", "cmi_over_h", "target_abs_mean"}``
    (``None`` for a metric that cannot be computed, e.g. no context with two trained messages).
    """
    rows = read_credit_log(run_dir)
    found = collect_replay_buckets(runner, rows, tasks, replays=replays, n_extra=extra, max_buckets=buckets, seed=seed)
    calls = sum(len(r) for b in found for r in b.target_rewards) + sum(len(b.extra_rewards) for b in found)
    out: dict[str, Any] = {"buckets": len(found), "evaluator_calls": calls,
                           "credit_iteration": max((r["iteration"] for r in rows), default=None)}
    d = credit_diagnostics(found, seed=seed) if found else {}
    for key, src in (("fidelity", "fidelity"), ("fidelity_real_only", "fidelity_real_only"),
                     ("within_group_var", "within_group_variance"), ("null_fidelity", "null_fidelity"),
                     ("influence", "cmi_nats"), ("upstream_entropy", "upstream_entropy_nats"),
                     ("cmi_over_h", "cmi_over_h")):
        out[key] = _finite(d.get(src, float("nan")))
    out["target_abs_mean"] = _finite(np.mean([np.abs(b.target()).mean() for b in found])) if found else None
    return out


def _finite(x: float) -> float | None:
    x = float(x)
    return x if np.isfinite(x) else None
