"""Method-agnostic credit diagnostics (algorithms.md section 8), computed from replays at frozen contexts.

A *bucket* is one frozen context ``h`` (a task plus the upstream messages) at which ``J`` candidate
messages of the target role were sampled; each candidate was continued by fresh downstream replays
to the evaluator. Every bucket holds TWO independent sets of replays per candidate:

- ``credit_rewards[j]``: the replays a method's credit is computed from (as in training);
- ``target_rewards[j]``: independent replays that estimate the Monte-Carlo marginal value
  ``Delta*_j = Rbar'_j - Vhat'(h)``, where ``Vhat'(h)`` is the mean reward of extra candidates
  sampled independently at ``h`` (``extra_rewards``), or, without them, the mean of ``Rbar'``.

Using the same replays for both makes C3's LOO credit an exact positive multiple of the target
inside every bucket, so the pooled Spearman is 1 by construction (pitfall P9, worked example E8);
independent replays remove that degeneracy, and a random credit scores about 0.

Metrics:

- credit fidelity: Spearman(credit, Delta*) pooled over buckets (``variant="all_candidates"``) or
  over the first ("real") candidate of each bucket only (``"real_only"``);
- within-group credit variance: population variance (ddof 0) of the credit across a bucket's
  candidates, averaged over buckets (E7);
- inter-agent influence: conditional mutual information ``I(J; Y | h)`` in nats between the
  upstream candidate index ``J`` and the downstream agent's canonicalised output ``Y``, Laplace
  smoothed (alpha = 1), ``p(j)`` proportional to samples, averaged over buckets (E9).
"""

from __future__ import annotations

import hashlib
import math
import re
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from llm_marl_envs.registry import Registry

from .estimators.functional import group_mean, loo_mean, spearman


@dataclass
class ReplayBucket:
    """Replays of ``J`` candidate messages at one frozen context (see the module docstring)."""

    task_id: str
    context: str
    role: str
    candidates: list[str]
    credit_rewards: list[list[float]]
    target_rewards: list[list[float]]
    downstream_outputs: list[list[str]] = field(default_factory=list)
    extra_rewards: list[float] = field(default_factory=list)
    """Rewards of extra candidates sampled independently at ``h`` (the target's baseline V-hat)."""
    value: float | None = None
    """A critic's V(h) for this context (MAPPO's credit), when one was computed."""

    def credit_means(self) -> np.ndarray:
        """``Rbar_j`` from the credit replays ``[J]``."""
        return np.asarray([np.mean(r) if len(r) else np.nan for r in self.credit_rewards], dtype=np.float64)

    def target(self) -> np.ndarray:
        """``Delta*_j = Rbar'_j - Vhat'(h)`` from the independent target replays ``[J]``."""
        means = np.asarray([np.mean(r) for r in self.target_rewards], dtype=np.float64)
        baseline = float(np.mean(self.extra_rewards)) if len(self.extra_rewards) else float(means.mean())
        return means - baseline


# -------------------------------------------------------------------------- credits per method
def _c3(b: ReplayBucket, rng: np.random.Generator) -> np.ndarray:
    r = b.credit_means()
    return r - loo_mean(r, np.zeros(len(r), dtype=int))  # the C3 estimator's own LOO rule


def _grpo(b: ReplayBucket, rng: np.random.Generator) -> np.ndarray:
    r = b.credit_means()
    return r - group_mean(r, np.zeros(len(r), dtype=int))


def _mappo(b: ReplayBucket, rng: np.random.Generator) -> np.ndarray:
    if b.value is None:
        raise ValueError("mappo credit needs a critic value per bucket (ReplayBucket.value)")
    return b.credit_means() - b.value


def _random(b: ReplayBucket, rng: np.random.Generator) -> np.ndarray:
    return rng.standard_normal(len(b.candidates))


CreditMethod = Callable[[ReplayBucket, np.random.Generator], np.ndarray]
CREDIT_METHODS: Registry[CreditMethod] = Registry("credit method")
for _name, _fn in (("c3", _c3), ("grpo", _grpo), ("mappo", _mappo), ("random", _random)):
    CREDIT_METHODS.register(_name, _fn)
"""How each method turns a bucket's credit replays into one credit per candidate (C3: LOO;
GRPO/MAGRPO: minus the bucket mean; MAPPO: minus the critic's V(h); random: a null reference)."""


