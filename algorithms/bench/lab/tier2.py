"""Tier 2 of the exact credit lab (credit-lab.md §5): multi-token messages, the project's own losses and estimators.

The policy, the message decoding and the exact J are in :mod:`algorithms.bench.lab.tier2_policy` (read its
docstring: vocabulary of 12, messages of up to L tokens ending at EOS, hint = first digit before EOS, a one-token
answer). This module runs the learners on it:

- each iteration draws 8 training tasks per seed and spends B = 8 evaluator calls per task, as tier 1:
  ``flat`` (grpo, grpo_seq, mappo) 8 episodes; ``ccpo`` 4 joint + 4 thinker-ablated (the reasoner answers the
  null hint ∅); ``tree`` (c3) 2 thinker messages × 4 replies each at the frozen message;
- the rollouts become one real :class:`~algorithms.batch.RolloutBatch` per seed (token ids, behaviour
  log-probs, byte-exact contexts, groups, tree nodes, counterfactual rewards, critic values), the credits come
  from ``algorithms.estimators.ESTIMATORS[<learner's estimator>]`` with the learner's own switches from
  ``algorithms.learners.LEARNERS`` (one call per seed; for the group-local grpo and c3 one call over all seeds'
  rows with seed-prefixed ids, tested equal), and the policy loss is ``algorithms.losses.LOSSES[<loss>]`` on the
  trainable rows, each seed averaging over its own tokens or messages (:func:`seed_loss`); one Adam step
  (``torch.optim.Adam``, lr ``knobs.lr``) per iteration on the per-seed parameter tensors ``[S, ...]``;
- J is exact (enumeration, :func:`~algorithms.bench.lab.tier2_policy.exact_J`) at 13 points, the first at 0 calls.

Learners: ``grpo``, ``mappo``, ``ccpo``, ``c3`` (as in ``LEARNERS``) use ``ppo_token``; ``grpo_seq`` is ``grpo``
with ``ppo_sequence``. CCPO trains both roles every step (``alternate_every=0``, as tier 1's ``CCPO_LAB``);
MAPPO's critic is tier 1's per-task table (V(x), V(x, h), zero-initialised, moved 0.5 toward the mean return of
each visited cell every iteration; the targets are the estimator's ``Credits.returns``). Seeds are paired across
learners: the same init, task sequence and uniforms (common random numbers, slot layout as tier 1).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace

import numpy as np
import torch

from algorithms.batch import Decision, RolloutBatch
from algorithms.estimators import ESTIMATORS, CCPOConfig
from algorithms.learners import LEARNERS
from algorithms.losses import LOSSES, LossConfig

from . import tier2_policy as pol
from .learners import table_critic_update
from .stats import mean_ci95, paired_diff, verdict
from .tier2_policy import NULL_HINT, Tier2Knobs, Tier2World

B = 8  # evaluator calls per task
TASKS_PER_ITER = 8
N_EVAL = 13
TOKEN_NAMES = [str(i) for i in range(10)] + ["<fill>", "<eos>"]

CCPO_TIER = CCPOConfig(alternate_every=0)
"""CCPO as tier 1 runs it (``algorithms.bench.lab.learners.CCPO_LAB``; a test checks they agree)."""


# ------------------------------------------------------------------------------------------------ learners
@dataclass(frozen=True)
class Tier2Learner:
    """A tier-2 learner: a plan (``flat`` / ``ccpo`` / ``tree``), an estimator with its config, a loss name."""

    name: str
    plan: str
    estimator: str
    config: object
    loss: str = "ppo_token"


def _from_registry(registered: str, plan: str, **overrides) -> Tier2Learner:
    spec = LEARNERS.get(registered)
    config = ESTIMATORS.get(spec.estimator).make_config(spec.estimator_kwargs)
    loss = spec.loss_kwargs.get("loss", "ppo_token")
    out = Tier2Learner(registered, plan, spec.estimator, config, loss)
    return replace(out, **overrides)


def tier2_learners() -> dict[str, Tier2Learner]:
    """Every tier-2 learner by name (built from ``algorithms.learners.LEARNERS``)."""
    return {lr.name: lr for lr in (
        _from_registry("grpo", "flat"),
        _from_registry("grpo", "flat", name="grpo_seq", loss="ppo_sequence"),
        _from_registry("mappo", "flat"),
        _from_registry("ccpo", "ccpo", config=CCPO_TIER),
        _from_registry("c3", "tree"),
    )}


TIER2_LEARNERS: tuple[str, ...] = ("grpo", "grpo_seq", "mappo", "ccpo", "c3")


# ------------------------------------------------------------------------------------------------ regimes
@dataclass(frozen=True)
class Tier2Regime:
    """A named tier-2 knob setting, its hypothesis and the expected sign of each learner − grpo."""

    name: str
    knobs: Tier2Knobs
    hypothesis: str
    expected: dict[str, int] = field(default_factory=dict)
    judged_on: str = "final"


_BASE = Tier2Knobs(L=3, p_think=0.4, p_null=0.2, p_fill=0.2, follow=2.0)

REGIMES2: dict[str, Tier2Regime] = {r.name: r for r in (
    Tier2Regime(
        "tabular_tokens", _BASE,
        "per-role policies, messages of 1-3 tokens: the upstream role must learn, so C3's tree (2 thinker messages "
        "per task) and CCPO (4 joint episodes) lose to GRPO as in tier 1's tabular; MAPPO ties; the sequence-mean "
        "loss (each message weighs 1, its tokens 1/|m|) ties the token mean: per-role Adam cancels the roles' "
        "relative scale, leaving only a length bias on tokens that do not change the hint",
        {"c3": -1, "ccpo": -1, "mappo": 0, "grpo_seq": 0}),
    Tier2Regime(
        "shared_weights", replace(_BASE, shared=True),
        "one output head for both roles (an LLM playing both): the reasoner's updates move the thinker's digit "
        "logits and Adam's per-weight scale mixes both roles, so every learner learns slower than with per-role "
        "heads (shared_vs_per_role < 0); the learners keep tier 1's order (C3 and CCPO lose), and the loss "
        "normalisation now matters: the sequence mean gives the thinker's tokens 1/|m| of the reasoner's weight on "
        "the shared head, the token mean the same weight per token, so grpo_seq differs from grpo",
        {"c3": -1, "ccpo": -1, "mappo": 0}),
)}

TIER2_REGIMES: tuple[str, ...] = tuple(REGIMES2)


# ------------------------------------------------------------------------------------------------ rows
@dataclass
class Rollouts:
    """One iteration's rollouts (seed axis first).

    ``tokens [S, T, KT, L]`` thinker messages, ``hintT [S, T, KT]`` their decoded hints; reasoner rows
    ``parent [KR]`` (which thinker message they answered; -1 = the ablated run with hint ∅), ``hintR, ans, R
    [S, T, KR]`` hint seen, answer token, team reward. ``solo`` rows (CCPO) are ``kind="solo"`` reasoner rows.
    """

    x: np.ndarray
    tokens: torch.Tensor
    hintT: torch.Tensor
    parent: np.ndarray
    solo: np.ndarray
    hintR: torch.Tensor
    ans: torch.Tensor
    R: np.ndarray


def _plan_shape(plan: str) -> tuple[int, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """``(KT, parent [KR], solo [KR] bool, thinker slot [KT], reasoner slot [KR])`` of a plan (uniform slots as tier 1)."""
    if plan == "flat":
        return B, np.arange(B), np.zeros(B, bool), np.arange(B), np.arange(B)
    if plan == "ccpo":
        k = B // 2
        par = np.concatenate([np.arange(k), np.full(k, -1)])
        return k, par, par < 0, np.arange(k), np.arange(B)
    if plan == "tree":
        return 2, np.repeat(np.arange(2), 4), np.zeros(B, bool), np.arange(2), np.arange(B)
    raise ValueError(f"tier2: unknown plan {plan!r}; valid: flat, ccpo, tree")


def rollout(world: Tier2World, params: dict[str, torch.Tensor], plan: str, x: np.ndarray, U: np.ndarray) -> Rollouts:
    """Sample one iteration: tasks ``x [S, T]``, uniforms ``U [S, T, 8, L + 2]`` (thinker tokens, reasoner, flip)."""
    L, eps = world.knobs.L, world.knobs.eps
    S, T = x.shape
    KT, parent, solo, slotT, slotR = _plan_shape(plan)
    Ut = torch.as_tensor(U)
    ab = torch.as_tensor(world.ab[x], dtype=torch.long)[:, :, None].expand(S, T, KT).reshape(S, T * KT)
    tokens = pol.sample_messages(params, ab, Ut[:, :, slotT, :L].reshape(S, T * KT, L)).reshape(S, T, KT, L)
    hintT = pol.decode(tokens)  # [S, T, KT]
    KR = len(parent)
    hintR = torch.where(torch.as_tensor(solo), NULL_HINT, hintT[:, :, np.maximum(parent, 0)])
    c = torch.as_tensor(world.c[x], dtype=torch.long)[:, :, None].expand(S, T, KR)
    ans = pol.sample_answers(params, hintR.reshape(S, -1), c.reshape(S, -1),
                             Ut[:, :, slotR, L].reshape(S, -1)).reshape(S, T, KR)
    right = ans.numpy() == world.y[x][..., None]
    R = (right != (U[:, :, slotR, L + 1] < eps)).astype(np.float64)
    return Rollouts(x, tokens, hintT, parent, solo, hintR, ans, R)


@dataclass
class RowMap:
    """Where each batch row sits: ``role`` 0 thinker / 1 reasoner, ``t``, ``k`` (message index of its role)."""

    role: np.ndarray
    t: np.ndarray
    k: np.ndarray


_TEXTS: dict[tuple[int, ...], str] = {}


def _text(tokens: Sequence[int]) -> str:
    """A message's text: its token names joined by spaces (``"<fill> 3 <eos>"``)."""
    key = tuple(tokens)
    if key not in _TEXTS:
        _TEXTS[key] = " ".join(TOKEN_NAMES[v] for v in tokens)
    return _TEXTS[key]


