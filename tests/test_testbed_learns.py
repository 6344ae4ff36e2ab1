"""The ``testbed`` training preset (the README's CPU example): its held-out tasks are never trained on,
the per-task before/after record is the trainer's own evaluation, and (slow) a run learns."""

from __future__ import annotations

import math

import numpy as np
import pytest

from algorithms.bench.holdout import check_disjoint
from algorithms.presets import PRESETS, preset_config
from algorithms.testbed import TestbedConfig, pretrain, sft_tasks
from algorithms.testbed.evaluate import HELD_OUT_SOURCE, held_out_source
from algorithms.testbed.learns import PerTaskTrainer, learning_run, paired_interval
from llm_marl_envs.tasks import load_tasks

TINY = TestbedConfig(hidden_size=32, num_layers=1, num_heads=2, n_sft_tasks=12, steps=2, batch_size=8, warmup_steps=1)


def test_preset_evaluates_on_tasks_outside_the_sft_data():
    cfg = preset_config("testbed")
    assert cfg.backend == "testbed" and cfg.eval_tasks == HELD_OUT_SOURCE
    assert cfg.task_kwargs == {"difficulty": TestbedConfig().difficulty, "max_operand": TestbedConfig().max_operand}
    held = list(load_tasks(cfg.eval_tasks, **cfg.eval_task_kwargs))[: cfg.n_eval]
    assert len(held) == cfg.n_eval >= 200  # ~±0.06 on an accuracy near 0.2, not ±0.17 as with 32
    check_disjoint(held, sft_tasks(TestbedConfig()))  # raises on any overlap
    assert len({t.prompt for t in held}) == len(held)


def test_held_out_source_never_overlaps_the_sft_data():
    """``arith`` with operands up to 9 has 1,008 distinct prompts; the SFT data covers 549 of them, and
    the held-out source is 400 of the others, each once."""
    sft = {t.prompt for t in sft_tasks(TestbedConfig())}
    held = [t.prompt for t in held_out_source(400)]
    assert len(sft) == 549 and len(held) == len(set(held)) == 400 and not set(held) & sft


def test_paired_interval_is_the_student_t_interval_of_the_differences():
    before = [0, 0, 1, 0, 1, 0, 0, 1]
    after = [1, 0, 1, 1, 1, 0, 1, 1]
    d = np.subtract(after, before)
    res = paired_interval(before, after)
    half = 2.364624251 * d.std(ddof=1) / math.sqrt(len(d))  # t(0.975, 7)
    assert res["diff"] == pytest.approx(0.375) and res["n"] == 8
    assert res["lo"] == pytest.approx(0.375 - half, abs=1e-6) and res["hi"] == pytest.approx(0.375 + half, abs=1e-6)
    with pytest.raises(ValueError):
        paired_interval([1], [0])


def test_per_task_record_is_the_trainers_own_evaluation(tmp_path):
    """The per-task outcomes average to exactly the eval/* numbers the trainer logs (same episodes)."""
    folder = pretrain(TINY, tmp_path / "tb", log=None)
    cfg = preset_config("testbed", model=str(folder), iterations=1, budget=4, tasks_per_iter=1, n_eval=6, eval_k=2,
                        max_tokens=6, out_dir=str(tmp_path / "run"), progress=False, tensorboard=False)
    trainer = PerTaskTrainer(cfg)
    history = trainer.train().history
    assert sorted(trainer.per_task) == [0, 1]
    for record in (history[0], history[-1]):
        rows = trainer.per_task[record["iteration"]].values()
        assert len(rows) == 6
        assert np.mean([r["greedy"] for r in rows]) == pytest.approx(record["eval/greedy_accuracy"])
        assert np.mean([r["pass@1"] for r in rows]) == pytest.approx(record["eval/pass@1"])


def test_learning_run_reports_paired_before_and_after(tmp_path):
    folder = pretrain(TINY, tmp_path / "tb", log=None)
    run = learning_run(3, out_dir=tmp_path, overrides={"model": str(folder), "iterations": 1, "budget": 4,
                                                       "tasks_per_iter": 1, "n_eval": 4, "eval_k": 2, "max_tokens": 6})
    assert run["seed"] == 3 and run["n_eval_tasks"] == 4 and run["iterations"] == 1
    for metric in ("greedy", "pass@1"):
        m = run[metric]
        assert m["diff"] == pytest.approx(m["after"] - m["before"]) and m["lo"] <= m["diff"] <= m["hi"]
    assert run["wall_s"] > 0 and len(run["loadavg_before"]) == 3


@pytest.mark.slow
@pytest.mark.xfail(strict=True, reason="measured 2026-12-02 (helpers/readme/testbed.md): RL does not raise the "
                   "1M-parameter testbed's held-out accuracy beyond noise (this preset, 2 seeds: greedy +0.022 "
                   "[-0.023, +0.068], pass@1 +0.002 [-0.019, +0.023]; lr 2e-4: -0.095 [-0.156, -0.034]); an XPASS "
                   "means the preset learns: update the README")
def test_the_testbed_preset_learns(tmp_path):
    """The README's command, one seed, on the real (cached or built) testbed: held-out pass@1 rises
    and the 95% interval of the paired change excludes 0."""
    run = learning_run(0, out_dir=tmp_path)
    assert run["n_eval_tasks"] == PRESETS.get("testbed")["n_eval"]
    assert run["pass@1"]["lo"] > 0, run["pass@1"]
