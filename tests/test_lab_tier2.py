"""Tier 2 of the credit lab: exact J by enumeration, learners through the project's RolloutBatch, ESTIMATORS, LOSSES."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
import torch

from algorithms.bench.lab import tier2 as t2
from algorithms.bench.lab import tier2_policy as pol
from algorithms.estimators import ESTIMATORS, EstimatorSpec
from algorithms.losses import LOSSES, LossConfig

EASY = pol.Tier2Knobs(L=2, p_think=0.5, p_null=0.1, p_fill=0.1, follow=2.0)


@pytest.fixture(autouse=True)
def _one_thread():
    """Tier 2's tensors are tiny: one torch thread (as the lab CLI runs it); restored after each test."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def _perturbed(knobs: pol.Tier2Knobs, S: int, scale: float = 0.7, seed: int = 0) -> dict[str, torch.Tensor]:
    params = pol.init_params(knobs, S)
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for v in params.values():
            v.add_(torch.randn(v.shape, generator=gen, dtype=v.dtype) * scale)
    return params


@pytest.mark.parametrize("shared", [False, True])
@pytest.mark.parametrize("L", [1, 2, 3])
def test_hint_distribution_equals_enumeration(L: int, shared: bool) -> None:
    knobs = pol.Tier2Knobs(L=L, shared=shared)
    params = _perturbed(knobs, 3)
    fast = pol.hint_distribution(params, np.arange(100), L)
    full = pol.hint_distribution_enumerated(params, np.arange(100), L)
    assert torch.allclose(fast, full, atol=1e-13, rtol=0)
    assert torch.allclose(full.sum(-1), torch.ones(3, 100, dtype=full.dtype), atol=1e-12)


@pytest.mark.parametrize("knobs", [pol.Tier2Knobs(L=2, eps=0.1), pol.Tier2Knobs(L=3, shared=True)])
def test_exact_J_equals_bruteforce_loop(knobs: pol.Tier2Knobs) -> None:
    world = pol.make_world(knobs)
    params = _perturbed(knobs, 2, seed=3)
    tasks = world.held[:2] if knobs.L == 3 else world.held[:6]
    J = pol.exact_J(world, params, tasks)
    for s in range(2 if knobs.L < 3 else 1):
        assert abs(J[s] - pol.exact_J_bruteforce(world, params, tasks, seed=s)) < 1e-12


def test_decode_and_mask() -> None:
    F, E = pol.FILLER, pol.EOS
    m = torch.tensor([[F, 3, 7], [E, 4, 4], [F, F, F], [5, E, E], [F, E, 2]])
    assert pol.decode(m).tolist() == [3, pol.NULL_HINT, pol.NULL_HINT, 5, pol.NULL_HINT]
    assert pol.message_mask(m).sum(-1).tolist() == [3, 1, 3, 2, 2]


def test_sampled_messages_follow_the_policy() -> None:
    """The sampler draws from the same distribution the exact J enumerates (a chi-square-sized check)."""
    knobs = pol.Tier2Knobs(L=3)
    params = _perturbed(knobs, 1, seed=5)
    n = 20000
    ab = torch.full((1, n), 37)
    u = torch.as_tensor(np.random.default_rng(0).random((1, n, 3)))
    freq = torch.bincount(pol.decode(pol.sample_messages(params, ab, u))[0], minlength=pol.N_HINTS) / n
    exact = pol.hint_distribution(params, np.array([37]), 3)[0, 0]
    assert (freq - exact).abs().max() < 4 * float(np.sqrt(0.25 / n))


@pytest.mark.parametrize("name", t2.TIER2_LEARNERS)
def test_lr_zero_leaves_J_unchanged(name: str) -> None:
    world = pol.make_world(EASY)
    res = t2.run_learner(world, t2.tier2_learners()[name], 2, 4, lr=0.0)
    assert np.array_equal(res.J, np.repeat(res.J[:, :1], res.J.shape[1], axis=1))
    assert res.calls[0] == 0 and res.calls[-1] == 4 * 8 * 8


@pytest.mark.parametrize("name", t2.TIER2_LEARNERS)
def test_each_learner_improves_J_on_an_easy_regime(name: str) -> None:
    world = pol.make_world(EASY)
    res = t2.run_learner(world, t2.tier2_learners()[name], 3, 40)
    gain = res.J[:, -1] - res.J[:, 0]
    assert gain.mean() > 0.05, f"{name}: J gain per seed {gain}"


