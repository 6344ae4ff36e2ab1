"""Credit diagnostics: worked examples E7-E9, the P9 degeneracy, a random credit scoring ~0, the credit log."""

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
    influence_report,
    upstream_entropy,
    within_group_variance,
)
from algorithms.estimators.functional import loo_mean, spearman


def test_e7_within_group_variance():
    assert within_group_variance([[-0.135, 0.12, 0.015]]) == pytest.approx(0.01095, abs=1e-5)
    assert within_group_variance([[1, 1], [0, 2]]) == pytest.approx(0.5)


def test_e8_same_replays_make_fidelity_degenerate():
    rbar = np.array([0.63, 0.80, 0.73])
    target = rbar - rbar.mean()
    np.testing.assert_allclose(target, [-0.09, 0.08, 0.01], atol=1e-12)
    a = rbar - loo_mean(rbar, np.zeros(3, dtype=int))  # C3's LOO credit from the SAME replays as the target
    bucket = ReplayBucket("t", "h", "actor", ["a", "b", "c"], list(a), [[x] for x in rbar])
    np.testing.assert_allclose(a, 1.5 * target, atol=1e-12)
    assert credit_fidelity([a], [bucket.target()]) == pytest.approx(1.0)


def _cmi_direct(rows, V, alpha=1.0):
    """I(J; Y) from the definition, with loops: rows[j] = category counts of candidate j over V categories."""
    n = [sum(r) for r in rows]
    pj = [x / sum(n) for x in n]
    pyj = [[(r[y] + alpha) / (n[j] + alpha * V) for y in range(V)] for j, r in enumerate(rows)]
    py = [sum(pj[j] * pyj[j][y] for j in range(len(rows))) for y in range(V)]
    return sum(pj[j] * pyj[j][y] * math.log(pyj[j][y] / py[y]) for j in range(len(rows)) for y in range(V))


def test_e9_cmi_always_has_the_other_category():
    """C3's code always adds OTHER: with vocabulary {a, b} there are 3 categories (was 2 unless OTHER occurred)."""
    vocab = ["a", "b"]
    got = conditional_mutual_information([["a"], ["b"]], vocabulary=vocab)
    assert got == pytest.approx(_cmi_direct([[1, 0, 0], [0, 1, 0]], V=3), abs=1e-12)
    assert got == pytest.approx(0.5 * math.log(4 / 3) + 0.25 * math.log(2 / 3), abs=1e-12)  # 0.04247, not 0.05663
    assert conditional_mutual_information([["a"], ["a"]], vocabulary=vocab) == pytest.approx(0.0, abs=1e-12)
    assert conditional_mutual_information([["a", "a"], ["b", "b"]], vocabulary=vocab) == pytest.approx(
        _cmi_direct([[2, 0, 0], [0, 2, 0]], V=3), abs=1e-12)
    # OTHER occurring changes nothing about the number of categories
    assert conditional_mutual_information([["a"], ["zz"]], vocabulary=vocab) == pytest.approx(
        _cmi_direct([[1, 0, 0], [0, 0, 1]], V=3), abs=1e-12)
    # p(j) proportional to samples: an unseen candidate carries no weight
    assert conditional_mutual_information([["a"], []], vocabulary=vocab) == pytest.approx(0.0, abs=1e-12)


def test_influence_canonicalises_pools_identical_messages_and_reports_entropy():
    same = [[["x = 1", "x  =  1"], ["x = 1", " x = 1"]]]  # whitespace-equivalent outputs: one category
    assert influence(same) == pytest.approx(0.0, abs=1e-12)
    two = influence([[["```python\nA```"], ["B"]]])
    assert two > 0
    # two identical upstream messages are one value of M: no information, whatever the outputs
    assert influence([[["A"], ["B"]]], candidates=[["hint", "hint"]]) == pytest.approx(0.0, abs=1e-12)
    assert upstream_entropy(["h1", "h2"]) == pytest.approx(math.log(2))
    assert upstream_entropy(["h", " h "]) == pytest.approx(0.0)
    b = ReplayBucket("t", "h", "thinker", ["p", "q"], [1.0, -1.0], [[1.0], [0.0]], downstream_outputs=[["A"], ["B"]])
    rep = influence_report([b])
    assert rep["upstream_entropy_nats"] == pytest.approx(math.log(2))
    assert rep["cmi_nats"] == pytest.approx(two) and rep["cmi_over_h"] == pytest.approx(two / math.log(2))
    assert rep["cmi_nats"] <= rep["upstream_entropy_nats"]


