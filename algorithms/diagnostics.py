"""Credit diagnostics (algorithms.md section 8) of the credits a learner actually trained on.

One credit path: the trainer writes the per-decision credits of its latest iteration to
``<run dir>/credits.jsonl`` (:func:`write_credit_log`: the estimator's ``advantages`` the loss used,
its ``raw`` credit, ``trainable``, the message text and where it sat). No credit rule is re-derived
here. A *bucket* is one frozen context ``h`` of that batch (a training task and, for the first role,
no upstream message) holding the ``J`` messages the learner sampled and credited there. The
diagnostics replay each logged message with fresh downstream continuations under the run's final
policy (:func:`collect_replay_buckets`):

- ``target_rewards[j]``: ``m`` independent continuations of message ``j`` to the evaluator, giving
  ``Qhat(h, a_j)``; ``extra_rewards``: fresh messages sampled at ``h`` and continued, giving
  ``Vhat(h)`` (without them, the mean of ``Qhat`` over the bucket). The Monte-Carlo marginal value is
  ``Delta*_j = Qhat(h, a_j) - Vhat(h)``.

The replays are independent of the rewards the credits came from, so C3's LOO credit is not a
multiple of its own target (pitfall P9, worked example E8), and a random credit scores about 0.
The replay policy is the one after the logged iteration's update (one optimiser step later than the
policy the credits were computed for).

Metrics:

- credit fidelity: Spearman(credit, Delta*) pooled over buckets (``variant="all_candidates"``) or
  over the first logged message of each bucket only (``"real_only"``);
- within-group credit variance: population variance (ddof 0) of the credit across a bucket's
  messages, averaged over buckets (E7);
- inter-agent influence: conditional mutual information ``I(M; Y | h)`` in nats between the upstream
  message ``M`` (identical messages pooled) and the downstream agent's canonicalised output ``Y``,
  Laplace smoothed (alpha = 1) over a global top-64 vocabulary plus an ``OTHER`` category that is
  always present (as in C3's analysis code), ``p(m)`` proportional to samples, averaged over buckets
  (E9); reported with the upstream entropy ``H(M | h)`` (plug-in, nats): a random upstream agent has a
  high CMI by construction, and ``I <= H``.
"""

from __future__ import annotations

import hashlib
import json
import math
import re
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from .estimators.functional import spearman

CREDIT_LOG = "credits.jsonl"
"""File name of the per-decision credit log inside a run directory."""


# -------------------------------------------------------------------------- the credit log
def credit_rows(batch: Any, credits: Any, iteration: int) -> list[dict[str, Any]]:
    """One plain row per decision of ``batch`` with the estimator's output ``credits`` for it."""
    rows = []
    for i, d in enumerate(batch.decisions):
        rows.append({
            "iteration": int(iteration), "episode_id": d.episode_id, "group_id": d.group_id, "task_id": d.task_id,
            "role": d.role, "agent": d.agent, "turn": int(d.turn), "kind": d.kind, "node_id": d.node_id,
            "parent_id": d.parent_id, "reward": float(d.reward),
            "value": None if d.value is None else float(d.value),
            "counterfactual_reward": None if d.counterfactual_reward is None else float(d.counterfactual_reward),
            "advantage": float(credits.advantages[i]), "raw": float(credits.raw[i]),
            "trainable": bool(credits.trainable[i]), "text": d.text, "context": d.context,
        })
    return rows


def write_credit_log(run_dir: str | Path, batch: Any, credits: Any, iteration: int) -> Path:
    """Replace ``run_dir/credits.jsonl`` with the credits of ``iteration`` (atomic rename)."""
    path = Path(run_dir) / CREDIT_LOG
    tmp = path.with_suffix(".jsonl.tmp")
    with tmp.open("w", encoding="utf-8") as f:
        for row in credit_rows(batch, credits, iteration):
            f.write(json.dumps(row, ensure_ascii=True) + "\n")
    tmp.replace(path)
    return path


def read_credit_log(run_dir: str | Path) -> list[dict[str, Any]]:
    """The rows :func:`write_credit_log` wrote (a missing file raises, naming it)."""
    path = Path(run_dir) / CREDIT_LOG
    if not path.exists():
        raise FileNotFoundError(f"{path}: no credit log (the trainer writes it after each iteration)")
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


