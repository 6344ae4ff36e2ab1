"""Train every chosen learner in one regime on paired seeds and summarise (credit-lab.md §3–5).

Paired seeds: seed s has one training-task sequence (epochs of shuffled training tasks, 8 per iteration) and one
block of uniforms, both drawn from ``numpy.random.default_rng([base_seed, s])``, and all learners of seed s use
them; the initialisation is the reference's deterministic one. Held-out J is exact, evaluated at 13 points.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from . import metrics
from .learners import LEARNERS, B, Learner, Step
from .policy import Adam, Messages, pg_gradient
from .regimes import Regime
from .sim import Layout, World, evaluate, exact_q, f_ratio, init_params, make_world, optimum, tables
from .stats import mean_ci95, paired_diff, verdict

TASKS_PER_ITER = 8
LR = 0.05
N_EVAL = 13
CALLS_PER_ITER = TASKS_PER_ITER * B


@dataclass(frozen=True)
class Settings:
    """Run size: ``seeds`` S, ``iterations``, Adam ``lr``, SNR probes (policies × independent batches)."""

    seeds: int = 64
    iterations: int = 300
    lr: float = LR
    snr: bool = True
    snr_policies: int = 4
    snr_batches: int = 64
    base_seed: int = 0


def paired_streams(world: World, st: Settings) -> tuple[np.ndarray, np.ndarray]:
    """Per-seed task sequence ``[S, iters, 8]`` and uniforms ``[S, iters, 8, B, 3]`` (one Generator per seed)."""
    n_train = len(world.train)
    epochs = -(-st.iterations * TASKS_PER_ITER // n_train)
    tasks = np.empty((st.seeds, st.iterations, TASKS_PER_ITER), dtype=np.int64)
    U = np.empty((st.seeds, st.iterations, TASKS_PER_ITER, B, 3))
    for s in range(st.seeds):
        rng = np.random.default_rng([st.base_seed, s])
        seq = np.concatenate([rng.permutation(world.train) for _ in range(epochs)])
        tasks[s] = seq[: st.iterations * TASKS_PER_ITER].reshape(st.iterations, TASKS_PER_ITER)
        U[s] = rng.random((st.iterations, TASKS_PER_ITER, B, 3))
    return tasks, U


def eval_points(iterations: int) -> np.ndarray:
    """The 13 iterations (0 … iterations) at which held-out J is evaluated."""
    return np.unique(np.linspace(0, iterations, N_EVAL).round().astype(int))


def _messages(x: np.ndarray, step: Step) -> Messages:
    n = np.maximum(step.n_trained, 1).astype(np.float64)[:, None, None]
    return Messages(x=x, mT=step.mT, wT=np.where(step.trT, step.advT, 0.0) / n,
                    mR=step.mR, aR=step.aR, wR=np.where(step.trR, step.advR, 0.0) / n)


def _tile(state, idx: np.ndarray, reps: int):
    if isinstance(state, dict):
        return {k: _tile(v, idx, reps) for k, v in state.items()}
    return np.repeat(np.asarray(state)[idx], reps, axis=0)


def probe_snr(world: World, learner: Learner, P: np.ndarray, state: dict, st: Settings, rng: np.random.Generator,
              it: int) -> dict:
    """Per-role gradient SNR at the current policies of the first ``snr_policies`` seeds, each from
    ``snr_batches`` independent batches (fresh tasks and random numbers; the learner state is copied)."""
    npol = min(st.snr_policies, P.shape[0])
    idx = np.arange(npol)
    Pr = np.repeat(P[idx], st.snr_batches, axis=0)
    sr = _tile(state, idx, st.snr_batches)
    n = Pr.shape[0]
    x = world.train[rng.integers(0, len(world.train), size=(n, TASKS_PER_ITER))]
    U = rng.random((n, TASKS_PER_ITER, B, 3))
    pi_T, pi_R = tables(world, Pr, x)
    step = learner.step(world, it, x, U, pi_T, pi_R, sr)
    g = pg_gradient(world, pi_T, pi_R, _messages(x, step))
    lay = Layout(world.knobs.C, world.n_tasks)
    return {role: metrics.snr(g, npol, lay.role_mask(role, world.knobs.frozen)) for role in ("thinker", "reasoner")}


def train(world: World, learner: Learner, st: Settings, tasks: np.ndarray, U: np.ndarray) -> dict:
    """Train ``learner`` on all seeds; returns raw per-seed arrays (curves ``[n_eval, S]``) and diagnostics."""
    t0 = time.perf_counter()
    S = st.seeds
    lay = Layout(world.knobs.C, world.n_tasks)
    P = init_params(world, S)
    adam = Adam(st.lr, lay.learnable(world.knobs.frozen, n_train=len(world.train)))
    opt = adam.init(S)
    state = learner.init(world, S)
    points = eval_points(st.iterations)
    keys = ("J", "greedy", "contribution", "p_null", "cmi", "entropy")
    curves = {k: [] for k in keys}
    fid = metrics.Fidelity()
    snr_at = {0: "init", st.iterations // 2: "mid"} if st.snr else {}
    snr_out: dict = {"thinker": {}, "reasoner": {}}
    rng = np.random.default_rng([st.base_seed, 10**6])
    trained = 0.0

    def record(full: bool = False) -> None:
        ex = evaluate(world, P, full=full)
        for k in keys:
            curves[k].append(getattr(ex, k))

    for it in range(st.iterations):
        if it in points:
            record()
        if it in snr_at:
            for role, v in probe_snr(world, learner, P, state, st, rng, it).items():
                snr_out[role][snr_at[it]] = v
        x = tasks[:, it]
        pi_T, pi_R = tables(world, P, x)
        step = learner.step(world, it, x, U[:, it], pi_T, pi_R, state)
        if it in points:
            fid.add(world, x, pi_T, pi_R, step)
        trained += float(step.n_trained.mean())
        state = step.state
        adam.step(P, pg_gradient(world, pi_T, pi_R, _messages(x, step)), opt)
    record(full=True)
    out = {k: np.asarray(v) for k, v in curves.items()}
    out.update(calls=points * CALLS_PER_ITER, fidelity=fid.result(), snr=snr_out,
               trained_per_iter=trained / max(st.iterations, 1), P=P, state=state,
               wall_s=time.perf_counter() - t0)
    if "VT" in state and state["VT"].shape[1] == world.n_tasks:  # MAPPO per-task critic: its error at the end
        x = world.train
        pi_T, pi_R = tables(world, P, x)
        V = (pi_T * exact_q(world, x, pi_R)).sum(-1)
        out["critic_rmse"] = float(np.sqrt(np.mean((state["VT"][:, x] - V) ** 2)))
    return out


def _round(v, nd: int = 6):
    if v is None:
        return None
    if isinstance(v, dict):
        return {k: _round(x, nd) for k, x in v.items()}
    if isinstance(v, (list, tuple, np.ndarray)):
        return [_round(x, nd) for x in v]
    return round(float(v), nd)


def summarise(world: World, raw: dict, opt: float) -> dict:
    """One learner's entry of results.json from :func:`train`'s raw arrays."""
    J = raw["J"]  # [n_eval, S]
    curve = {"calls": [int(c) for c in raw["calls"]], "mean": [], "ci95_lo": [], "ci95_hi": []}
    for row in J:
        ci = mean_ci95(row)
        curve["mean"].append(ci["mean"])
        curve["ci95_lo"].append(ci["ci95"][0])
        curve["ci95_hi"].append(ci["ci95"][1])
    last = {k: raw[k][-1] for k in ("greedy", "contribution", "p_null", "cmi", "entropy")}
    ent = float(last["entropy"].mean())
    out = {
        "curve": _round(curve),
        "final_J": _round(mean_ci95(J[-1])),
        "auc": _round(mean_ci95(J.mean(0))),
        "calls_to_80pct": _round(metrics.calls_to_reach(raw["calls"], np.asarray(curve["mean"]), 0.8 * opt), 1),
        "snr": _round(raw["snr"]),
        "fidelity": _round(raw["fidelity"]),
        "thinker_contribution": _round(last["contribution"].mean()),
        "p_null": _round(last["p_null"].mean()),
        "cmi_over_h": _round(float(last["cmi"].mean()) / ent) if ent > 0 else None,
        "cmi": _round(last["cmi"].mean()),
        "entropy_h": _round(ent),
        "greedy_final": _round(mean_ci95(last["greedy"])),
        "trained_messages_per_iter": _round(raw["trained_per_iter"], 2),
        "p_null_curve": _round(raw["p_null"].mean(1)),
        "contribution_curve": _round(raw["contribution"].mean(1)),
        "wall_s": _round(raw["wall_s"], 3),
    }
    if "critic_rmse" in raw:
        out["critic_rmse_final"] = _round(raw["critic_rmse"])
    return out


def run_regime(regime: Regime, learners: Sequence[str], st: Settings, log: Callable[[str], None] = print) -> dict:
    """Train ``learners`` in ``regime`` on paired seeds; the regime's entry of results.json."""
    t0 = time.perf_counter()
    world = make_world(regime.knobs)
    tasks, U = paired_streams(world, st)
    opt = optimum(world)
    P0 = init_params(world, 1)
    raw = {name: train(world, LEARNERS[name], st, tasks, U) for name in learners}
    entry = {
        "name": regime.name,
        "hypothesis": regime.hypothesis,
        "knobs": regime.knobs.to_json(),
        "f": _round(f_ratio(world, P0)),
        "optimum_J": _round(opt),
        "init_J": _round(float(evaluate(world, P0).J[0])),
        "judged_on": regime.judged_on,
        "removal_distortion": {"init": _round(metrics.removal_distortion(world)),
                               **({"final_grpo": _round(metrics.removal_distortion(world, raw["grpo"]["P"]))}
                                  if "grpo" in raw else {})},
        "learners": {name: summarise(world, r, opt) for name, r in raw.items()},
        "comparisons": [],
    }
    if "grpo" in raw:
        base = raw["grpo"]["J"]
        for name, r in raw.items():
            if name == "grpo":
                continue
            d_final = paired_diff(r["J"][-1], base[-1])
            d_auc = paired_diff(r["J"].mean(0), base.mean(0))
            judged = d_final if regime.judged_on == "final" else d_auc
            entry["comparisons"].append({
                "learner": name, "baseline": "grpo", "diff_final": _round(d_final), "diff_auc": _round(d_auc),
                "expected_sign": regime.expected.get(name), "verdict": verdict(judged, regime.expected.get(name)),
            })
    entry["wall_s"] = round(time.perf_counter() - t0, 3)
    log(regime_line(entry))
    return entry


def regime_line(entry: dict) -> str:
    """The one progress line of a finished regime."""
    best = max(entry["learners"], key=lambda n: entry["learners"][n]["final_J"]["mean"])
    c3 = next((c for c in entry["comparisons"] if c["learner"] == "c3"), None)
    extra = f", c3 - grpo {c3['diff_final']['mean']:+.3f}" if c3 else ""
    return (f"[lab] {entry['name']:<15} f={entry['f']:.3f} J0={entry['init_J']:.3f} best {best} "
            f"{entry['learners'][best]['final_J']['mean']:.3f}{extra}  ({entry['wall_s']:.1f}s)")