def synthetic_buckets(n_buckets=300, J=4, M=6, seed=0, credit="loo"):
    """Messages with true success probabilities; the logged credit comes from the training rewards, the
    target from independent replays."""
    rng = np.random.default_rng(seed)
    buckets = []
    for b in range(n_buckets):
        p = rng.uniform(0, 1, size=J)
        train = np.array([(rng.random(M) < p[j]).mean() for j in range(J)])
        c = train - loo_mean(train, np.zeros(J, dtype=int)) if credit == "loo" else rng.standard_normal(J)
        target = [list((rng.random(M) < p[j]).astype(float)) for j in range(J)]
        buckets.append(ReplayBucket(f"t{b}", f"h{b}", "thinker", [f"c{j}" for j in range(J)], list(c), target))
    return buckets


def test_logged_credit_fidelity_is_positive_and_a_random_credit_scores_about_zero():
    diag = credit_diagnostics(synthetic_buckets())
    assert 0.5 < diag["fidelity"] < 0.99  # independent target replays: not degenerate (P9)
    assert abs(diag["null_fidelity"]) < 0.08
    assert abs(credit_diagnostics(synthetic_buckets(credit="random"))["fidelity"]) < 0.08
    assert diag["within_group_variance"] > 0 and math.isnan(diag["cmi_nats"])


def test_fidelity_variants_and_errors():
    with pytest.raises(ValueError):
        credit_fidelity([[1, 2]], [[1]])
    with pytest.raises(ValueError, match="variant"):
        credit_fidelity([[1]], [[1]], variant="nope")
    assert credit_fidelity([[1, 0], [2, 0], [3, 0]], [[1, 9], [2, 9], [3, 9]], variant="real_only") == pytest.approx(1.0)


def test_spearman_ties_and_constants():
    assert spearman([1, 2, 3], [3, 2, 1]) == pytest.approx(-1.0)
    assert spearman([1, 1, 2], [1, 1, 2]) == pytest.approx(1.0)
    assert math.isnan(spearman([1, 1], [0, 1]))


def test_no_table_of_credit_rules_keyed_by_learner_name():
    """One credit path: the diagnostics read the logged credits; no re-derived per-method rules remain."""
    import algorithms.bench.diagnose as bench_diag
    import algorithms.diagnostics as diag

    for name in ("method_credits", "CREDIT_METHODS", "_c3", "_grpo", "_mappo"):
        assert not hasattr(diag, name), name
    import algorithms.bench.credit as credit

    assert not hasattr(credit, "OWN_CREDIT")
    assert "loo_mean" not in bench_diag.__dict__ and "group_mean" not in diag.__dict__


def test_leak_rate_counts_upstream_answers():
    from algorithms.batch import Decision, RolloutBatch
    from algorithms.diagnostics import leak_rate

    rows = [Decision("e", "g", "t", "thinker", "thinker_0", 0, 0.0, text=t) for t in ("so \\boxed{4}", "add 2", "The answer is 4")]
    rows.append(Decision("e", "g", "t", "reasoner", "reasoner_0", 1, 0.0, text="\\boxed{4}"))
    assert leak_rate(RolloutBatch(rows), ["thinker"]) == pytest.approx(2 / 3)
    assert leak_rate(RolloutBatch(rows), ["planner"]) is None