# -------------------------------------------------------------------------- buckets
@dataclass
class ReplayBucket:
    """The logged messages of one role at one frozen context, their credits and replays."""

    task_id: str
    context: str
    role: str
    candidates: list[str]
    credits: list[float]
    """The credit the learner trained on for each message (``advantages`` of the credit log)."""
    target_rewards: list[list[float]]
    downstream_outputs: list[list[str]] = field(default_factory=list)
    extra_rewards: list[float] = field(default_factory=list)
    """Rewards of extra messages sampled independently at ``h`` (the target's baseline V-hat)."""

    def target(self) -> np.ndarray:
        """``Delta*_j = Qhat_j - Vhat(h)`` from the independent replays ``[J]``."""
        means = np.asarray([np.mean(r) for r in self.target_rewards], dtype=np.float64)
        baseline = float(np.mean(self.extra_rewards)) if len(self.extra_rewards) else float(means.mean())
        return means - baseline


def logged_buckets(rows: Sequence[Mapping[str, Any]], *, turn: int = 0, max_buckets: int | None = None) -> list[dict]:
    """Group the trained decisions at ``turn`` (0: the first agent, whose context is the task alone)
    of the credit log by frozen context: ``[{"task_id", "context", "role", "rows"}]``, at most
    ``max_buckets``, each with at least two messages, in first-appearance order."""
    groups: dict[tuple[str, str], list[Mapping[str, Any]]] = {}
    for r in rows:
        if r["turn"] == turn and r["kind"] == "joint" and r["trainable"]:
            groups.setdefault((r["task_id"], r["context"]), []).append(r)
    out = [{"task_id": t, "context": c, "role": rs[0]["role"], "rows": rs} for (t, c), rs in groups.items() if len(rs) >= 2]
    return out[:max_buckets] if max_buckets is not None else out


def collect_replay_buckets(
    runner: Any,
    rows: Sequence[Mapping[str, Any]],
    tasks: Mapping[str, Any] | Sequence[Any],
    *,
    replays: int = 2,
    n_extra: int = 4,
    max_buckets: int | None = None,
    seed: int = 0,
) -> list[ReplayBucket]:
    """:class:`ReplayBucket` per frozen first-agent context of the credit log ``rows``.

    Each logged message is continued ``replays`` times by the downstream agents (one rollout tree with
    fan-out ``[replays, 1, ...]`` from the message as a frozen prefix); ``n_extra`` fresh messages are
    sampled at the context and each continued once (fan-out ``[n_extra, 1, ...]``). ``tasks`` maps
    task ids to tasks (or is a list of tasks). The runner's policies are used as they are now.
    """
    from llm_marl_envs.types import Message

    from .plans import restart_counters

    by_id = dict(tasks) if isinstance(tasks, Mapping) else {t.id: t for t in tasks}
    info = runner.plan_env_info
    groups = [g for g in logged_buckets(rows, turn=0, max_buckets=None) if g["task_id"] in by_id]
    groups = groups[:max_buckets] if max_buckets is not None else groups
    if not groups:
        return []
    rest = [1] * max(info.decisions - 2, 0)
    cand_tasks, prefixes = [], []
    for g in groups:
        for r in g["rows"]:
            cand_tasks.append(by_id[g["task_id"]])
            prefixes.append([Message(agent=r["agent"], role=r["role"], content=r["text"], turn=0, context=r["context"])])
    restart_counters(runner)
    if info.decisions > 1:
        trees = runner.run_trees(cand_tasks, fanout=[replays, *rest], prefixes=prefixes, seed=seed)
    else:  # a one-decision env: the message's own reward is its value
        trees = None
    extra = []
    if n_extra > 0:
        restart_counters(runner)
        extra = runner.run_trees([by_id[g["task_id"]] for g in groups], fanout=[n_extra] + [1] * (info.decisions - 1),
                                 seed=seed + 1)
    buckets, k = [], 0
    for gi, g in enumerate(groups):
        targets, downstream = [], []
        for r in g["rows"]:
            if trees is None:
                targets.append([float(r["reward"])])
                downstream.append([])
            else:
                tree = trees[k]
                targets.append([float(leaf.reward or 0.0) for leaf in tree.leaves()])
                downstream.append([c.message.content for c in tree.children(tree.root.node_id) if c.message is not None])
            k += 1
        buckets.append(ReplayBucket(
            task_id=g["task_id"], context=g["context"], role=g["role"], candidates=[r["text"] for r in g["rows"]],
            credits=[float(r["advantage"]) for r in g["rows"]], target_rewards=targets, downstream_outputs=downstream,
            extra_rewards=[float(leaf.reward or 0.0) for leaf in extra[gi].leaves()] if extra else [],
        ))
    return buckets