def method_credits(method: str, buckets: Sequence[ReplayBucket], *, seed: int = 0) -> list[np.ndarray]:
    """Credits ``[J]`` per bucket under ``method`` (a key of :data:`CREDIT_METHODS`)."""
    fn = CREDIT_METHODS.get(method)
    rng = np.random.default_rng(seed)
    return [fn(b, rng) for b in buckets]


# -------------------------------------------------------------------------- the three metrics
def credit_fidelity(
    credits: Sequence[Sequence[float]], targets: Sequence[Sequence[float]], *, variant: str = "all_candidates"
) -> float:
    """Spearman correlation between credits and marginal-value targets pooled across buckets.

    ``variant="real_only"`` keeps candidate 0 of each bucket (the logged action), as the C3 paper's
    default analysis; ``"all_candidates"`` keeps every candidate.
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
    """Canonical key of a downstream output: fences stripped, whitespace collapsed, SHA-1 (16 hex)."""
    text = re.sub(r"```[a-zA-Z0-9_+-]*", "", text)
    text = " ".join(text.split())
    return hashlib.sha1(text.encode("utf-8", "surrogatepass")).hexdigest()[:16]


def conditional_mutual_information(
    outputs_by_candidate: Sequence[Sequence[str]], *, vocabulary: Sequence[str], alpha: float = 1.0
) -> float:
    """``I(J; Y | h)`` in nats for one bucket.

    ``outputs_by_candidate[j]`` are the (already canonical) downstream outputs observed after
    candidate ``j``; outputs outside ``vocabulary`` count as one extra ``OTHER`` category when any
    occurs. ``p(y|j)`` is Laplace-smoothed with ``alpha`` over the categories; ``p(j)`` is proportional
    to the number of samples of ``j``.
    """
    vocab = list(dict.fromkeys(vocabulary))
    index = {y: i for i, y in enumerate(vocab)}
    needs_other = any(y not in index for ys in outputs_by_candidate for y in ys)
    V = len(vocab) + (1 if needs_other else 0)
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


def influence(buckets_outputs: Sequence[Sequence[Sequence[str]]], *, max_vocab: int = 64, alpha: float = 1.0) -> float:
    """Mean CMI over buckets; outputs are canonicalised and mapped to the global top-``max_vocab``
    vocabulary (+ OTHER), as in C3's analysis."""
    canon = [[[canonical_output(y) for y in ys] for ys in bucket] for bucket in buckets_outputs]
    freq = Counter(y for bucket in canon for ys in bucket for y in ys)
    vocab = [y for y, _ in freq.most_common(max_vocab)]
    values = [conditional_mutual_information(b, vocabulary=vocab, alpha=alpha) for b in canon if len(b) > 1]
    return float(np.mean(values)) if values else float("nan")


def credit_diagnostics(
    buckets: Sequence[ReplayBucket], methods: Sequence[str] = ("c3", "grpo", "random"), *, seed: int = 0
) -> dict[str, dict[str, float]]:
    """Fidelity (both variants) and within-group variance of each method's credit on ``buckets``.

    Returns ``{method: {"fidelity", "fidelity_real_only", "within_group_variance"}}``, plus an
    ``"influence"`` entry (CMI, nats) when the buckets recorded downstream outputs.
    """
    targets = [b.target() for b in buckets]
    out: dict[str, dict[str, float]] = {}
    for method in methods:
        credits = method_credits(method, buckets, seed=seed)
        out[method] = {
            "fidelity": credit_fidelity(credits, targets),
            "fidelity_real_only": credit_fidelity(credits, targets, variant="real_only"),
            "within_group_variance": within_group_variance(credits),
        }
    if any(b.downstream_outputs for b in buckets):
        out["influence"] = {"cmi_nats": influence([b.downstream_outputs for b in buckets if b.downstream_outputs])}
    return out