def test_learners_use_registered_configs_and_tier1_ccpo() -> None:
    from algorithms.bench.lab.learners import CCPO_LAB
    from algorithms.learners import LEARNERS

    table = t2.tier2_learners()
    assert t2.CCPO_TIER == CCPO_LAB
    for name in ("grpo", "mappo", "c3"):
        spec = LEARNERS.get(name)
        assert table[name].estimator == spec.estimator
        assert table[name].config == ESTIMATORS.get(spec.estimator).make_config(spec.estimator_kwargs)
    assert table["grpo_seq"].loss == "ppo_sequence" and table["grpo"].loss == "ppo_token"


def _one_iteration(plan: str, S: int = 3):
    world = pol.make_world(pol.Tier2Knobs(L=3, eps=0.1))
    params = _perturbed(world.knobs, S, seed=1)
    xs, Us = t2.schedule(world, S, 1)
    ro = t2.rollout(world, params, plan, xs[0], Us[0])
    return world, params, ro


@pytest.mark.parametrize("plan", ["flat", "ccpo", "tree"])
def test_batch_rows_are_real_rollouts(plan: str) -> None:
    world, params, ro = _one_iteration(plan)
    S, T, KT, L = ro.tokens.shape
    ab = torch.as_tensor(world.ab[ro.x], dtype=torch.long)[:, :, None].expand(S, T, KT).reshape(S, -1)
    lpT = pol.thinker_logp(params, ab, ro.tokens.reshape(S, -1, L)).detach().reshape(S, T, KT, L).numpy()
    lpR = np.zeros(ro.R.shape)
    batch, rm = t2.build_batch(ro, 0, plan, lpT[0], lpR[0])
    assert batch.evaluator_calls == T * 8  # the matched budget: 8 calls per task
    for d, r, t, k in zip(batch.decisions, rm.role, rm.t, rm.k, strict=True):
        if r == 0:
            toks = ro.tokens[0, t, k].tolist()
            n = int(pol.message_mask(ro.tokens[0, t, k]).sum())
            assert d.token_ids == toks[:n] and len(d.logprobs) == n
            assert d.context == f"hint-{int(ro.x[0, t])}|thinker"
        else:
            assert d.token_ids == [int(ro.ans[0, t, k])]
    if plan == "tree":  # C3's own check of byte-identical sibling contexts runs (check_contexts=True)
        cred = ESTIMATORS["c3"](batch)
        assert cred.trainable.all()
        th = rm.role == 0
        np.testing.assert_allclose(batch.rewards()[th], ro.R[0].reshape(T, 2, 4).mean(-1).ravel())
    if plan == "ccpo":
        joint = batch.column("kind") == "joint"
        cf = batch.column("counterfactual_reward", dtype=float)[joint & (rm.role == 0)]
        np.testing.assert_array_equal(cf, ro.R[0][:, 4:].ravel())
        assert (rm.role[~joint] == 1).all() and (ro.hintR[0][:, 4:] == pol.NULL_HINT).all()


@pytest.mark.parametrize("name", ["grpo", "c3"])
def test_one_call_over_seeds_equals_per_seed_calls(name: str) -> None:
    learner = t2.tier2_learners()[name]
    world, params, ro = _one_iteration(learner.plan)
    z = np.zeros(ro.tokens.shape[:3] + (3,))
    batches = [t2.build_batch(ro, s, learner.plan, z[s], np.zeros(ro.R.shape[1:]), prefix=f"s{s}/")[0]
               for s in range(3)]
    merged = t2.seed_credits(name, learner.config, batches, [{}] * 3)
    for b, m in zip(batches, merged, strict=True):
        alone = ESTIMATORS[name](b, learner.config, {})
        np.testing.assert_array_equal(m.advantages, alone.advantages)
        np.testing.assert_array_equal(m.trainable, alone.trainable)


