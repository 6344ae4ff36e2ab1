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
from algorithms.bench.report import markdown_table, mean_std, summarize
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


def _fake_run(topo: str, learner: str, seed: int, greedy: float) -> dict:
    curve = [
        {"iteration": 0, "evaluator_calls": 0, "generated_tokens": 0, "greedy": 0.1, "pass_at_1": 0.1, "pass_at_k": 0.2},
        {"iteration": 2, "evaluator_calls": 64, "generated_tokens": 900, "greedy": greedy, "pass_at_1": greedy,
         "pass_at_k": greedy + 0.1},
    ]
    final = {**curve[-1], "optimizer_steps": 2, "wall_s": 1.0, "fidelity": 0.5, "within_group_var": 0.01,
             "influence": 0.1}
    return {"topology": topo, "learner": learner, "seed": seed, "curve": curve, "final": final}


def test_summary_and_table_report_mean_and_std_over_seeds(tmp_path):
    from algorithms.bench.report import plot_diagnostics, plot_learning_curves

    runs = [_fake_run("MathDyad", lr, s, 0.2 + 0.1 * s) for lr in LEARNERS for s in (0, 1)]
    summary = summarize(runs)
    cell = summary["MathDyad"]["c3"]["greedy"]
    assert cell["n"] == 2 and cell["mean"] == pytest.approx(0.25) and cell["std"] == pytest.approx(np.std([0.2, 0.3], ddof=1))
    table = markdown_table(summary, baseline={"MathDyad": {"greedy": mean_std([0.1, 0.1])}}, k=4)
    lines = table.splitlines()
    assert len(lines) == 2 + 1 + len(LEARNERS) and "pass@4" in lines[0]
    assert "| MathDyad | c3 | 0.250 ± 0.071 |" in table and "SFT (no RL)" in table
    paths = plot_learning_curves(runs, tmp_path) + [plot_diagnostics(summary, tmp_path)]
    for p in paths:
        assert p.exists() and p.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


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
        assert run["diagnostics"]["buckets"] >= 1
        assert {"c3", "grpo", "random"} <= set(run["diagnostics"]["methods"])
    md = (out / "results.md").read_text()
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