def build_batch(ro: Rollouts, s: int, plan: str, lpT: np.ndarray, lpR: np.ndarray, *, VT: np.ndarray | None = None,
                VR: np.ndarray | None = None, prefix: str = "") -> tuple[RolloutBatch, RowMap]:
    """Seed ``s``'s :class:`RolloutBatch`, rows as ``RolloutBatch.from_episodes`` / ``from_trees`` give them.

    Flat / CCPO: per task, per joint episode k a thinker row (turn 0) and a reasoner row (turn 1, terminal), both
    with the team reward; CCPO adds ``counterfactual_reward`` = solo run k's reward and the solo rows
    (``kind="solo"``) after all joint rows (tested equal to ``from_episodes`` on the same episodes). Tree: per task, thinker node i (reward = mean of its 4 leaves, siblings
    at the root) then its 4 leaves (siblings under node i, byte-identical context). ``lpT [T, KT, L]``,
    ``lpR [T, KR]``: behaviour log-probs; ``VT [T, KT]``, ``VR [T, KR]``: critic values for the ``value`` column
    (MAPPO); ``prefix`` goes before every episode and group id (to put several seeds in one batch).
    """
    tok = ro.tokens[s].tolist()
    VT = None if VT is None else np.asarray(VT, dtype=np.float64).tolist()
    VR = None if VR is None else np.asarray(VR, dtype=np.float64).tolist()
    lengths = pol.message_mask(ro.tokens[s]).sum(-1).tolist()  # [T][KT]
    ans = ro.ans[s].tolist()
    R = ro.R[s].tolist()
    xs = ro.x[s].tolist()
    parent = ro.parent.tolist()
    T, KT = len(tok), len(tok[0])
    rows: list[Decision] = []
    role: list[int] = []
    ts: list[int] = []
    ks: list[int] = []
    joint = np.flatnonzero(~ro.solo).tolist()
    solo = np.flatnonzero(ro.solo).tolist()
    solo_rows: list[tuple[int, int, Decision]] = []
    for t in range(T):
        task = f"hint-{xs[t]}"
        ctxT = f"{task}|thinker"
        msgs = [tok[t][k][: lengths[t][k]] for k in range(KT)]
        texts = [_text(m) for m in msgs]
        lps = lpT[t].tolist()
        lpr = lpR[t].tolist()
        if plan == "tree":
            tree = f"{prefix}tree{t}"
            for i in range(KT):
                leaves = [j for j, p in enumerate(parent) if p == i]
                node = f"{t}.{i}"
                rows.append(Decision(
                    episode_id=f"{tree}/{node}", group_id=f"{tree}|thinker|root", task_id=task, role="thinker",
                    agent="thinker_0", turn=0, reward=sum(R[t][j] for j in leaves) / len(leaves), context=ctxT, token_ids=msgs[i],
                    logprobs=lps[i][: len(msgs[i])], text=texts[i], node_id=node, parent_id="root"))
                role.append(0)
                ts.append(t)
                ks.append(i)
                ctxR = f"{task}|reasoner|{texts[i]}"
                for j in leaves:
                    rows.append(Decision(
                        episode_id=f"{tree}/{node}.{j}", group_id=f"{tree}|reasoner|{node}", task_id=task,
                        role="reasoner", agent="reasoner_0", turn=1, reward=R[t][j], context=ctxR,
                        token_ids=[ans[t][j]], logprobs=[lpr[j]], node_id=f"{node}.{j}", parent_id=node,
                        terminal=True))
                    role.append(1)
                    ts.append(t)
                    ks.append(j)
            continue
        group = f"{prefix}t{t}"
        for n, j in enumerate(joint):
            k = parent[j]
            cf = R[t][solo[n]] if plan == "ccpo" else None
            ep = f"{prefix}t{t}/e{n}"
            rows.append(Decision(
                episode_id=ep, group_id=group, task_id=task, role="thinker", agent="thinker_0", turn=0,
                reward=R[t][j], context=ctxT, token_ids=msgs[k], logprobs=lps[k][: len(msgs[k])], text=texts[k],
                counterfactual_reward=cf, value=None if VT is None else VT[t][k], sample_index=n))
            rows.append(Decision(
                episode_id=ep, group_id=group, task_id=task, role="reasoner", agent="reasoner_0", turn=1,
                reward=R[t][j], context=f"{task}|reasoner|{texts[k]}", token_ids=[ans[t][j]],
                logprobs=[lpr[j]], counterfactual_reward=cf, value=None if VR is None else VR[t][j],
                sample_index=n, terminal=True))
            role += [0, 1]
            ts += [t, t]
            ks += [k, j]
        for n, j in enumerate(solo):
            solo_rows.append((t, j, Decision(
                episode_id=f"{prefix}t{t}/s{n}", group_id=group, task_id=task, role="reasoner", agent="reasoner_0",
                turn=0, reward=R[t][j], context=f"{task}|reasoner|", token_ids=[ans[t][j]], logprobs=[lpr[j]],
                kind="solo", sample_index=n, terminal=True)))
    for t, j, d in solo_rows:  # from_episodes puts every ablated episode after the joint ones
        rows.append(d)
        role.append(1)
        ts.append(t)
        ks.append(j)
    calls = int(ro.R[s].size)
    batch = RolloutBatch(rows, evaluator_calls=calls, generated_tokens=sum(map(sum, lengths)) + calls)
    return batch, RowMap(np.array(role), np.array(ts), np.array(ks))


