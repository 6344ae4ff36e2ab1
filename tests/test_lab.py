"""The exact credit lab (tier 1): exact J at init against loop code, gradients, Adam, statistics, CLI, layout."""

from __future__ import annotations

import argparse
import json
import math
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from algorithms.bench.lab import cli, metrics, stats
from algorithms.bench.lab.learners import LEARNERS
from algorithms.bench.lab.policy import Adam, Messages, pg_gradient
from algorithms.bench.lab.regimes import REGIMES
from algorithms.bench.lab.run import Settings, paired_streams, run_regime, train
from algorithms.bench.lab.sim import Knobs, Layout, evaluate, init_params, make_world, tables

ROOT = Path(__file__).resolve().parents[1]


# ------------------------------------------------------------------------------------------------ exact J at init
def _loop_J(k: Knobs) -> float:
    """credit-lab.md §1–2 written out with plain loops: no code shared with the simulator but the split."""
    from llm_marl_envs.tasks.hint import hint_split

    split = hint_split(k.C, held_frac=k.held_frac, split_seed=k.split_seed, solo_frac=k.solo_frac)
    follow = list(k.follow) if isinstance(k.follow, (list, tuple)) else [k.follow] * k.C
    total = 0.0
    for i in split.held_out:
        i = int(i)
        ab, c = divmod(i, k.C)
        a, b = divmod(ab, 10)
        u = (a + b) % 10
        y = (3 * u + c) % 10
        V = 0.0
        for m in range(11):
            p_m = k.p_think if m == u else k.p_null if m == 10 else (1 - k.p_think - k.p_null) / 9
            logits = []
            for ans in range(10):
                z = 0.0
                if m != 10 and ans == (3 * m + c) % 10:
                    z += follow[c]
                if split.solo[i] and ans == y:
                    z += k.solo_logit
                logits.append(z)
            norm = sum(math.exp(z) for z in logits)
            Q = sum(math.exp(z) / norm * ((1 - k.eps) if ans == y else k.eps) for ans, z in enumerate(logits))
            V += p_m * Q
        total += V
    return total / len(split.held_out)


@pytest.mark.parametrize("name", list(REGIMES))
def test_exact_J_at_init_matches_loop_definition(name: str) -> None:
    k = REGIMES[name].knobs
    world = make_world(k)
    J = evaluate(world, init_params(world, 3)).J
    assert np.allclose(J, _loop_J(k), atol=1e-12, rtol=0)


def test_init_probabilities_are_the_knobs() -> None:
    k = Knobs(p_think=0.4, p_null=0.1)
    world = make_world(k)
    pi_T, _ = tables(world, init_params(world, 1), world.held)
    u = world.u[world.held]
    assert np.allclose(pi_T[0, np.arange(len(u)), u], 0.4)
    assert np.allclose(pi_T[0, :, 10], 0.1)
    assert np.allclose(pi_T[0].sum(-1), 1.0)


def test_bad_knobs_raise_naming_the_field() -> None:
    with pytest.raises(ValueError, match="frozen"):
        Knobs(frozen=("nope",))
    with pytest.raises(ValueError, match="p_think"):
        Knobs(p_think=0.9, p_null=0.2)
    with pytest.raises(ValueError, match="follow"):
        Knobs(follow=(1.0, 2.0))


# ------------------------------------------------------------------------------------------------ gradient and Adam
def _loglik(world, P, msg: Messages) -> float:
    pi_T, pi_R = tables(world, P, msg.x)
    S, T = msg.x.shape
    s, t = np.arange(S)[:, None, None], np.arange(T)[None, :, None]
    lt = np.log(pi_T[s, t, msg.mT]) * msg.wT
    lr = np.log(pi_R[s, t, msg.mR, msg.aR]) * msg.wR
    return float(lt.sum() + lr.sum())