def test_merged_sequence_loss_equals_per_seed_sum() -> None:
    gen = torch.Generator().manual_seed(0)
    lp = [torch.randn(5, 3, generator=gen, dtype=torch.float64, requires_grad=True) for _ in range(3)]
    adv = [torch.randn(5, generator=gen, dtype=torch.float64) for _ in range(3)]
    mask = [torch.rand(5, 3, generator=gen) > 0.3 for _ in range(3)]
    fn, cfg = LOSSES.get("ppo_sequence"), LossConfig(name="ppo_sequence")
    merged = t2.seed_loss(fn, cfg, lp, adv, mask)
    per_seed = sum(fn(a, a.detach(), b, m, cfg).loss for a, b, m in zip(lp, adv, mask, strict=True))
    assert abs(merged.item() - per_seed.item()) < 1e-12


def test_run_goes_through_the_registered_estimator_and_loss(monkeypatch: pytest.MonkeyPatch) -> None:
    """Spies in the registries see every iteration's batch: there is no private credit rule or loss."""
    seen = {"estimator": 0, "loss": 0, "rows": []}
    spec = ESTIMATORS.get("ccpo")

    def est(batch, config, state):
        seen["estimator"] += 1
        seen["rows"].append(len(batch))
        return spec.fn(batch, config, state)

    monkeypatch.setitem(ESTIMATORS._items, "ccpo", EstimatorSpec("ccpo", est, spec.config_cls, spec.critic))
    real = LOSSES.get("ppo_token")

    def loss(*a, **k):
        seen["loss"] += 1
        return real(*a, **k)

    loss.averages_over = "tokens"
    monkeypatch.setitem(LOSSES._items, "ppo_token", loss)
    t2.run_learner(pol.make_world(EASY), t2.tier2_learners()["ccpo"], 2, 3)
    assert seen["estimator"] == 2 * 3 and seen["loss"] == 2 * 3
    assert set(seen["rows"]) == {8 * (4 * 2 + 4)}  # 4 joint episodes x 2 roles + 4 solo rows per task


def test_run_tier2_layout_and_errors() -> None:
    out = t2.run_tier2(list(t2.TIER2_REGIMES), seeds=2, iterations=2, learners=["grpo", "c3"], log=lambda s: None)
    assert [r["name"] for r in out] == list(t2.TIER2_REGIMES)
    for reg in out:
        assert {"name", "hypothesis", "knobs", "learners", "comparisons"} <= set(reg)
        for lr in reg["learners"].values():
            assert set(lr["curve"]) == {"calls", "mean", "ci95_lo", "ci95_hi"}
            assert lr["curve"]["calls"][0] == 0 and len(lr["curve"]["mean"]) == len(lr["curve"]["calls"])
            assert set(lr["final_J"]) == {"mean", "ci95"} and len(lr["auc"]["ci95"]) == 2
            assert lr["loss"] in ("ppo_token", "ppo_sequence") and lr["trained_messages_per_iter"] > 0
        (cmp,) = reg["comparisons"]
        assert cmp["learner"] == "c3" and cmp["baseline"] == "grpo"
        assert {"diff_final", "diff_auc", "verdict"} <= set(cmp)
    assert set(out[1]["shared_vs_per_role"]) == {"grpo", "c3"}
    table = t2.format_tier2(out)
    assert "| tabular_tokens | c3 | ppo_token | 80 |" in table and "shared − per-role" in table
    assert torch.get_num_threads() == 1  # restored (the fixture set 1)
    torch.set_num_threads(2)
    t2.run_tier2(["tabular_tokens"], seeds=2, iterations=1, learners=["grpo"], log=lambda s: None)
    assert torch.get_num_threads() == 2
    with pytest.raises(ValueError, match="valid: tabular_tokens, shared_weights"):
        t2.run_tier2(["nope"], seeds=2, iterations=1)
    with pytest.raises(ValueError, match="seeds must be >= 2"):
        t2.run_tier2(["tabular_tokens"], seeds=1, iterations=1)
    with pytest.raises(ValueError, match="unknown learner"):
        t2.run_tier2(["tabular_tokens"], seeds=2, iterations=1, learners=["zzz"])


def test_frozen_parameters_do_not_move() -> None:
    knobs = replace(EASY, frozen=("T.W", "T.b"))
    world = pol.make_world(knobs)
    learner = t2.tier2_learners()["grpo"]
    before = pol.init_params(knobs, 2)
    res = t2.run_learner(world, learner, 2, 3)
    assert not np.array_equal(res.J[:, 0], res.J[:, -1])
    assert torch.equal(res.params["T.W"], before["T.W"].detach()) and torch.equal(res.params["T.b"], before["T.b"])
    assert not torch.equal(res.params["R.W"], before["R.W"].detach())
    with pytest.raises(ValueError, match="unknown frozen parameter"):
        replace(EASY, frozen=("W",))  # per-role policies have T.W / R.W, not W