def collect_replay_buckets(
    runner: Any,
    tasks: Sequence[Any],
    *,
    role_index: int = 0,
    n_candidates: int = 4,
    n_credit_replays: int = 2,
    n_target_replays: int = 2,
    n_extra: int = 4,
    seed: int = 0,
    critic: Any = None,
) -> list[ReplayBucket]:
    """Build one :class:`ReplayBucket` per task by replaying at a frozen context.

    The context of the ``role_index``-th decision is frozen: for ``role_index > 0`` its upstream
    messages come from one greedy episode (as in C3's analysis). Then a rollout tree with fan-out
    ``[n_candidates + n_extra, n_credit_replays + n_target_replays, 1, ...]`` is grown from that
    prefix: the first ``n_candidates`` children are the candidates; each candidate's first
    ``n_credit_replays`` continuations feed the credit and the others the target; the ``n_extra``
    further children give the target's independent baseline. For the last decision of an episode
    the continuations are the candidate itself (one leaf), so ``n_credit_replays`` and
    ``n_target_replays`` are not used. Downstream outputs (the next decision's messages in the
    credit replays) are recorded for the influence metric. ``critic`` (a state-value
    :class:`~algorithms.critic.TextCritic`) fills ``ReplayBucket.value`` for MAPPO's credit.
    """
    from .plans import restart_counters

    buckets = []
    info = getattr(runner, "plan_env_info", None)
    decisions = info.decisions if info is not None else role_index + 2
    last = role_index >= decisions - 1
    replays = 1 if last else n_credit_replays + n_target_replays
    fanout = [n_candidates + n_extra, replays] if not last else [n_candidates + n_extra]
    prefixes: list[list[Any]] = []
    for j, task in enumerate(tasks):
        prefix: list[Any] = []
        restart_counters(runner)
        if role_index > 0:
            saved = dict(runner.params)
            try:
                runner.params = {r: p.with_(temperature=0.0, seed=None) for r, p in saved.items()}
                (episode,) = runner.run_episodes([task], n_per_task=1, seed=seed + j)
            finally:
                runner.params = saved
            prefix = episode.messages[:role_index]
        prefixes.append(prefix)
    restart_counters(runner)
    if hasattr(runner, "run_trees"):
        trees = runner.run_trees(list(tasks), fanout=fanout, prefixes=prefixes, seed=seed)
    else:
        trees = [runner.run_tree(t, fanout=fanout, prefix=p, seed=seed + 7919 * j)
                 for j, (t, p) in enumerate(zip(tasks, prefixes, strict=True))]
    for task, tree in zip(tasks, trees, strict=True):
        kids = tree.children("root")
        cands, extra = kids[:n_candidates], kids[n_candidates:]
        credit, target, downstream = [], [], []
        for c in cands:
            if last:
                credit.append([float(c.reward or 0.0)])
                target.append([float(c.reward or 0.0)])
                continue
            conts = tree.children(c.node_id)
            leaf_values = [_subtree_value(tree, k.node_id) for k in conts]
            credit.append(leaf_values[:n_credit_replays])
            target.append(leaf_values[n_credit_replays:])
            downstream.append([k.message.content for k in conts[:n_credit_replays] if k.message is not None])
        value = None
        if critic is not None and cands and cands[0].message is not None and cands[0].message.generation is not None:
            import torch

            with torch.no_grad():
                value = float(critic.forward([cands[0].message.generation.prompt_token_ids]).item())
        buckets.append(ReplayBucket(
            task_id=task.id, context=cands[0].message.context if cands and cands[0].message else "",
            role=cands[0].message.role if cands and cands[0].message else "",
            candidates=[c.message.content if c.message else "" for c in cands],
            credit_rewards=credit, target_rewards=target, downstream_outputs=downstream,
            extra_rewards=[_subtree_value(tree, e.node_id) for e in extra], value=value,
        ))
    return buckets


def _subtree_value(tree: Any, node_id: str) -> float:
    return float(tree.nodes[node_id].value)


def leak_rate(batch: Any, roles: Sequence[str]) -> float | None:
    """Share of joint messages of ``roles`` (upstream roles, e.g. the thinker) that already contain a
    final answer (``\\boxed{``, ``<answer>`` or "the answer is"): CCPO's unpenalised leakage (P16).
    ``None`` when there is no such message."""
    texts = [d.text.lower() for d in batch.decisions if d.kind == "joint" and d.role in roles]
    if not texts:
        return None
    return float(np.mean([("\\boxed{" in t) or ("<answer>" in t) or ("the answer is" in t) for t in texts]))


def summarize(diag: Mapping[str, Mapping[str, float]]) -> dict[str, Any]:
    """Flatten ``{method: {metric: v}}`` into ``{"diag/<method>/<metric>": v}`` for JSONL logs."""
    return {f"diag/{m}/{k}": (None if isinstance(v, float) and math.isnan(v) else v) for m, d in diag.items() for k, v in d.items()}