def test_pg_gradient_matches_finite_differences() -> None:
    world = make_world(Knobs(C=2, solo_frac=0.3))
    rng = np.random.default_rng(0)
    P = init_params(world, 2) + rng.normal(scale=0.3, size=(2, Layout(2, world.n_tasks).D))
    x = world.train[rng.integers(0, len(world.train), size=(2, 3))]
    msg = Messages(x=x, mT=rng.integers(0, 11, (2, 3, 4)), wT=rng.normal(size=(2, 3, 4)),
                   mR=rng.integers(0, 11, (2, 3, 5)), aR=rng.integers(0, 10, (2, 3, 5)), wR=rng.normal(size=(2, 3, 5)))
    pi_T, pi_R = tables(world, P, x)
    g = pg_gradient(world, pi_T, pi_R, msg)
    nz = np.flatnonzero(np.abs(g).sum(0) > 1e-9)
    coords = np.concatenate([rng.choice(nz, 40, replace=False), [Layout(2, world.n_tasks).slices["s_T"].start],
                             np.arange(Layout(2, world.n_tasks).slices["s_R"].start, Layout(2, world.n_tasks).D)])
    h = 1e-6
    for j in coords:
        Pp, Pm = P.copy(), P.copy()
        Pp[:, j] += h
        Pm[:, j] -= h
        # the seeds are independent: perturbing coordinate j of both seeds sums their partials
        num = (_loglik(world, Pp, msg) - _loglik(world, Pm, msg)) / (2 * h)
        assert abs(num - g[:, j].sum()) < 1e-6, j


def test_adam_matches_torch() -> None:
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(1)
    mask = np.array([True, True, False, True, True, False, True])
    P = rng.normal(size=(3, 7))
    adam = Adam(0.05, mask)
    state = adam.init(3)
    p_t = torch.tensor(P[:, mask].copy(), requires_grad=True)
    opt = torch.optim.Adam([p_t], lr=0.05)
    for _ in range(5):
        ascent = rng.normal(size=(3, 7))
        adam.step(P, ascent, state)
        opt.zero_grad()
        p_t.grad = torch.tensor(-ascent[:, mask])
        opt.step()
    assert np.allclose(P[:, mask], p_t.detach().numpy(), atol=1e-12)


@pytest.mark.parametrize("learner", ["grpo", "mappo", "ccpo", "c3", "rae"])
def test_learning_rate_zero_leaves_J_unchanged(learner: str) -> None:
    world = make_world(REGIMES["tabular"].knobs)
    st = Settings(seeds=3, iterations=6, lr=0.0, snr=False)
    tasks, U = paired_streams(world, st)
    raw = train(world, LEARNERS[learner], st, tasks, U)
    J0 = evaluate(world, init_params(world, 1)).J[0]
    assert np.allclose(raw["J"], J0, atol=0, rtol=0)
    assert np.array_equal(raw["P"], init_params(world, 3))


def test_learning_moves_J_and_seeds_are_paired() -> None:
    world = make_world(REGIMES["tabular"].knobs)
    st = Settings(seeds=3, iterations=20, snr=False)
    tasks, U = paired_streams(world, st)
    a = train(world, LEARNERS["grpo"], st, tasks, U)
    b = train(world, LEARNERS["grpo"], st, tasks, U)
    assert np.array_equal(a["J"], b["J"])  # deterministic given the streams
    assert a["J"][-1].mean() > a["J"][0].mean() + 0.01
    t2, _ = paired_streams(world, Settings(seeds=4, iterations=20))
    assert np.array_equal(t2[:3], tasks)  # seed s's stream does not depend on how many seeds run


# ------------------------------------------------------------------------------------------------ statistics
def test_t_quantile_known_values() -> None:
    for df, q in ((1, 12.706204736), (2, 4.302652730), (31, 2.039513446), (63, 1.998340543), (1000, 1.962339)):
        assert abs(stats.t_quantile(0.975, df) - q) < 1e-6