GROUP_LOCAL = frozenset({"grpo", "c3"})
"""Estimators whose credit of a row reads only its own group (no batch-wide statistic, no state): several seeds'
rows (ids prefixed by the seed) can go through ONE call with the same credits as one call per seed (tested)."""


def seed_credits(estimator_name: str, config: object, batches: Sequence[RolloutBatch],
                 states: Sequence[dict]) -> list:
    """``ESTIMATORS[estimator_name]`` on each seed's batch: one call over all seeds for :data:`GROUP_LOCAL`
    estimators (then split), else one call per seed with its own state. Returns one ``Credits``-like object per
    seed (``advantages``, ``trainable``, ``returns``, ``state``)."""
    spec = ESTIMATORS.get(estimator_name)
    if estimator_name not in GROUP_LOCAL:
        return [spec(b, config, st) for b, st in zip(batches, states, strict=True)]
    cred = spec(RolloutBatch.concat(batches), config, {})
    out, start = [], 0
    for b in batches:
        stop = start + len(b)
        ret = None if cred.returns is None else cred.returns[start:stop]
        out.append(replace(cred, advantages=cred.advantages[start:stop], trainable=cred.trainable[start:stop],
                           raw=cred.raw[start:stop], returns=ret, state={}))
        start = stop
    return out


