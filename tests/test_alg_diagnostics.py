"""Credit diagnostics: worked examples E7-E9, the P9 degeneracy, and a random credit scoring ~0."""

from __future__ import annotations

import math

import numpy as np
import pytest

from algorithms.diagnostics import (
    ReplayBucket,
    conditional_mutual_information,
    credit_diagnostics,
    credit_fidelity,
    influence,
    method_credits,
    within_group_variance,
)
from algorithms.estimators.functional import spearman


def test_e7_within_group_variance():
    assert within_group_variance([[-0.135, 0.12, 0.015]]) == pytest.approx(0.01095, abs=1e-5)
    assert within_group_variance([[1, 1], [0, 2]]) == pytest.approx(0.5)


def test_e8_same_replays_make_fidelity_degenerate():
    rbar = np.array([0.63, 0.80, 0.73])
    target = rbar - rbar.mean()
    np.testing.assert_allclose(target, [-0.09, 0.08, 0.01], atol=1e-12)
    bucket = ReplayBucket("t", "h", "actor", ["a", "b", "c"], [[x] for x in rbar], [[x] for x in rbar])
    (a,) = method_credits("c3", [bucket])
    np.testing.assert_allclose(a, 1.5 * target, atol=1e-12)
    assert credit_fidelity([a], [bucket.target()]) == pytest.approx(1.0)


def test_e9_conditional_mutual_information():
    vocab = ["a", "b"]
    assert conditional_mutual_information([["a"], ["b"]], vocabulary=vocab) == pytest.approx(0.05663, abs=1e-5)
    assert conditional_mutual_information([["a"], ["a"]], vocabulary=vocab) == pytest.approx(0.0, abs=1e-12)
    assert conditional_mutual_information([["a", "a"], ["b", "b"]], vocabulary=vocab) == pytest.approx(0.13081, abs=1e-5)
    # p(j) proportional to samples: an unseen candidate carries no weight
    assert conditional_mutual_information([["a"], []], vocabulary=vocab) == pytest.approx(0.0, abs=1e-12)


def test_influence_canonicalises_and_averages():
    same = [[["x = 1", "x  =  1"], ["x = 1"]]]  # whitespace-equivalent outputs: one category
    assert influence(same) == pytest.approx(0.0, abs=1e-12)
    assert influence([[["```python\nA```"], ["B"]]]) == pytest.approx(0.05663, abs=1e-5)


def synthetic_buckets(n_buckets=300, J=4, M=6, seed=0):
    """Candidates with true success probabilities; credit and target replays drawn independently."""
    rng = np.random.default_rng(seed)
    buckets = []
    for b in range(n_buckets):
        p = rng.uniform(0, 1, size=J)
        credit = [list((rng.random(M) < p[j]).astype(float)) for j in range(J)]
        target = [list((rng.random(M) < p[j]).astype(float)) for j in range(J)]
        buckets.append(ReplayBucket(f"t{b}", f"h{b}", "actor", [f"c{j}" for j in range(J)], credit, target,
                                    value=float(p.mean())))
    return buckets


def test_random_credit_scores_about_zero_and_c3_scores_positive():
    diag = credit_diagnostics(synthetic_buckets(), methods=("c3", "grpo", "mappo", "random"))
    assert abs(diag["random"]["fidelity"]) < 0.08
    assert diag["c3"]["fidelity"] > 0.5
    assert diag["c3"]["fidelity"] < 0.99  # independent target replays: not degenerate (P9)
    assert diag["grpo"]["fidelity"] == pytest.approx(diag["c3"]["fidelity"], abs=0.01)  # same ranking inside buckets
    # LOO scales the mean-centred credit by J/(J-1): variance by (J/(J-1))^2
    ratio = diag["c3"]["within_group_variance"] / diag["grpo"]["within_group_variance"]
    assert ratio == pytest.approx((4 / 3) ** 2)
    assert math.isfinite(diag["mappo"]["fidelity"])


def test_fidelity_variants_and_errors():
    with pytest.raises(ValueError):
        credit_fidelity([[1, 2]], [[1]])
    with pytest.raises(KeyError, match="registered"):
        method_credits("nope", [])
    assert credit_fidelity([[1, 0], [2, 0], [3, 0]], [[1, 9], [2, 9], [3, 9]], variant="real_only") == pytest.approx(1.0)


def test_spearman_ties_and_constants():
    assert spearman([1, 2, 3], [3, 2, 1]) == pytest.approx(-1.0)
    assert spearman([1, 1, 2], [1, 1, 2]) == pytest.approx(1.0)
    assert math.isnan(spearman([1, 1], [0, 1]))


def test_collect_replay_buckets_with_the_real_runner():
    import random

    from agents.scripted import ScriptedPolicy
    from algorithms.diagnostics import collect_replay_buckets
    from algorithms.plans import make_runner
    from llm_marl_envs.policy import SamplingParams
    from llm_marl_envs.tasks import load_tasks

    tasks = list(load_tasks("arith", difficulty=1)[:4])

    class Coin(ScriptedPolicy):
        """Thinker: a random hint; reasoner: the gold answer only after a hint 'good'."""

        def __init__(self):
            super().__init__()
            self.rng = random.Random(0)

        def respond(self, conversation, index, sample, params):
            user = conversation[-1]["content"]
            task = next(t for t in tasks if t.prompt in user)
            if "thinker" in conversation[0]["content"].lower() and "good" not in user and "bad" not in user:
                return self.rng.choice(["good", "bad"])
            return f"\\boxed{{{task.answer}}}" if ("good" in user and self.rng.random() < 0.9) else "\\boxed{-1}"

    runner = make_runner("llm-marl/MathDyad-v0", Coin(), SamplingParams(max_tokens=50), {"prompt_style": "compact"})
    buckets = collect_replay_buckets(runner, tasks, role_index=0, n_candidates=4, n_credit_replays=2,
                                     n_target_replays=3, n_extra=2)
    assert len(buckets) == 4
    for b in buckets:
        assert len(b.candidates) == 4 and b.role == "thinker"
        assert all(len(r) == 2 for r in b.credit_rewards) and all(len(r) == 3 for r in b.target_rewards)
        assert len(b.extra_rewards) == 2 and len(b.downstream_outputs) == 4
        for cand, rewards in zip(b.candidates, b.credit_rewards, strict=True):
            if cand == "bad":
                assert rewards == [0.0, 0.0]  # the reasoner only succeeds after a good hint
    assert {c for b in buckets for c in b.candidates} == {"good", "bad"}
    diag = credit_diagnostics(buckets, methods=("c3", "grpo", "random"))
    assert diag["c3"]["fidelity"] > 0.3 and "influence" in diag
    last = collect_replay_buckets(runner, tasks[:2], role_index=1, n_candidates=3, n_extra=2)
    assert all(b.role == "reasoner" and len(b.credit_rewards) == 3 for b in last)


def test_leak_rate_counts_upstream_answers():
    from algorithms.batch import Decision, RolloutBatch
    from algorithms.diagnostics import leak_rate

    rows = [Decision("e", "g", "t", "thinker", "thinker_0", 0, 0.0, text=t) for t in ("so \\boxed{4}", "add 2", "The answer is 4")]
    rows.append(Decision("e", "g", "t", "reasoner", "reasoner_0", 1, 0.0, text="\\boxed{4}"))
    assert leak_rate(RolloutBatch(rows), ["thinker"]) == pytest.approx(2 / 3)
    assert leak_rate(RolloutBatch(rows), ["planner"]) is None
