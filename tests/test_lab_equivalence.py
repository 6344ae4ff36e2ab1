"""The lab's vectorised credit twins equal the project's estimators (``ESTIMATORS``) on random batches (1e-12).

Random batches include ties (binary and 3-valued rewards), all-equal groups (zero std) and continuous values;
CCPO is compared over 30 consecutive iterations with its EMA state carried on both sides.
"""

from __future__ import annotations

import time

import numpy as np
import pytest

from algorithms.bench.lab import credit as tw
from algorithms.estimators import ESTIMATORS, C3Config, CCPOConfig, GRPOConfig, MAPPOConfig

TOL = 1e-12


def _rewards(rng: np.random.Generator, shape: tuple[int, ...], kind: str) -> np.ndarray:
    if kind == "binary":
        return (rng.random(shape) < rng.random()).astype(np.float64)
    if kind == "three":
        return rng.integers(0, 3, size=shape) / 2.0
    return rng.normal(size=shape)


def _scatter(values: np.ndarray, rows: tw.FlatRows, role: int, T: int, K: int, kind: str = "joint") -> np.ndarray:
    out = np.full((T, K), np.nan)
    sel = (rows.role == role) & (rows.kind == kind)
    out[rows.t[sel], rows.k[sel]] = values[sel]
    return out


@pytest.mark.parametrize("cfg", [GRPOConfig(), GRPOConfig(baseline="loo"), GRPOConfig(std_ddof=1, std_eps=1e-6,
                                                                                   eps_inside_sqrt=False)])
@pytest.mark.parametrize("kind", ["binary", "three", "normal"])
def test_grpo_twin_equals_estimator(cfg: GRPOConfig, kind: str) -> None:
    rng = np.random.default_rng(1)
    S, T, K = 5, 8, 8
    R = _rewards(rng, (S, T, K), kind)
    R[0, 0] = 1.0  # an all-equal group
    adv, raw = tw.grpo_credits(R, cfg)
    for s in range(S):
        batch, rows = tw.flat_batch(R[s])
        out = ESTIMATORS["grpo"](batch, cfg, {})
        for role in (0, 1):
            np.testing.assert_allclose(_scatter(out.advantages, rows, role, T, K), adv[s], atol=TOL, rtol=0)
            np.testing.assert_allclose(_scatter(out.raw, rows, role, T, K), raw[s], atol=TOL, rtol=0)
        assert out.trainable.all()


@pytest.mark.parametrize("cfg", [MAPPOConfig(), MAPPOConfig(global_normalize=False), MAPPOConfig(gamma=0.9, lam=0.8)])
def test_mappo_twin_equals_estimator(cfg: MAPPOConfig) -> None:
    rng = np.random.default_rng(2)
    S, T, K = 4, 8, 8
    R = _rewards(rng, (S, T, K), "binary")
    VT, VR = rng.random((S, T, K)), rng.random((S, T, K))
    advT, advR, rawT, rawR = tw.mappo_credits(R, VT, VR, cfg)
    for s in range(S):
        batch, rows = tw.flat_batch(R[s], VT=VT[s], VR=VR[s])
        out = ESTIMATORS["mappo"](batch, cfg, {})
        np.testing.assert_allclose(_scatter(out.advantages, rows, 0, T, K), advT[s], atol=TOL, rtol=0)
        np.testing.assert_allclose(_scatter(out.advantages, rows, 1, T, K), advR[s], atol=TOL, rtol=0)
        np.testing.assert_allclose(_scatter(out.raw, rows, 0, T, K), rawT[s], atol=TOL, rtol=0)
        np.testing.assert_allclose(_scatter(out.raw, rows, 1, T, K), rawR[s], atol=TOL, rtol=0)