# -------------------------------------------------------------------------- the metrics
def credit_fidelity(
    credits: Sequence[Sequence[float]], targets: Sequence[Sequence[float]], *, variant: str = "all_candidates"
) -> float:
    """Spearman correlation between credits and marginal-value targets pooled across buckets.

    ``variant="real_only"`` keeps candidate 0 of each bucket (the first logged action), as the C3
    paper's default analysis; ``"all_candidates"`` keeps every candidate.
    """
    if variant not in ("all_candidates", "real_only"):
        raise ValueError(f"variant must be 'all_candidates' or 'real_only', got {variant!r}")
    a: list[float] = []
    t: list[float] = []
    for c, d in zip(credits, targets, strict=True):
        c, d = list(c), list(d)
        if len(c) != len(d):
            raise ValueError("each bucket needs one target per credit")
        if variant == "real_only":
            c, d = c[:1], d[:1]
        a.extend(c)
        t.extend(d)
    return spearman(a, t)


def within_group_variance(credits: Sequence[Sequence[float]]) -> float:
    """Mean over buckets of the population variance (ddof 0) of the credits in the bucket.

    >>> round(within_group_variance([[-0.135, 0.12, 0.015]]), 5)
    0.01095
    """
    values = [float(np.var(np.asarray(c, dtype=np.float64))) for c in credits if len(c)]
    return float(np.mean(values)) if values else float("nan")


def canonical_output(text: str) -> str:
    """Canonical key of a message: fences stripped, whitespace collapsed, SHA-1 (16 hex)."""
    text = re.sub(r"```[a-zA-Z0-9_+-]*", "", text)
    text = " ".join(text.split())
    return hashlib.sha1(text.encode("utf-8", "surrogatepass")).hexdigest()[:16]


def conditional_mutual_information(
    outputs_by_candidate: Sequence[Sequence[str]], *, vocabulary: Sequence[str], alpha: float = 1.0
) -> float:
    """``I(J; Y | h)`` in nats for one bucket.

    ``outputs_by_candidate[j]`` are the (already canonical) downstream outputs observed after
    upstream message ``j``; outputs outside ``vocabulary`` count as one extra ``OTHER`` category,
    which is always one of the ``len(vocabulary) + 1`` categories (C3's code), whether or not it
    occurs. ``p(y|j)`` is Laplace-smoothed with ``alpha``; ``p(j)`` is proportional to the samples of ``j``.
    """
    vocab = list(dict.fromkeys(vocabulary))
    index = {y: i for i, y in enumerate(vocab)}
    V = len(vocab) + 1  # + OTHER, always
    counts = np.zeros((len(outputs_by_candidate), V))
    for j, ys in enumerate(outputs_by_candidate):
        for y in ys:
            counts[j, index.get(y, V - 1)] += 1
    n_j = counts.sum(axis=1)
    if n_j.sum() == 0 or len(outputs_by_candidate) < 2:
        return 0.0
    p_j = n_j / n_j.sum()
    p_y_given_j = (counts + alpha) / (n_j[:, None] + alpha * V)
    p_y = p_j @ p_y_given_j
    return float(np.sum(p_j[:, None] * p_y_given_j * np.log(p_y_given_j / p_y[None, :])))


def _pool_by_message(candidates: Sequence[str], outputs: Sequence[Sequence[str]]) -> list[list[str]]:
    pooled: dict[str, list[str]] = {}
    for m, ys in zip(candidates, outputs, strict=True):
        pooled.setdefault(canonical_output(m), []).extend(ys)
    return list(pooled.values())


