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
from algorithms.trainer import Trainer
from llm_marl_envs.tasks import load_tasks

TINY = TestbedConfig(hidden_size=32, num_layers=1, num_heads=2, n_sft_tasks=12, steps=2, batch_size=8, warmup_steps=1)


def test_preset_trains_and_evaluates_on_disjoint_tasks_outside_the_sft_data():
    cfg = preset_config("testbed")
    assert cfg.backend == "testbed" and cfg.eval_tasks == cfg.tasks == HELD_OUT_SOURCE
    held = list(load_tasks(cfg.eval_tasks, **cfg.eval_task_kwargs))[: cfg.n_eval]
    train = list(load_tasks(cfg.tasks, **cfg.task_kwargs))
    assert len(held) == cfg.n_eval >= 200  # ~±0.07 on an accuracy near 0.5, not ±0.17 as with 32
    assert len(train) == 24 > cfg.tasks_per_iter
    check_disjoint(held, sft_tasks(TestbedConfig()))  # raises on any overlap
    check_disjoint(train, sft_tasks(TestbedConfig()))
    check_disjoint(train, held)
    assert len({t.prompt for t in held + train}) == len(held) + len(train)


def test_held_out_source_slices_are_the_same_tasks_and_bad_slices_are_one_line_errors():
    whole = [t.id for t in held_out_source(224)]
    assert [t.id for t in held_out_source(24, start=200)] == whole[200:]
    for kwargs in ({"n": 0}, {"start": -1}):
        with pytest.raises(ValueError, match="testbed_heldout: start must be >= 0 and n >= 1"):
            held_out_source(**kwargs)


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


def test_train_evaluation_uses_the_tasks_training_samples_and_never_a_held_out_one(tmp_path):
    folder = pretrain(TINY, tmp_path / "tb", log=None)
    cfg = preset_config("testbed", model=str(folder), iterations=3, tasks_per_iter=2, n_eval=3, eval_k=2,
                        n_train_eval=4, max_tokens=6, out_dir=str(tmp_path / "run"), progress=False, tensorboard=False)
    trainer = PerTaskTrainer(cfg)
    sampled = [t.id for i in (1, 2, 3) for t in trainer.sample_tasks(i)]
    assert [t.id for t in trainer.train_eval_list] == list(dict.fromkeys(sampled))[:4]
    assert not {t.prompt for t in trainer.train_eval_list} & {t.prompt for t in trainer.eval_list}
    res = trainer.evaluate(0)
    assert res["eval/n_tasks"] == 3 and res["train_eval/n_tasks"] == 4
    rows = trainer.per_train_task[0].values()  # the per-task record is the trainer's own train_eval numbers
    assert np.mean([r["greedy"] for r in rows]) == pytest.approx(res["train_eval/greedy_accuracy"])
    assert np.mean([r["pass@1"] for r in rows]) == pytest.approx(res["train_eval/pass@1"])
    assert preset_config("testbed", n_train_eval=0).n_train_eval == 0 and not Trainer(
        preset_config("testbed", model=str(folder), n_train_eval=0, out_dir=str(tmp_path / "off"))).train_eval_list


def test_learning_run_reports_paired_before_and_after(tmp_path):
    folder = pretrain(TINY, tmp_path / "tb", log=None)
    run = learning_run(3, out_dir=tmp_path, overrides={"model": str(folder), "iterations": 2, "budget": 4,
                                                       "tasks_per_iter": 1, "n_eval": 4, "eval_k": 2, "max_tokens": 6,
                                                       "n_train_eval": 5})
    assert run["seed"] == 3 and run["n_eval_tasks"] == 4 and run["iterations"] == 2
    assert run["n_train_eval_tasks"] == 2  # the distinct tasks of 2 iterations x 1 task (fewer than 5)
    for metric in ("greedy", "pass@1", "train greedy", "train pass@1"):
        m = run[metric]
        assert m["diff"] == pytest.approx(m["after"] - m["before"]) and m["lo"] <= m["diff"] <= m["hi"]
    assert run["wall_s"] > 0 and len(run["loadavg_before"]) == 3


@pytest.mark.slow
def test_the_testbed_preset_learns_its_training_tasks_and_keeps_its_held_out_accuracy(tmp_path):
    """The README's command, one seed, on the shipped testbed: greedy accuracy on the 24 training tasks
    rises (the 95% interval of the paired change is above 0), and on the 200 held-out tasks it does not
    fall beyond the noise (measured 2026-12-02, 3 seeds: README, "or, on a CPU")."""
    run = learning_run(0, out_dir=tmp_path)
    assert run["n_eval_tasks"] == PRESETS.get("testbed")["n_eval"] == 200 and run["n_train_eval_tasks"] == 24
    assert run["train greedy"]["lo"] > 0, run["train greedy"]
    assert run["greedy"]["hi"] > 0, run["greedy"]