def test_bad_knobs_are_one_line_errors() -> None:
    with pytest.raises(ValueError, match="L must be 1..3"):
        pol.Tier2Knobs(L=4)
    with pytest.raises(ValueError, match="d must be >= 12"):
        pol.Tier2Knobs(d=8)
    with pytest.raises(ValueError, match="sum <= 1"):
        replace(EASY, p_think=0.9)


@pytest.mark.parametrize("plan", ["flat", "ccpo"])
def test_rows_equal_the_runners_from_episodes(plan: str) -> None:
    """The rows build_batch makes are the rows ``RolloutBatch.from_episodes`` makes from the same episodes (as
    the rollout runner would hand them over), and the estimator gives both the same credits."""
    from algorithms.batch import RolloutBatch
    from llm_marl_envs.policy import Generation
    from llm_marl_envs.rollout.data import Episode, MessageRecord
    from llm_marl_envs.tasks.hint import make_task
    from llm_marl_envs.types import Verdict

    world, params, ro = _one_iteration(plan)
    S, T, KT, L = ro.tokens.shape
    rng = np.random.default_rng(0)
    lpT, lpR = -rng.random((T, KT, L)), -rng.random(ro.R.shape[1:])
    mine, _ = t2.build_batch(ro, 0, plan, lpT, lpR)

    def record(role: str, turn: int, context: str, tokens: list[int], lps: list[float]) -> MessageRecord:
        text = t2._text(tokens)
        return MessageRecord(agent=f"{role}_0", role=role, content=text, turn=turn, stage=turn, context=context,
                             generation=Generation(text=text, token_ids=tokens, logprobs=lps))

    joint, solo = [], []
    for t in range(T):
        x = int(ro.x[0, t])
        task = make_task(x, world.knobs.C)
        for n, j in enumerate(np.flatnonzero(~ro.solo)):
            k = int(ro.parent[j])
            n_tok = int(pol.message_mask(ro.tokens[0, t, k]).sum())
            toks = ro.tokens[0, t, k, :n_tok].tolist()
            r = float(ro.R[0, t, j])
            joint.append(Episode(
                episode_id=f"t{t}/e{n}", group_id=f"t{t}", task=task, env_id="lab", reward=r,
                verdict=Verdict(bool(r), r, "ok"), sample_index=n, messages=[
                    record("thinker", 0, f"hint-{x}|thinker", toks, lpT[t, k, :n_tok].tolist()),
                    record("reasoner", 1, f"hint-{x}|reasoner|{t2._text(toks)}", [int(ro.ans[0, t, j])],
                           [float(lpR[t, j])])]))
        for n, j in enumerate(np.flatnonzero(ro.solo)):
            r = float(ro.R[0, t, j])
            solo.append(Episode(
                episode_id=f"t{t}/s{n}", group_id=f"t{t}", task=task, env_id="lab", reward=r,
                verdict=Verdict(bool(r), r, "ok"), sample_index=n, ablated=["thinker_0"], messages=[
                    record("reasoner", 0, f"hint-{x}|reasoner|", [int(ro.ans[0, t, j])], [float(lpR[t, j])])]))
    # the runner's tasks are "hint-<index>"; build_batch names them the same way
    theirs = RolloutBatch.from_episodes(joint, solo)
    cols = ("episode_id", "group_id", "task_id", "role", "agent", "turn", "reward", "context", "token_ids",
            "logprobs", "counterfactual_reward", "kind", "sample_index", "terminal")
    assert len(mine) == len(theirs)
    for a, b in zip(mine.decisions, theirs.decisions, strict=True):
        for c in cols:
            assert getattr(a, c) == getattr(b, c), (c, getattr(a, c), getattr(b, c))
    name = "grpo" if plan == "flat" else "ccpo"
    cfg = t2.tier2_learners()[name].config
    np.testing.assert_array_equal(ESTIMATORS[name](mine, cfg, {}).advantages,
                                  ESTIMATORS[name](theirs, cfg, {}).advantages)
    assert mine.evaluator_calls == theirs.evaluator_calls