def test_paired_diff_on_synthetic_data_with_known_answer() -> None:
    rng = np.random.default_rng(2)
    b = rng.normal(size=64)
    exact = stats.paired_diff(b + 0.1, b)  # constant shift: zero-width interval at 0.1
    assert abs(exact["mean"] - 0.1) < 1e-12 and abs(exact["ci95"][1] - exact["ci95"][0]) < 1e-12
    d = np.array([1.0, 2.0, 3.0, 4.0])
    ci = stats.paired_diff(d, np.zeros(4))
    half = stats.t_quantile(0.975, 3) * math.sqrt(5.0 / 3.0) / 2.0
    assert abs(ci["mean"] - 2.5) < 1e-12 and abs(ci["ci95"][0] - (2.5 - half)) < 1e-9
    assert abs(stats.t_quantile(0.975, 3) - 3.182446305) < 1e-6
    # coverage: the 95% interval of a known mean covers it about 95% of the time
    hits = 0
    for _ in range(400):
        a, base = rng.normal(0.3, 1.0, 10), rng.normal(0.0, 1.0, 10)
        lo, hi = stats.paired_diff(a, base)["ci95"]
        hits += lo <= 0.3 <= hi
    assert 0.91 <= hits / 400 <= 0.98
    with pytest.raises(ValueError, match="seed counts"):
        stats.paired_diff(np.zeros(3), np.zeros(4))
    with pytest.raises(ValueError, match="2 seeds"):
        stats.mean_ci95([1.0])


def test_verdict_rule() -> None:
    held = {"mean": 0.05, "ci95": [0.04, 0.06]}
    assert stats.verdict(held, 1) == "hypothesis held"
    assert stats.verdict(held, -1) == "hypothesis failed"
    assert stats.verdict(held, 0) == "hypothesis failed"
    assert stats.verdict(held, None) == "differs"
    assert stats.verdict({"mean": 0.05, "ci95": [-0.01, 0.11]}, 1) == "no practical difference"
    assert stats.verdict({"mean": -0.008, "ci95": [-0.009, -0.007]}, -1) == "no practical difference"


def test_grouped_spearman_equals_per_group_spearman() -> None:
    rng = np.random.default_rng(3)
    credit = rng.integers(0, 4, (6, 8)).astype(float)
    target = rng.normal(size=(6, 8)).round(1)
    group = rng.integers(0, 3, (6, 8))
    mask = rng.random((6, 8)) < 0.85
    total, n = metrics.grouped_spearman(credit, target, group, mask)
    ref = []
    for b in range(6):
        for g in np.unique(group[b]):
            sel = (group[b] == g) & mask[b]
            if sel.sum() >= 2:
                r = stats.spearman(credit[b, sel], target[b, sel])
                if not math.isnan(r):
                    ref.append(r)
    assert abs(n - len(ref)) < 1e-9 and abs(total - sum(ref)) < 1e-12


# ------------------------------------------------------------------------------------------------ runner, report, CLI
def _args(*argv: str) -> argparse.Namespace:
    p = argparse.ArgumentParser()
    cli.add_arguments(p)
    return p.parse_args(list(argv))


def test_quick_smoke_writes_the_results_layout(tmp_path: Path) -> None:
    out = tmp_path / "lab"
    code = cli.run(_args("--quick", "--seeds", "2", "--iterations", "4", "--out", str(out), "--no-tier2"))
    assert code == 0
    res = json.loads((out / "results.json").read_text())
    for key in ("preset", "seeds", "iterations", "budget", "wall_s", "machine", "git", "regimes", "tier2"):
        assert key in res
    assert res["preset"] == "quick" and res["seeds"] == 2 and res["budget"] == 8
    assert [r["name"] for r in res["regimes"]] == ["tabular", "frozen_thinker", "free_riding"]
    for reg in res["regimes"]:
        for key in ("name", "hypothesis", "knobs", "f", "learners", "comparisons"):
            assert key in reg
        assert set(reg["knobs"]) == {"C", "p_think", "p_null", "follow", "solo_frac", "solo_logit", "eps",
                                     "held_frac", "split_seed", "frozen"}
        for lr in reg["learners"].values():
            for key in ("curve", "final_J", "auc", "calls_to_80pct", "snr", "fidelity", "thinker_contribution",
                        "p_null", "cmi_over_h", "trained_messages_per_iter"):
                assert key in lr
            assert set(lr["curve"]) == {"calls", "mean", "ci95_lo", "ci95_hi"} and lr["curve"]["calls"][0] == 0
            assert set(lr["snr"]) == {"thinker", "reasoner"} and set(lr["fidelity"]) == {"within", "pooled"}
            assert set(lr["final_J"]) == {"mean", "ci95"}
        for c in reg["comparisons"]:
            assert c["baseline"] == "grpo" and {"learner", "diff_final", "diff_auc", "verdict"} <= set(c)
    md = (out / "results.md").read_text()
    assert "| tabular | c3 |" in md and "How to read" in md
    assert (out / "curves.png").stat().st_size > 1000 and (out / "free_riding.png").exists()


