"""Estimators: the worked examples of algorithms.md section 10 as exact tests, plus invariants."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from algorithms.batch import Decision, RolloutBatch
from algorithms.estimators import ESTIMATORS, C3Config, CCPOConfig, GRPOConfig, MAPPOConfig
from algorithms.estimators.functional import (
    generalized_advantage_estimate,
    group_index,
    group_standardize,
    loo_mean,
)


def row(**kw) -> Decision:
    base = dict(episode_id="e0", group_id="g0", task_id="t0", role="actor", agent="actor_0", turn=0, reward=0.0)
    base.update(kw)
    return Decision(**base)


def c3_group(values, *, role="actor", group="g0", context="ctx", q=None) -> list[Decision]:
    return [
        row(episode_id=f"{group}-{i}", group_id=group, role=role, reward=v, context=context,
            value=None if q is None else q[i])
        for i, v in enumerate(values)
    ]


def c3(rows, **cfg):
    spec = ESTIMATORS.get("c3")
    return spec(RolloutBatch(rows), spec.make_config(cfg))


# ---------------------------------------------------------------- C3 (E1-E6)
def test_e1_c3_figure_loo():
    out = c3(c3_group([0.63, 0.80, 0.73]), std_normalize=False)
    np.testing.assert_allclose(out.advantages, [-0.135, 0.12, 0.015], atol=1e-12)


def test_e2_reasoner_subtree_means_loo_and_full_mean():
    loo = c3(c3_group([0.5, 0.25], role="reasoner"), std_normalize=False)
    mean = c3(c3_group([0.5, 0.25], role="reasoner"), std_normalize=False, baseline="mean")
    np.testing.assert_allclose(loo.advantages, [0.25, -0.25], atol=1e-12)
    np.testing.assert_allclose(mean.advantages, [0.125, -0.125], atol=1e-12)
    np.testing.assert_allclose(mean.advantages, loo.advantages * (2 - 1) / 2, atol=1e-12)


def test_e3_actor_leaves_loo_mean_and_standardised():
    leaves = [1, 0, 0, 1]
    loo = c3(c3_group(leaves), std_normalize=False)
    mean = c3(c3_group(leaves), std_normalize=False, baseline="mean")
    np.testing.assert_allclose(loo.advantages, [2 / 3, -2 / 3, -2 / 3, 2 / 3], atol=1e-12)
    np.testing.assert_allclose(mean.advantages, [0.5, -0.5, -0.5, 0.5], atol=1e-12)
    for baseline in ("loo", "mean"):
        out = c3(c3_group(leaves), baseline=baseline)
        np.testing.assert_allclose(out.advantages, [1, -1, -1, 1], atol=1e-7)
    # raw (pre-normalisation) credits are kept next to the normalised ones (pitfall P3)
    np.testing.assert_allclose(c3(c3_group(leaves)).raw, loo.advantages, atol=1e-12)


def test_e4_value_assisted_q_decides_tied_pair():
    rows = c3_group([1.0, 1.0], role="reasoner", q=[0.7, 0.4])
    out = c3(rows, mode="value_assisted", va_alpha=1.0)
    np.testing.assert_allclose(out.raw, [0.6, 0.3], atol=1e-12)
    np.testing.assert_allclose(out.advantages, [1.0, -1.0], atol=1e-6)
    assert ESTIMATORS.get("c3").make_config({"mode": "value_assisted"}).critic_kind() == "action_value"
    assert C3Config().critic_kind() is None


def test_e4_value_modes_need_q_values():
    with pytest.raises(ValueError, match="Q value"):
        c3(c3_group([1.0, 0.0]), mode="value_only")


def test_e5_singleton_group_gets_zero():
    for norm in (True, False):
        out = c3(c3_group([0.7]), std_normalize=norm)
        assert out.advantages.tolist() == [0.0]


def e6_tree() -> list[Decision]:
    rows = [
        row(episode_id="R1", group_id="t0|reasoner|root", role="reasoner", reward=0.5, node_id="R1", parent_id="root", context="q"),
        row(episode_id="R2", group_id="t0|reasoner|root", role="reasoner", reward=0.25, node_id="R2", parent_id="root", context="q"),
    ]
    for parent, leaves in (("R1", (1, 0, 0, 1)), ("R2", (0, 0, 1, 0))):
        for j, r in enumerate(leaves):
            rows.append(row(episode_id=f"{parent}A{j}", group_id=f"t0|actor|{parent}", role="actor", turn=1,
                            reward=float(r), node_id=f"{parent}A{j}", parent_id=parent, context=f"q+{parent}"))
    return rows


def test_e6_full_tree_credits():
    out = c3(e6_tree(), std_normalize=False)
    np.testing.assert_allclose(out.advantages[:2], [0.25, -0.25], atol=1e-12)
    np.testing.assert_allclose(out.advantages[2:6], [2 / 3, -2 / 3, -2 / 3, 2 / 3], atol=1e-12)
    np.testing.assert_allclose(out.advantages[6:], [-1 / 3, -1 / 3, 1, -1 / 3], atol=1e-12)
    assert out.stats["n_groups"] == 3
    normed = c3(e6_tree())
    g = group_index(list(RolloutBatch(e6_tree()).column("group_id")))
    for k in range(3):  # per-group zero mean and unit population std after normalisation
        assert abs(normed.advantages[g == k].mean()) < 1e-9
        assert abs(normed.advantages[g == k].std() - 1) < 1e-6


def test_c3_refuses_siblings_with_different_contexts():
    rows = c3_group([1.0, 0.0])
    rows[1].context = "ctx "  # one trailing space: not byte-identical (pitfall P5)
    with pytest.raises(ValueError, match="byte-identical"):
        c3(rows)
    c3(rows, check_contexts=False)


@settings(max_examples=60, deadline=None)
@given(st.lists(st.sampled_from([0.0, 0.25, 0.5, 0.75, 1.0]), min_size=2, max_size=8))
def test_p1_loo_and_mean_coincide_after_standardisation(values):
    a = c3(c3_group(values)).advantages
    b = c3(c3_group(values), baseline="mean").advantages
    np.testing.assert_allclose(a, b, atol=1e-6)


# ---------------------------------------------------------------- GRPO
def flat_batch(rewards_by_task: dict[str, list[float]], roles=("thinker", "reasoner")) -> RolloutBatch:
    rows = []
    for task, rewards in rewards_by_task.items():
        for k, r in enumerate(rewards):
            for t, role in enumerate(roles):
                rows.append(row(episode_id=f"{task}-{k}", group_id=task, task_id=task, role=role,
                                agent=f"{role}_0", turn=t, reward=r, sample_index=k))
    return RolloutBatch(rows)


def test_grpo_group_normalisation_broadcast_to_every_message():
    batch = flat_batch({"a": [1, 0, 0, 1], "b": [1, 1, 1, 0]})
    out = ESTIMATORS.get("grpo")(batch)
    adv = out.advantages.reshape(8, 2)
    np.testing.assert_allclose(adv[:, 0], adv[:, 1])  # one scalar per episode, both roles
    np.testing.assert_allclose(adv[:4, 0], [1, -1, -1, 1], atol=1e-7)
    np.testing.assert_allclose(adv[4:, 0], np.array([0.25, 0.25, 0.25, -0.75]) / np.sqrt(0.1875), atol=1e-6)
    for task in ("a", "b"):
        assert abs(out.advantages[batch.column("group_id") == task].mean()) < 1e-9


def test_grpo_uniform_group_gives_zero_and_unbiased_option():
    out = ESTIMATORS.get("grpo")(flat_batch({"a": [1, 1, 1, 1]}))
    assert np.all(out.advantages == 0)
    spec = ESTIMATORS.get("grpo")
    cfg = spec.make_config({"std_ddof": 1, "std_eps": 1e-6, "eps_inside_sqrt": False})
    out = spec(flat_batch({"a": [1, 1, 0, 1]}), cfg)
    np.testing.assert_allclose(out.advantages[::2], [0.5, 0.5, -1.5, 0.5], atol=1e-5)


def test_grpo_loo_baseline_without_std():
    spec = ESTIMATORS.get("grpo")
    out = spec(flat_batch({"a": [1, 0, 0]}), GRPOConfig(baseline="loo", std_normalize=False))
    np.testing.assert_allclose(out.advantages[::2], [1.0, -0.5, -0.5])


def test_unknown_options_and_names_raise():
    with pytest.raises(KeyError, match="valid"):
        ESTIMATORS.get("grpo").make_config({"std_norm": True})
    with pytest.raises(KeyError, match="c3"):
        ESTIMATORS.get("gae")


# ---------------------------------------------------------------- MAPPO (E13)
def test_e13_gae_hand_made_trajectory():
    adv, ret = generalized_advantage_estimate(np.array([0.0, 1.0]), np.array([0.4, 0.7]), gamma=1.0, lam=1.0)
    np.testing.assert_allclose(adv, [0.6, 0.3])
    np.testing.assert_allclose(ret, [1.0, 1.0])
    adv, _ = generalized_advantage_estimate(np.array([0.0, 1.0]), np.array([0.4, 0.7]), gamma=0.5, lam=0.5)
    # delta_A = 1 - 0.7 = 0.3; delta_R = 0 + 0.5*0.7 - 0.4 = -0.05; A_R = -0.05 + 0.25*0.3
    np.testing.assert_allclose(adv, [-0.05 + 0.25 * 0.3, 0.3])


def test_e13_mappo_estimator_uses_critic_values_per_turn():
    batch = flat_batch({"a": [1.0]}, roles=("reasoner", "actor")).with_values([0.4, 0.7])
    spec = ESTIMATORS.get("mappo")
    out = spec(batch, MAPPOConfig(global_normalize=False))
    np.testing.assert_allclose(out.advantages, [0.6, 0.3])
    np.testing.assert_allclose(out.returns, [1.0, 1.0])
    assert spec.critic == "state_value"
    with pytest.raises(ValueError, match="critic value"):
        spec(flat_batch({"a": [1.0]}))


def test_mappo_rows_out_of_turn_order():
    batch = flat_batch({"a": [1.0]}, roles=("reasoner", "actor")).with_values([0.4, 0.7])
    batch.decisions.reverse()
    out = ESTIMATORS.get("mappo")(batch, MAPPOConfig(global_normalize=False))
    np.testing.assert_allclose(out.advantages, [0.3, 0.6])


# ---------------------------------------------------------------- CCPO (E10-E12)
E10_J, E10_S = [1, 1, 0, 1], [0, 1, 1, 1]


def ccpo_batch(J=E10_J, S=E10_S, *, truncated=()) -> RolloutBatch:
    rows = []
    for k, (j, s) in enumerate(zip(J, S, strict=True)):
        for t, role in enumerate(("thinker", "reasoner")):
            rows.append(row(episode_id=f"j{k}", group_id="q", role=role, agent=f"{role}_0", turn=t, reward=float(j),
                            counterfactual_reward=float(s), sample_index=k, truncated=(k, role) in truncated))
    for k, s in enumerate(S):  # the solo (thinker-ablated) episodes: never trained
        rows.append(row(episode_id=f"s{k}", group_id="q", role="reasoner", agent="reasoner_0", turn=0,
                        reward=float(s), kind="solo", sample_index=k))
    return RolloutBatch(rows)


def e10_state():
    return {"history": {"n_updates": 5, "n_seen": 100, "delta": {"mean": 0.05, "m2": 0.25},
                        "joint": {"mean": 0.6, "m2": 0.49**2}, "solo": {"mean": 0.55, "m2": 0.25}}}


def split(out, batch):
    roles, kinds = batch.column("role"), batch.column("kind")
    return (out.raw[(roles == "thinker") & (kinds == "joint")], out.advantages[(roles == "thinker") & (kinds == "joint")],
            out.raw[(roles == "reasoner") & (kinds == "joint")], out.advantages[(roles == "reasoner") & (kinds == "joint")])


def test_e10_ccpo_shaping_with_given_ema_statistics():
    batch = ccpo_batch()
    out = ESTIMATORS.get("ccpo")(batch, CCPOConfig(), e10_state())
    r1, a1, r2, a2 = split(out, batch)
    np.testing.assert_allclose(r1, [0.9562, -0.0997, -0.9705, -0.0997], atol=1e-4)
    np.testing.assert_allclose(a1, [1.2806, -0.0587, -1.1632, -0.0587], atol=1e-4)
    np.testing.assert_allclose(r2, [-0.0940, 0.8561, -0.2153, 0.8561], atol=1e-4)
    np.testing.assert_allclose(a2, [-0.7593, 0.8629, -0.9665, 0.8629], atol=1e-4)
    # pitfall P13, faithful: a CORRECT joint answer (rollout 1) gets a negative advantage
    assert a2[0] < 0


def test_e10_shared_reward_rema_baseline():
    batch = ccpo_batch()
    out = ESTIMATORS.get("ccpo")(batch, CCPOConfig(reward_mode="shared"), e10_state())
    _, a1, _, a2 = split(out, batch)
    np.testing.assert_allclose(a1, [0.5, 0.5, -1.5, 0.5], atol=1e-5)
    np.testing.assert_allclose(a2, [0.5, 0.5, -1.5, 0.5], atol=1e-5)


def test_e11_ema_update_after_e10_batch():
    out = ESTIMATORS.get("ccpo")(ccpo_batch(), CCPOConfig(), e10_state())
    h = out.state["history"]
    assert h["delta"]["mean"] == pytest.approx(0.0495, abs=1e-12)
    assert h["delta"]["m2"] == pytest.approx(0.2525, abs=1e-12)
    assert np.sqrt(h["delta"]["m2"]) == pytest.approx(0.50249, abs=1e-5)
    assert h["n_updates"] == 6
    assert e10_state()["history"]["n_updates"] == 5  # the input state is not mutated


def test_e12_first_step_has_no_shaping_and_seeds_the_history():
    batch = ccpo_batch()
    out = ESTIMATORS.get("ccpo")(batch, CCPOConfig(), {})
    r1, a1, r2, a2 = split(out, batch)
    np.testing.assert_allclose(r1, [1, 0, -1, 0])
    np.testing.assert_allclose(a1, [1.2247, 0, -1.2247, 0], atol=1e-4)
    np.testing.assert_allclose(a2, [0.5, 0.5, -1.5, 0.5], atol=1e-5)
    h = out.state["history"]
    assert h["delta"] == {"mean": 0.0, "m2": 0.5} and h["n_updates"] == 1


def test_ccpo_masks_solo_rows_and_alternates_roles():
    batch = ccpo_batch()
    spec = ESTIMATORS.get("ccpo")
    state: dict = {}
    active = []
    for _ in range(21):
        out = spec(batch, CCPOConfig(), state)
        state = out.state
        assert not out.trainable[batch.column("kind") == "solo"].any()
        active.append(sorted(set(batch.column("role")[out.trainable])))
    # v1 off-by-one (pitfall P21): steps 1-9 thinker, 10-19 reasoner, 20- thinker
    assert active[:9] == [["thinker"]] * 9 and active[9:19] == [["reasoner"]] * 10 and active[19] == ["thinker"]
    out = spec(batch, CCPOConfig(alternate_every=0), {})
    assert out.trainable.sum() == 8
    st_eq: dict = {}
    roles_eq = []
    for _ in range(11):
        out = spec(batch, CCPOConfig(alternation="equal"), st_eq)
        st_eq = out.state
        roles_eq.append(sorted(set(batch.column("role")[out.trainable])))
    assert roles_eq[:10] == [["thinker"]] * 10 and roles_eq[10] == ["reasoner"]


def test_ccpo_group_mean_solo_baseline_and_no_history_ablation():
    batch = ccpo_batch()
    out = ESTIMATORS.get("ccpo")(batch, CCPOConfig(solo_baseline="group_mean"), {})
    r1, *_ = split(out, batch)
    np.testing.assert_allclose(r1, np.array(E10_J) - 0.75)
    out = ESTIMATORS.get("ccpo")(batch, CCPOConfig(use_history=False), e10_state())  # crashes in the release (P14)
    r1, _, r2, _ = split(out, batch)
    np.testing.assert_allclose(r1, 0.5 * np.array([1, 0, -1, 0]))
    np.testing.assert_allclose(r2, 0.5 * np.array(E10_J))
    assert out.state["history"] == e10_state()["history"]


def test_ccpo_truncated_message_gets_zero_reward():
    batch = ccpo_batch(truncated={(0, "thinker")})
    out = ESTIMATORS.get("ccpo")(batch, CCPOConfig(), {})
    r1, *_ = split(out, batch)
    assert r1[0] == 0.0


# ---------------------------------------------------------------- shared helpers
def test_group_standardize_conventions():
    g = np.array([0, 0, 1])
    x = np.array([1.0, 0.0, 0.7])
    c3_style = group_standardize(x, g, ddof=0, eps=1e-8, eps_inside_sqrt=True, singleton="zero")
    ccpo_style = group_standardize(x, g, ddof=1, eps=1e-6, eps_inside_sqrt=False, singleton="identity")
    np.testing.assert_allclose(c3_style, [1, -1, 0], atol=1e-6)
    np.testing.assert_allclose(ccpo_style, [0.5 / (np.sqrt(0.5) + 1e-6), -0.5 / (np.sqrt(0.5) + 1e-6), 0.7])
    np.testing.assert_allclose(loo_mean(np.array([3.0]), np.array([0])), [3.0])