# ------------------------------------------------------------------------------------------------ one run
@dataclass
class RunResult:
    """Exact J ``[S, n_eval]`` at ``calls [n_eval]``, the other exact quantities of
    :func:`~algorithms.bench.lab.tier2_policy.exact_eval` (``exact[name] [S, n_eval]``), trained messages per
    iteration (mean over seeds), wall time, and the final parameters."""

    calls: np.ndarray
    J: np.ndarray
    exact: dict[str, np.ndarray]
    trained_per_iter: float
    wall_s: float
    params: dict[str, torch.Tensor]


def eval_iterations(iterations: int) -> np.ndarray:
    """The iterations after which J is evaluated (``N_EVAL`` points from 0 to ``iterations``)."""
    return np.unique(np.round(np.linspace(0, iterations, N_EVAL)).astype(int))


def schedule(world: Tier2World, seeds: int, iterations: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Paired randomness: tasks ``[iterations, S, T]`` and uniforms ``[iterations, S, T, 8, L + 2]``."""
    rng = np.random.default_rng([2, seed])
    x = world.train[rng.integers(len(world.train), size=(iterations, seeds, TASKS_PER_ITER))]
    U = rng.random((iterations, seeds, TASKS_PER_ITER, B, world.knobs.L + 2))
    return x, U


def run_learner(world: Tier2World, learner: Tier2Learner, seeds: int, iterations: int, *,
                lr: float | None = None, seed: int = 0) -> RunResult:
    """Train ``seeds`` paired seeds of ``learner`` for ``iterations`` iterations; exact J on the held-out tasks."""
    t0 = time.perf_counter()
    k = world.knobs
    params = pol.init_params(k, seeds)
    opt = torch.optim.Adam([v for n, v in params.items() if n not in k.frozen], lr=k.lr if lr is None else lr)
    loss_fn = LOSSES.get(learner.loss)
    loss_cfg = LossConfig(name=learner.loss)
    xs, Us = schedule(world, seeds, iterations, seed)
    evals = set(eval_iterations(iterations).tolist())
    evs, calls = [], []
    states = [{} for _ in range(seeds)]
    critic = learner.estimator == "mappo"
    if critic:
        VT = np.zeros((seeds, world.c.size))
        VR = np.zeros((seeds, world.c.size, pol.N_HINTS))
    trained = []
    S = seeds
    for it in range(iterations + 1):
        if it in evals:
            evs.append(pol.exact_eval(world, params))
            calls.append(it * TASKS_PER_ITER * B)
        if it == iterations:
            break
        x, U = xs[it], Us[it]
        ro = rollout(world, params, learner.plan, x, U)
        T, KT, L = ro.tokens.shape[1:]
        KR = len(ro.parent)
        ab = torch.as_tensor(world.ab[x], dtype=torch.long)[:, :, None].expand(S, T, KT).reshape(S, -1)
        lpT = pol.thinker_logp(params, ab, ro.tokens.reshape(S, -1, L))  # [S, T*KT, L]
        maskT = pol.message_mask(ro.tokens.reshape(S, -1, L))
        c = torch.as_tensor(world.c[x], dtype=torch.long)[:, :, None].expand(S, T, KR).reshape(S, -1)
        lpR = torch.gather(pol.reasoner_logits(params, ro.hintR.reshape(S, -1), c).log_softmax(-1), -1,
                           ro.ans.reshape(S, -1, 1)).squeeze(-1)  # [S, T*KR]
        lpT_np = lpT.detach().reshape(S, T, KT, L).numpy()
        lpR_np = lpR.detach().reshape(S, T, KR).numpy()
        logp_all = torch.cat([lpT, torch.nn.functional.pad(lpR[..., None], (0, L - 1))], dim=1)  # [S, N', L]
        mask_all = torch.cat([maskT, torch.nn.functional.pad(torch.ones_like(lpR, dtype=torch.bool)[..., None],
                                                             (0, L - 1))], dim=1)
        if critic:
            sidx = np.arange(S)[:, None, None]
            vT = VT[sidx, x[..., None]].repeat(KT, -1)  # [S, T, KT]
            vR = VR[sidx, x[..., None], ro.hintR.numpy()]  # [S, T, KR]
            ret_T = np.zeros((S, T, KT))
            ret_R = np.zeros((S, T, KR))
        built = [build_batch(ro, s, learner.plan, lpT_np[s], lpR_np[s], VT=vT[s] if critic else None,
                             VR=vR[s] if critic else None, prefix=f"s{s}/") for s in range(S)]
        creds = seed_credits(learner.estimator, learner.config, [b for b, _ in built], states)
        rows_lp, rows_adv, rows_mask = [], [], []
        for s, ((_, rm), cred) in enumerate(zip(built, creds, strict=True)):
            states[s] = cred.state
            if critic:
                th = rm.role == 0
                ret_T[s, rm.t[th], rm.k[th]] = cred.returns[th]
                ret_R[s, rm.t[~th], rm.k[~th]] = cred.returns[~th]
            tr = np.flatnonzero(cred.trainable)
            row = torch.as_tensor(np.where(rm.role[tr] == 0, rm.t[tr] * KT + rm.k[tr],
                                           T * KT + rm.t[tr] * KR + rm.k[tr]))
            rows_lp.append(logp_all[s, row])
            rows_mask.append(mask_all[s, row])
            rows_adv.append(torch.as_tensor(cred.advantages[tr], dtype=pol.DTYPE))
        total = seed_loss(loss_fn, loss_cfg, rows_lp, rows_adv, rows_mask)
        n_trained = sum(len(a) for a in rows_adv)
        trained.append(n_trained / S)
        opt.zero_grad(set_to_none=True)
        total.backward()
        opt.step()
        if critic:
            VT = _critic_update(VT, x[..., None].repeat(KT, -1), None, ret_T)
            VR = _critic_update(VR, x[..., None].repeat(KR, -1), ro.hintR.numpy(), ret_R)
    exact = {n: np.stack([e[n] for e in evs], axis=1) for n in evs[0]}
    return RunResult(np.asarray(calls), exact["J"], exact,
                     float(np.mean(trained)) if trained else 0.0, time.perf_counter() - t0,
                     {n: v.detach() for n, v in params.items()})


def seed_loss(loss_fn: Callable, cfg: LossConfig, logp: Sequence[torch.Tensor], adv: Sequence[torch.Tensor],
              mask: Sequence[torch.Tensor]) -> torch.Tensor:
    """Σ over seeds of ``loss_fn`` on each seed's trainable rows (``logp, mask [N_s, L]``, ``adv [N_s]``): each seed
    averages over its own tokens or messages. A loss that averages over messages, with the same N for every seed,
    is called once on all rows with ``normalizer=N`` (the losses' documented accumulation rule: the same sum)."""
    counts = {len(a) for a in adv}
    if getattr(loss_fn, "averages_over", "tokens") == "messages" and len(counts) == 1:
        lp = torch.cat(list(logp))
        return loss_fn(lp, lp.detach(), torch.cat(list(adv)), torch.cat(list(mask)), cfg,
                       normalizer=float(counts.pop())).loss
    total = torch.zeros((), dtype=pol.DTYPE)
    for lp, a, m in zip(logp, adv, mask, strict=True):
        total = total + loss_fn(lp, lp.detach(), a, m, cfg).loss
    return total


def _critic_update(V: np.ndarray, x: np.ndarray, h: np.ndarray | None, target: np.ndarray, lr: float = 0.5) -> np.ndarray:
    """Tier 1's table critic: each visited cell moves ``lr`` toward the mean target of its visits this iteration."""
    S = V.shape[0]
    s = np.broadcast_to(np.arange(S)[:, None, None], x.shape)
    flat = (s * V.shape[1] + x) if h is None else ((s * V.shape[1] + x) * V.shape[2] + h)
    return table_critic_update(V, flat, target, lr)


# ------------------------------------------------------------------------------------------------ report
def _curve(calls: np.ndarray, J: np.ndarray) -> dict:
    cis = [mean_ci95(J[:, i]) for i in range(J.shape[1])]
    return {"calls": [int(c) for c in calls], "mean": [c["mean"] for c in cis],
            "ci95_lo": [c["ci95"][0] for c in cis], "ci95_hi": [c["ci95"][1] for c in cis]}


def run_tier2(regimes: Sequence[str], *, seeds: int, iterations: int, learners: Sequence[str] | None = None,
              log: Callable[[str], object] = print, threads: int | None = 1) -> list[dict]:
    """Run tier 2's ``regimes`` (names in :data:`TIER2_REGIMES`) with every learner of :data:`TIER2_LEARNERS`.

    Returns one dict per regime in results.json's layout (``name, hypothesis, knobs, learners, comparisons``;
    AUC = mean exact J over the evaluation points; also the exact final ``p_null`` P(∅), ``p_hint`` P(u | x) and
    ``q_right`` Q(x, u), each with a 95% CI). When ``shared_weights`` runs after ``tabular_tokens``, its dict
    also has ``shared_vs_per_role``: per learner, the paired difference of final J and AUC (shared − per-role).

    ``threads``: torch's intra-op threads while tier 2 runs (restored afterwards); ``None`` keeps the caller's.
    Default 1: the tensors are tiny, and on the shared 2-core machine (load ≈ 13) the same run took 15.1 s with 2
    threads against 0.41 s with 1 (thread hand-offs, not arithmetic, dominate).
    """
    if threads is None:
        return _run_tier2(regimes, seeds=seeds, iterations=iterations, learners=learners, log=log)
    before = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        return _run_tier2(regimes, seeds=seeds, iterations=iterations, learners=learners, log=log)
    finally:
        torch.set_num_threads(before)


def _run_tier2(regimes: Sequence[str], *, seeds: int, iterations: int, learners: Sequence[str] | None,
               log: Callable[[str], object]) -> list[dict]:
    bad = [r for r in regimes if r not in REGIMES2]
    if bad:
        raise ValueError(f"tier2: unknown regime(s) {bad}; valid: {', '.join(TIER2_REGIMES)}")
    if seeds < 2:
        raise ValueError(f"tier2: seeds must be >= 2 (for a CI), got {seeds}")
    if iterations < 1:
        raise ValueError(f"tier2: iterations must be >= 1, got {iterations}")
    table = tier2_learners()
    names = list(TIER2_LEARNERS if learners is None else learners)
    unknown = [n for n in names if n not in table]
    if unknown:
        raise ValueError(f"tier2: unknown learner(s) {unknown}; valid: {', '.join(table)}")
    if "grpo" not in names:
        names.insert(0, "grpo")
    out, raw = [], {}
    for rname in regimes:
        reg = REGIMES2[rname]
        world = pol.make_world(reg.knobs)
        t0 = time.perf_counter()
        runs = {}
        for n in names:
            runs[n] = run_learner(world, table[n], seeds, iterations)
        raw[rname] = runs
        res = {"name": rname, "tier": 2, "hypothesis": reg.hypothesis, "knobs": reg.knobs.to_json(),
               "judged_on": reg.judged_on, "learners": {}, "comparisons": []}
        for n, r in runs.items():
            res["learners"][n] = {
                "curve": _curve(r.calls, r.J), "final_J": mean_ci95(r.J[:, -1]), "auc": mean_ci95(r.J.mean(1)),
                "trained_messages_per_iter": r.trained_per_iter, "loss": table[n].loss, "wall_s": r.wall_s,
                **{f"{q}_final": mean_ci95(r.exact[q][:, -1]) for q in ("p_null", "p_hint", "q_right")},
            }
        base = runs["grpo"]
        for n, r in runs.items():
            if n == "grpo":
                continue
            d_final = paired_diff(r.J[:, -1], base.J[:, -1])
            d_auc = paired_diff(r.J.mean(1), base.J.mean(1))
            judged = d_final if reg.judged_on == "final" else d_auc
            res["comparisons"].append({"learner": n, "baseline": "grpo", "diff_final": d_final, "diff_auc": d_auc,
                                       "expected_sign": reg.expected.get(n),
                                       "verdict": verdict(judged, reg.expected.get(n))})
        if rname == "shared_weights" and "tabular_tokens" in raw:
            res["shared_vs_per_role"] = {}
            for n, r in runs.items():
                other = raw["tabular_tokens"][n]
                d_final = paired_diff(r.J[:, -1], other.J[:, -1])
                res["shared_vs_per_role"][n] = {"diff_final": d_final, "diff_auc": paired_diff(r.J.mean(1), other.J.mean(1)),
                                                "verdict": verdict(d_final, -1)}
        res["wall_s"] = time.perf_counter() - t0
        log(f"tier2 {rname}: " + ", ".join(f"{n} {res['learners'][n]['final_J']['mean']:.3f}" for n in runs)
            + f" ({res['wall_s']:.1f} s)")
        out.append(res)
    return out


TIER2_PRESETS: dict[str, dict[str, int]] = {"quick": {"seeds": 6, "iterations": 40},
                                            "full": {"seeds": 16, "iterations": 120}}
"""Sizes for the lab CLI's presets (``run_tier2(TIER2_REGIMES, **TIER2_PRESETS[preset])``). Measured cost: about
3.3 ms of CPU per seed-iteration and learner on one torch thread (mostly building the ``RolloutBatch`` rows and
the estimators' Python), so quick ≈ 2 × 5 × 6 × 40 × 3.3 ms ≈ 8 s and full ≈ 2 × 5 × 16 × 120 × 3.3 ms ≈ 63 s."""


def format_tier2(results: Sequence[dict]) -> str:
    """Tier 2's markdown table: per regime × learner final J and AUC (95% CI), difference vs grpo and verdict,
    and, where present, shared − per-role final J per learner."""
    def ci(d: dict) -> str:
        return f"{d['mean']:.3f} [{d['ci95'][0]:.3f}, {d['ci95'][1]:.3f}]"

    def sci(d: dict) -> str:
        return f"{d['mean']:+.3f} [{d['ci95'][0]:+.3f}, {d['ci95'][1]:+.3f}]"

    lines = ["| regime | learner | loss | msgs/iter | final J | AUC | final − grpo | AUC − grpo | verdict |",
             "|---|---|---|---|---|---|---|---|---|"]
    for reg in results:
        cmp = {c["learner"]: c for c in reg["comparisons"]}
        for name, lr in reg["learners"].items():
            c = cmp.get(name)
            lines.append(f"| {reg['name']} | {name} | {lr['loss']} | {lr['trained_messages_per_iter']:.0f} | "
                         f"{ci(lr['final_J'])} | {ci(lr['auc'])} | {sci(c['diff_final']) if c else '—'} | "
                         f"{sci(c['diff_auc']) if c else '—'} | {c['verdict'] if c else 'baseline'} |")
    cross = [r for r in results if "shared_vs_per_role" in r]
    if cross:
        lines += ["", "| learner | shared − per-role final J | AUC | verdict (expected < 0) |", "|---|---|---|---|"]
        for name, d in cross[0]["shared_vs_per_role"].items():
            lines.append(f"| {name} | {sci(d['diff_final'])} | {sci(d['diff_auc'])} | {d['verdict']} |")
    return "\n".join(lines)
