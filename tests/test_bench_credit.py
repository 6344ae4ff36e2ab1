"""The credit benchmark: held-out disjointness, presets, diagnostics, tables and plots, an end-to-end toy run."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from algorithms.bench.credit import benchmark_tasks, run_credit_benchmark, topology_name
from algorithms.bench.holdout import OverlapError, check_disjoint, disjoint_tasks, normalize_prompt
from algorithms.bench.presets import LEARNERS, PRESETS, get_preset
from algorithms.bench.report import (
    accuracy_ci,
    baseline_rows,
    difference_ci,
    markdown_table,
    mean_std,
    noise_line,
    noise_verdicts,
    summarize,
)
from algorithms.testbed import TestbedConfig
from llm_marl_envs.tasks import load_tasks
from llm_marl_envs.types import Task

ROOT = Path(__file__).resolve().parents[1]
TINY = TestbedConfig(hidden_size=32, num_layers=1, num_heads=2, n_sft_tasks=12, steps=3, batch_size=8, warmup_steps=1)


def _task(i: int, prompt: str) -> Task:
    return Task(id=f"t{i}", kind="math", prompt=prompt, answer="1")


def test_overlap_is_detected_on_normalised_prompts():
    train = [_task(0, "compute (3 + 4) * 2"), _task(1, "compute (5 - 1) * 3")]
    assert normalize_prompt("Compute  (3 + 4) *\n2") == normalize_prompt("compute (3 + 4) * 2")
    with pytest.raises(OverlapError):
        check_disjoint([_task(2, "COMPUTE (3 + 4) * 2 ")], train)
    assert check_disjoint([_task(3, "compute (3 + 4) * 5")], train) == 2
    picked = disjoint_tasks(iter([_task(4, "compute (3 + 4) * 2"), _task(5, "compute (9 + 9) * 9"),
                                  _task(6, "compute (9 + 9) * 9")]), 1, train)
    assert [t.id for t in picked] == ["t5"]
    with pytest.raises(OverlapError):
        disjoint_tasks(iter(train), 1, train)


def test_benchmark_tasks_are_disjoint_from_training_and_sft_data():
    preset = get_preset("quick", n_eval=40, n_train_tasks=200)
    sft = list(load_tasks("arith", seed=TINY.sft_task_seed, difficulty=1)[:300])
    train, held_out = benchmark_tasks(preset, sft)
    assert len(train) == 200 and len(held_out) == 40
    keys = {normalize_prompt(t.prompt) for t in held_out}
    assert not keys & {normalize_prompt(t.prompt) for t in train + sft}


def test_presets_match_the_budget_across_learners():
    for name, preset in PRESETS.items():
        assert set(preset.learners) == set(LEARNERS), name
        assert preset.budget >= 2
    assert "llm-marl/MathDyad-v0" in PRESETS["quick"].env_ids
    assert len(PRESETS["full"].env_ids) >= 2 and len(PRESETS["full"].seeds) >= 3
    toy = get_preset("gpu", toy=True, model="/x")
    assert toy.iterations == 1 and toy.model == "/x" and toy.policy == "hf"
    with pytest.raises(KeyError):
        get_preset("nope")


def test_every_learner_updates_every_role_at_every_step(tmp_path):
    """Regression: CCPO kept the release's alternation (one role per 10-step block), so in an 8-12
    step benchmark it trained the thinker alone while the others trained every role."""
    from algorithms.bench.credit import train_config
    from algorithms.estimators import ESTIMATORS
    from algorithms.learners import LEARNERS as REGISTRY

    for name, preset in PRESETS.items():
        cfg = train_config(preset, preset.env_ids[0], "ccpo", 0, tmp_path)
        learner = REGISTRY.get("ccpo")
        est = ESTIMATORS.get(learner.estimator).make_config({**learner.estimator_kwargs, **cfg.estimator_kwargs})
        assert est.alternate_every == 0, name


def _fake_run(topo: str, learner: str, seed: int, greedy: float, start: float = 0.1) -> dict:
    curve = [
        {"iteration": 0, "evaluator_calls": 0, "generated_tokens": 0, "greedy": start, "pass_at_1": start,
         "pass_at_k": start + 0.1},
        {"iteration": 2, "evaluator_calls": 64, "generated_tokens": 900, "greedy": greedy, "pass_at_1": greedy,
         "pass_at_k": greedy + 0.1},
    ]
    final = {**curve[-1], "optimizer_steps": 2, "wall_s": 1.0, "fidelity": 0.123456789, "within_group_var": 0.01,
             "influence": 0.1, "null_fidelity": 0.01, "upstream_entropy": 0.69}
    return {"topology": topo, "learner": learner, "seed": seed, "curve": curve, "final": final}


def test_accuracy_interval_includes_task_sampling_and_seed_variation():
    one = accuracy_ci([0.25, 0.25], 32)  # no seed spread: the binomial over 32 tasks alone
    assert one["mean"] == 0.25 and one["hi"] - one["mean"] == pytest.approx(1.959964 * (0.25 * 0.75 / 32) ** 0.5, rel=1e-6)
    seeds = accuracy_ci([0.2, 0.3], 10**9)  # many tasks: the seed spread alone, Student t with 1 dof
    assert seeds["hi"] - seeds["mean"] == pytest.approx(12.7062 * np.std([0.2, 0.3], ddof=1) / 2 ** 0.5, rel=1e-4)
    both = accuracy_ci([0.2, 0.3], 32)
    assert both["hi"] - both["mean"] == pytest.approx(np.hypot(both["task_half"], both["seed_half"]))
    assert both["lo"] == 0.0 and both["hi"] <= 1.0  # clipped
    single = accuracy_ci([0.5], 32)
    assert np.isnan(single["seed_half"]) and single["lo"] < 0.5 < single["hi"]
    d = difference_ci([0.5, 0.5], [0.3, 0.3], 10**6)
    assert d["mean"] == pytest.approx(0.2) and d["lo"] > 0


def test_summary_and_table_report_intervals_and_seeds(tmp_path):
    from algorithms.bench.report import plot_diagnostics, plot_learning_curves

    runs = [_fake_run("MathDyad", lr, s, 0.2 + 0.1 * s) for lr in LEARNERS for s in (0, 1)]
    summary = summarize(runs, n_tasks=32)
    cell = summary["MathDyad"]["c3"]["greedy"]
    assert cell["n"] == 2 and cell["mean"] == pytest.approx(0.25) and cell["std"] == pytest.approx(np.std([0.2, 0.3], ddof=1))
    table = markdown_table(summary, baseline=baseline_rows(runs, n_tasks=32), k=4)
    lines = table.splitlines()
    assert len(lines) == 2 + 1 + len(LEARNERS) and "pass@4" in lines[0] and "seeds" in lines[0]
    assert "wall" not in lines[0]  # wall time measures the machine: kept in results.json only
    assert f"| MathDyad | c3 | 2 | 0.250 [{cell['lo']:.3f}, {cell['hi']:.3f}] |" in table and "SFT (no RL)" in table
    assert "0.123 ±" in table and "0.1234" not in table  # short numbers
    paths = plot_learning_curves(runs, tmp_path) + [plot_diagnostics(summary, tmp_path)]
    for p in paths:
        assert p.exists() and p.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_noise_line_says_whether_any_learner_moved_from_the_start():
    flat = [_fake_run("MathDyad", lr, s, 0.1 + 0.01 * s) for lr in LEARNERS for s in (0, 1)]
    line = noise_line(noise_verdicts(flat, n_tasks=32))
    assert line.startswith("No learner differs from the SFT start beyond noise")
    moved = [_fake_run("MathDyad", "c3", s, 0.9) for s in (0, 1, 2)] + [_fake_run("MathDyad", "grpo", s, 0.1) for s in (0, 1, 2)]
    line = noise_line(noise_verdicts(moved, n_tasks=200))
    assert line.startswith("Beyond noise") and "c3 greedy +0.800" in line and "grpo" not in line


def test_mean_std_ignores_missing_values():
    assert mean_std([]) ["n"] == 0
    assert mean_std([1.0, None, float("nan"), 3.0]) == {"mean": 2.0, "std": pytest.approx(2 ** 0.5), "n": 2}


def test_toy_benchmark_end_to_end(tmp_path, monkeypatch):
    """Every learner trains for real (tiny testbed), diagnostics run at frozen contexts, files are written."""
    monkeypatch.setenv("LLM_MARL_CACHE", str(tmp_path / "cache"))
    preset = get_preset("quick", toy=True, budget=4, seeds=(0,), diag_buckets=1, max_tokens=6, eval_k=1)
    out = tmp_path / "out"
    results = run_credit_benchmark(preset, out, testbed_config=TINY, log=None)
    data = json.loads((out / "results.json").read_text())
    assert data["tasks"]["disjoint_checked"] and data["policy"]["kind"] == "testbed"
    runs = data["runs"]
    assert [r["learner"] for r in runs] == list(LEARNERS)
    for run in runs:
        assert run["topology"] == topology_name(preset.env_ids[0])
        # the same budget: B evaluator calls per task, same tasks per iteration and optimiser steps
        assert run["final"]["evaluator_calls"] == preset.budget * preset.tasks_per_iter * preset.iterations
        assert run["final"]["optimizer_steps"] == preset.iterations
        assert [p["iteration"] for p in run["curve"]] == [0, 1]
        diag = run["diagnostics"]
        assert diag["buckets"] == 1 and diag["credit_iteration"] == preset.iterations  # the credits it trained on
        assert {"fidelity", "null_fidelity", "within_group_var", "influence", "upstream_entropy"} <= set(diag)
    assert data["partial"] is False and data["runs_total"] == len(LEARNERS)
    assert "mappo" in {r["learner"] for r in runs if "critic/mse" in r["final"]}
    md = (out / "results.md").read_text()
    assert "integration run" in md and "beyond noise" in md
    for learner in LEARNERS:
        assert f"| {learner} |" in md
    assert set(results["plots"]) == {p.name for p in out.glob("*.png")} and results["plots"]


def test_cli_rejects_gpu_preset_without_a_model():
    out = subprocess.run([sys.executable, "-m", "llm_marl_envs.cli", "bench", "credit", "--gpu"],
                         capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert out.returncode == 2 and "--model" in out.stderr


@pytest.mark.slow
def test_gpu_preset_runs_on_cpu_with_embedded_smollm2_at_toy_size(tmp_path):
    """The GPU preset, unchanged, at toy size on CPU with the embedded SmolLM2-135M-Instruct."""
    out = tmp_path / "gpu-toy"
    proc = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / "credit.py"), "--gpu", "--embedded", "--toy",
         "--learners", "grpo", "c3", "--out", str(out)],
        capture_output=True, text=True, cwd=ROOT, timeout=1800,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    data = json.loads((out / "results.json").read_text())
    assert data["policy"]["kind"] == "hf" and data["tasks"]["disjoint_checked"]
    assert {r["learner"] for r in data["runs"]} == {"grpo", "c3"}
    assert all(r["final"]["evaluator_calls"] > 0 for r in data["runs"])


def test_policy_factory_refuses_a_backend_without_trainable_weights():
    import dataclasses

    from algorithms.bench.credit import PolicyFactory

    with pytest.raises(ValueError, match="trains the policy's weights"):
        PolicyFactory(dataclasses.replace(get_preset("quick", toy=True), policy="random"), log=None)


def test_interrupted_benchmark_resumes_without_redoing_finished_runs(tmp_path, monkeypatch):
    """Ctrl-C after the first run: results.json keeps it marked partial; the same call later runs only the rest."""
    import algorithms.bench.credit as credit

    monkeypatch.setenv("LLM_MARL_CACHE", str(tmp_path / "cache"))
    preset = get_preset("quick", toy=True, learners=("grpo",), seeds=(0, 1), diag_buckets=0, max_tokens=4, eval_k=1)
    out = tmp_path / "out"
    calls = []
    real = credit.run_one

    def interrupt_second(*args, **kw):
        calls.append(args[3:5])
        if len(calls) == 2:
            raise KeyboardInterrupt
        return real(*args, **kw)

    monkeypatch.setattr(credit, "run_one", interrupt_second)
    with pytest.raises(KeyboardInterrupt):
        run_credit_benchmark(preset, out, testbed_config=TINY, log=None, plots=False)
    data = json.loads((out / "results.json").read_text())
    assert data["partial"] is True and [r["seed"] for r in data["runs"]] == [0] and data["runs_total"] == 2
    assert "PARTIAL" in (out / "results.md").read_text()
    calls.clear()
    lines = []
    monkeypatch.setattr(credit, "run_one", lambda *a, **k: (calls.append(a[3:5]), real(*a, **k))[1])
    run_credit_benchmark(preset, out, testbed_config=TINY, log=lines.append, plots=False)
    assert calls == [("grpo", 1)]  # seed 0 was not redone
    assert any("already holds 1 of 2 runs" in line for line in lines)
    data = json.loads((out / "results.json").read_text())
    assert data["partial"] is False and [r["seed"] for r in data["runs"]] == [0, 1]
    # other settings into the same folder: refused in one line, nothing overwritten
    with pytest.raises(credit.ResultsFolderError, match="differs in: iterations"):
        run_credit_benchmark(preset.with_(iterations=2), out, testbed_config=TINY, log=None, plots=False)
    assert json.loads((out / "results.json").read_text())["preset"]["iterations"] == 1


def test_cli_refuses_a_missing_model_before_creating_anything(tmp_path):
    out = tmp_path / "never"
    proc = subprocess.run([sys.executable, "-m", "llm_marl_envs.cli", "bench", "credit", "--gpu", "--model",
                           str(tmp_path / "nonexistent"), "--out", str(out)],
                          capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert proc.returncode == 2 and "no such folder" in proc.stderr and len(proc.stderr.strip().splitlines()) == 1
    assert not out.exists()
    (tmp_path / "other").mkdir()
    (tmp_path / "other" / "notes.txt").write_text("x")
    proc = subprocess.run([sys.executable, "-m", "llm_marl_envs.cli", "bench", "credit", "--quick", "--toy", "--out",
                           str(tmp_path / "other")], capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert proc.returncode == 2 and "holds no results.json" in proc.stderr