@pytest.mark.parametrize("cfg", [
    CCPOConfig(alternate_every=0), CCPOConfig(), CCPOConfig(alternate_every=3, alternation="equal"),
    CCPOConfig(alternate_every=0, gated_mode="joint", alpha=2.0, eta=0.5, ema_decay=0.9),
    CCPOConfig(alternate_every=0, reward_mode="shared"), CCPOConfig(alternate_every=0, use_history=False),
])
def test_ccpo_twin_equals_estimator_across_iterations(cfg: CCPOConfig) -> None:
    rng = np.random.default_rng(3)
    S, T, K, iters = 3, 8, 4, 30
    state = tw.ccpo_init_state(S)
    est_states = [{} for _ in range(S)]
    for it in range(iters):
        J = _rewards(rng, (S, T, K), "binary")
        Sv = _rewards(rng, (S, T, K), "binary")
        if it % 7 == 0:
            Sv[:] = J  # no contribution at all (zero-variance delta track)
        advT, advR, rT, rR, active, state = tw.ccpo_credits(J, Sv, state, cfg)
        for s in range(S):
            batch, rows = tw.flat_batch(J[s], solo=Sv[s])
            out = ESTIMATORS["ccpo"](batch, cfg, est_states[s])
            est_states[s] = out.state
            np.testing.assert_allclose(_scatter(out.advantages, rows, 0, T, K), advT[s], atol=TOL, rtol=0)
            np.testing.assert_allclose(_scatter(out.advantages, rows, 1, T, K), advR[s], atol=TOL, rtol=0)
            np.testing.assert_allclose(_scatter(out.raw, rows, 0, T, K), rT[s], atol=TOL, rtol=0)
            np.testing.assert_allclose(_scatter(out.raw, rows, 1, T, K), rR[s], atol=TOL, rtol=0)
            for role in (0, 1):
                trained = out.trainable[(rows.role == role) & (rows.kind == "joint")]
                assert trained.all() == active[s, role] and trained.any() == active[s, role]
            assert not out.trainable[rows.kind == "solo"].any()
            mine = tw.ccpo_state_to_estimator(state, s)
            assert mine["step"] == out.state["step"]
            hist = out.state.get("history", {})
            for key in ("n_updates", "n_seen"):
                assert mine["history"].get(key) == hist.get(key)
            for track in tw.TRACKS:
                if track in hist:
                    for q in ("mean", "m2"):
                        assert abs(mine["history"][track][q] - hist[track][q]) < TOL


@pytest.mark.parametrize("cfg", [C3Config(), C3Config(baseline="mean"), C3Config(std_normalize=False),
                                 C3Config(baseline="mean", std_normalize=False)])
@pytest.mark.parametrize("shape", [(2, 4), (4, 2), (1, 8)])
def test_c3_twin_equals_estimator(cfg: C3Config, shape: tuple[int, int]) -> None:
    rng = np.random.default_rng(4)
    S, T = 4, 8
    L = _rewards(rng, (S, T) + shape, "binary")
    advT, advR, rawT, rawR = tw.c3_credits(L, cfg)
    for s in range(S):
        batch, where = tw.tree_batch(L[s])
        out = ESTIMATORS["c3"](batch, cfg, {})
        for row, (t, i, j) in enumerate(where):
            mine_a = advT[s, t, i] if j is None else advR[s, t, i, j]
            mine_r = rawT[s, t, i] if j is None else rawR[s, t, i, j]
            assert abs(out.advantages[row] - mine_a) < TOL
            assert abs(out.raw[row] - mine_r) < TOL
        assert out.trainable.all()


def test_estimator_calls_are_too_slow_for_the_lab_loop() -> None:
    """Records why twins exist: one ESTIMATORS call per seed-iteration (here GRPO on 8 tasks × 8 episodes)."""
    rng = np.random.default_rng(5)
    R = _rewards(rng, (8, 8), "binary")
    t0 = time.perf_counter()
    n = 20
    for _ in range(n):
        batch, _ = tw.flat_batch(R)
        ESTIMATORS["grpo"](batch, GRPOConfig(), {})
    per_call = (time.perf_counter() - t0) / n
    t0 = time.perf_counter()
    Rs = _rewards(rng, (64, 8, 8), "binary")
    for _ in range(n):
        tw.grpo_credits(Rs)
    per_iter = (time.perf_counter() - t0) / n
    # 64 seeds: the estimator path costs 64 calls per iteration, the twin one vectorised call
    assert 64 * per_call > per_iter