def upstream_entropy(candidates: Sequence[str]) -> float:
    """Plug-in entropy ``H(M | h)`` in nats of the canonical upstream messages sampled at one context."""
    counts = np.asarray(list(Counter(canonical_output(m) for m in candidates).values()), dtype=np.float64)
    if counts.sum() == 0:
        return 0.0
    p = counts / counts.sum()
    return float(-(p * np.log(p)).sum())


def influence(
    buckets_outputs: Sequence[Sequence[Sequence[str]]],
    *,
    candidates: Sequence[Sequence[str]] | None = None,
    max_vocab: int = 64,
    alpha: float = 1.0,
) -> float:
    """Mean CMI (nats) over buckets. Outputs are canonicalised and mapped to the global
    top-``max_vocab`` vocabulary + OTHER, as in C3's analysis; with ``candidates`` (the upstream
    messages of each bucket, aligned with its outputs) identical messages are pooled into one value of M."""
    canon = [[[canonical_output(y) for y in ys] for ys in bucket] for bucket in buckets_outputs]
    if candidates is not None:
        canon = [_pool_by_message(c, b) for c, b in zip(candidates, canon, strict=True)]
    freq = Counter(y for bucket in canon for ys in bucket for y in ys)
    vocab = [y for y, _ in freq.most_common(max_vocab)]
    values = [conditional_mutual_information(b, vocabulary=vocab, alpha=alpha) for b in canon if len(b) >= 1]
    return float(np.mean(values)) if values else float("nan")


def influence_report(buckets: Sequence[ReplayBucket], *, max_vocab: int = 64, alpha: float = 1.0) -> dict[str, float]:
    """``{"cmi_nats", "upstream_entropy_nats", "cmi_over_h"}`` over the buckets that recorded
    downstream outputs (``nan`` when none did; ``cmi_over_h`` is ``nan`` when H is 0)."""
    used = [b for b in buckets if b.downstream_outputs and any(b.downstream_outputs)]
    if not used:
        return {"cmi_nats": float("nan"), "upstream_entropy_nats": float("nan"), "cmi_over_h": float("nan")}
    cmi = influence([b.downstream_outputs for b in used], candidates=[b.candidates for b in used],
                    max_vocab=max_vocab, alpha=alpha)
    h = float(np.mean([upstream_entropy(b.candidates) for b in used]))
    return {"cmi_nats": cmi, "upstream_entropy_nats": h, "cmi_over_h": cmi / h if h > 0 else float("nan")}


def credit_diagnostics(buckets: Sequence[ReplayBucket], *, seed: int = 0) -> dict[str, float]:
    """Fidelity (both variants) and within-group variance of the logged credits on ``buckets``, a
    random credit's fidelity on the same targets (``null_fidelity``: the noise floor), and the
    influence report (:func:`influence_report`)."""
    targets = [b.target() for b in buckets]
    credits = [np.asarray(b.credits, dtype=np.float64) for b in buckets]
    rng = np.random.default_rng(seed)
    null = [rng.standard_normal(len(c)) for c in credits]
    return {
        "buckets": float(len(buckets)),
        "fidelity": credit_fidelity(credits, targets),
        "fidelity_real_only": credit_fidelity(credits, targets, variant="real_only"),
        "within_group_variance": within_group_variance(credits),
        "null_fidelity": credit_fidelity(null, targets) if buckets else float("nan"),
        **influence_report(buckets),
    }


def leak_rate(batch: Any, roles: Sequence[str]) -> float | None:
    """Share of joint messages of ``roles`` (upstream roles, e.g. the thinker) that already contain a
    final answer (``\\boxed{``, ``<answer>`` or "the answer is"): CCPO's unpenalised leakage (P16).
    ``None`` when there is no such message."""
    texts = [d.text.lower() for d in batch.decisions if d.kind == "joint" and d.role in roles]
    if not texts:
        return None
    return float(np.mean([("\\boxed{" in t) or ("<answer>" in t) or ("the answer is" in t) for t in texts]))


def summarize(diag: Mapping[str, float]) -> dict[str, Any]:
    """``{"diag/<metric>": v}`` for JSONL logs (``nan`` becomes ``None``)."""
    return {f"diag/{k}": (None if isinstance(v, float) and math.isnan(v) else v) for k, v in diag.items()}