def test_trained_messages_per_iteration() -> None:
    res = run_regime(REGIMES["tabular"], ["grpo", "ccpo", "ccpo_alt", "c3"], Settings(seeds=2, iterations=3, snr=False),
                     log=lambda s: None)
    n = {k: v["trained_messages_per_iter"] for k, v in res["learners"].items()}
    assert n == {"grpo": 128, "ccpo": 64, "ccpo_alt": 32, "c3": 80}


@pytest.mark.parametrize("argv, needle", [
    (("--regimes", "nope"), "unknown regime(s) nope; valid: tabular, shared"),
    (("--learners", "c4"), "unknown learner(s) c4; valid: grpo"),
    (("--seeds", "1"), "--seeds must be >= 2"),
    (("--iterations", "0"), "--iterations must be >= 1"),
])
def test_bad_arguments_give_one_line_errors(argv: tuple[str, ...], needle: str) -> None:
    with pytest.raises(ValueError) as e:
        cli.resolve(_args(*argv))
    assert needle in str(e.value) and "\n" not in str(e.value)


def test_bad_arguments_through_the_top_level_cli() -> None:
    proc = subprocess.run([sys.executable, "-m", "llm_marl_envs.cli", "bench", "lab", "--regimes", "nope"],
                          cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2
    lines = [ln for ln in proc.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1 and "valid: tabular" in lines[0]


def test_tier2_joins_the_report_beside_tier1(tmp_path: Path) -> None:
    tier2 = pytest.importorskip("algorithms.bench.lab.tier2")
    out = tmp_path / "lab2"
    code = cli.run(_args("--regimes", "tabular", "--learners", "grpo", "c3", "--seeds", "2", "--iterations", "2",
                         "--tier2", "--tier2-seeds", "2", "--tier2-iterations", "2", "--out", str(out), "--no-plots",
                         "--no-snr"))
    assert code == 0
    res = json.loads((out / "results.json").read_text())
    assert [r["name"] for r in res["tier2"]] == list(tier2.TIER2_REGIMES)
    for reg in res["tier2"]:
        assert {"name", "hypothesis", "knobs", "learners", "comparisons"} <= set(reg)
    assert "## Tier 2" in (out / "results.md").read_text()


def test_jobs_run_regimes_in_processes_in_order(tmp_path: Path) -> None:
    out = tmp_path / "lab3"
    argv = ("--regimes", "shared", "tabular", "--learners", "grpo", "c3", "--seeds", "2", "--iterations", "2",
            "--no-tier2", "--no-plots", "--no-snr", "--out", str(out))
    assert cli.run(_args(*argv, "--jobs", "2")) == 0
    par = json.loads((out / "results.json").read_text())
    assert cli.run(_args(*argv, "--jobs", "1")) == 0
    ser = json.loads((out / "results.json").read_text())
    assert [r["name"] for r in par["regimes"]] == ["shared", "tabular"]
    for a, b in zip(par["regimes"], ser["regimes"], strict=True):
        assert a["learners"]["c3"]["curve"]["mean"] == b["learners"]["c3"]["curve"]["mean"]
    assert cli.resolve(_args("--full")).get("jobs") in (1, 2) and cli.resolve(_args("--quick"))["jobs"] == 1
