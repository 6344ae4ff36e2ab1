"""Exact resume: a run killed after a checkpoint and resumed gives the numbers of an uninterrupted run."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import torch

HERE = Path(__file__).resolve().parent
TIMING = ("wall_s", "rollout_s", "eval/wall_s")


def config(learner: str, out_dir: str, iterations: int = 3):
    from test_alg_trainer import digit_config

    return digit_config(learner, out_dir, iterations=iterations, tasks_per_iter=2, eval_every=2, eval_k=2,
                        save_every=1, resume=True)


def trainer(learner: str, out_dir: str, iterations: int = 3, **kw):
    from test_alg_trainer import digit_trainer, tiny_policy

    return digit_trainer(config(learner, out_dir, iterations), tiny_policy(0), **kw)


def comparable(history, *, evals: bool = True):
    return [{k: v for k, v in h.items() if k not in TIMING and (evals or not k.startswith("eval/"))} for h in history]


def test_killed_run_resumes_with_identical_numbers(tmp_path):
    full = trainer("ccpo", str(tmp_path / "full"))
    ref = full.train()

    out = tmp_path / "killed"
    child = subprocess.run([sys.executable, __file__, "ccpo", str(out)], capture_output=True, text=True, timeout=600,
                           cwd=HERE.parent)
    assert child.returncode == -signal.SIGKILL, child.stderr[-3000:]
    lines = (out / "metrics.jsonl").read_text().splitlines()
    assert [json.loads(x)["iteration"] for x in lines] == [0, 1, 2]  # died right after iteration 2

    resumed = trainer("ccpo", str(out))
    assert resumed.iteration == 2 and resumed.estimator_state["history"]["n_updates"] == 2
    res = resumed.train()
    assert comparable(res.history) == comparable(ref.history)
    for a, b in zip(full.models[0].parameters(), resumed.models[0].parameters(), strict=True):
        assert torch.equal(a, b)
    assert [json.loads(x)["iteration"] for x in (out / "metrics.jsonl").read_text().splitlines()] == [0, 1, 2, 3]


def test_in_process_resume_restores_the_critic(tmp_path):
    ref = trainer("mappo", str(tmp_path / "full"), iterations=2)
    ref_hist = ref.train().history
    trainer("mappo", str(tmp_path / "split"), iterations=1).train()
    resumed = trainer("mappo", str(tmp_path / "split"), iterations=2)
    hist = resumed.train().history
    # the split run's first part ended at iteration 1 and evaluated there; the rest is identical
    assert comparable(hist, evals=False) == comparable(ref_hist, evals=False)
    assert comparable(hist[-1:]) == comparable(ref_hist[-1:])
    for a, b in zip(ref.critic.parameters(), resumed.critic.parameters(), strict=True):
        assert torch.equal(a, b)


def _kill_after_two(trainer, record):
    if record["iteration"] == 2:
        os.kill(os.getpid(), signal.SIGKILL)


if __name__ == "__main__":  # the child process of the kill test
    sys.path.insert(0, str(HERE))
    trainer(sys.argv[1], sys.argv[2], callbacks={"on_iteration_end": _kill_after_two}).train()
