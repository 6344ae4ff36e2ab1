"""Does RL on the testbed learn? Accuracy before and after a ``--preset testbed`` run, per task, with
paired 95% intervals, for one or more training seeds: on held-out tasks (what RL generalises to) and
on the distinct tasks training samples (``n_train_eval``, ``--train-eval N``: what RL fits).

    .venv/bin/python -m algorithms.testbed.learns --seeds 0,1,2          # the preset as the README runs it
    .venv/bin/python -m algorithms.testbed.learns --seeds 0 --set lr=3e-4 --set learner=grpo

The trainer evaluates at iteration 0 (the SFT start) and at the end; :class:`PerTaskTrainer` keeps the
per-task outcomes of those same evaluations (the same episodes the trainer's ``eval/*`` numbers are
computed from), so before/after are paired by task; the training tasks are evaluated the same way at
the same two points. Intervals (:func:`paired_interval`): Student t over tasks of the per-task
difference (greedy: correct 0/1; pass@1: the share of ``eval_k`` samples correct); over seeds, the
per-task differences are first averaged over seeds.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from ..trainer import Trainer


def paired_interval(before: Sequence[float], after: Sequence[float]) -> dict[str, float]:
    """Mean of ``after - before`` (paired by index) and its two-sided 95% Student-t interval."""
    from ..bench.lab.stats import t_quantile

    d = np.asarray(after, dtype=np.float64) - np.asarray(before, dtype=np.float64)
    if d.ndim != 1 or len(d) < 2:
        raise ValueError(f"paired_interval: need two equal-length sequences of >= 2 values, got shape {d.shape}")
    mean = float(d.mean())
    half = t_quantile(0.975, len(d) - 1) * float(d.std(ddof=1)) / math.sqrt(len(d))
    return {"diff": mean, "lo": mean - half, "hi": mean + half, "n": len(d)}


class _RecordingRunner:
    """Forwards everything to a rollout runner and keeps the episodes ``run_episodes`` returns."""

    def __init__(self, runner: Any) -> None:
        object.__setattr__(self, "_runner", runner)
        object.__setattr__(self, "calls", [])

    def __getattr__(self, name: str) -> Any:
        return getattr(self._runner, name)

    def __setattr__(self, name: str, value: Any) -> None:
        setattr(self._runner, name, value)

    def run_episodes(self, *args: Any, **kwargs: Any) -> list:
        episodes = self._runner.run_episodes(*args, **kwargs)
        self.calls.append(episodes)
        return episodes


def _per_task(episodes: list) -> dict[str, list[bool]]:
    """``{"g<j>/<task id>": [correct, ...]}`` in task order (the runner's group ids are ``r<run>/g<j>/<id>``)."""
    out: dict[str, list[bool]] = {}
    for ep in episodes:
        out.setdefault(ep.group_id.split("/", 1)[1], []).append(bool(ep.verdict.correct))
    return out


def _outcomes(calls: list) -> dict[str, dict[str, Any]]:
    """Per task: the greedy outcome (0/1) and the share of sampled episodes correct (``None``: k = 0)."""
    greedy = _per_task(calls[0])
    sampled = _per_task(calls[1]) if len(calls) > 1 else {}
    return {key: {"greedy": float(greedy[key][0]),
                  "pass@1": float(np.mean(sampled[key])) if key in sampled else None} for key in greedy}


class PerTaskTrainer(Trainer):
    """A :class:`~algorithms.trainer.Trainer` that also keeps, for every evaluation, each held-out
    task's greedy outcome and its sampled outcomes (``self.per_task[iteration]``), and the same for
    the training tasks of ``n_train_eval`` (``self.per_train_task``)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.per_task: dict[int, dict[str, dict[str, Any]]] = {}
        self.per_train_task: dict[int, dict[str, dict[str, Any]]] = {}

    def evaluate(self, iteration: int, *, progress: bool = False) -> dict[str, Any]:
        recorder = _RecordingRunner(self.runner)
        runner, self.runner = self.runner, recorder
        try:
            res = super().evaluate(iteration, progress=progress)
        finally:
            self.runner = runner
        passes = 2 if self.cfg.eval_k > 0 else 1  # greedy, then sampled; held-out first, then training
        self.per_task[iteration] = _outcomes(recorder.calls[:passes])
        if self.train_eval_list:
            self.per_train_task[iteration] = _outcomes(recorder.calls[passes:])
        return res


def learning_run(seed: int, *, preset: str = "testbed", out_dir: str | Path | None = None,
                 overrides: dict[str, Any] | None = None, policy: Any = None, eval_tasks: Any = None,
                 progress: bool = False) -> dict[str, Any]:
    """Train ``preset`` with ``seed`` and return the held-out accuracies before and after, per task
    and in total, with paired 95% intervals, and the wall times and load average of the run."""
    from ..presets import preset_config

    out = Path(out_dir) if out_dir is not None else Path(tempfile.mkdtemp(prefix=f"testbed-learns-{seed}-"))
    cfg = preset_config(preset, **{"seed": seed, "out_dir": str(out / f"seed{seed}"), "progress": progress,
                                   "tensorboard": False, "resume": False, **(overrides or {})})
    load_before = os.getloadavg()
    t0 = time.perf_counter()
    trainer = PerTaskTrainer(cfg, policy=policy, eval_tasks=eval_tasks)
    t_build = time.perf_counter() - t0
    result = trainer.train()
    wall = time.perf_counter() - t0
    first, last = result.history[0], result.history[-1]
    start, end = trainer.per_task[first["iteration"]], trainer.per_task[last["iteration"]]
    run: dict[str, Any] = {
        "seed": seed, "config": {k: v for k, v in cfg.to_dict().items() if k in (overrides or {}) or k in _SHOWN},
        "n_eval_tasks": len(start), "iterations": last["iteration"], "wall_s": wall, "setup_s": t_build,
        "train_wall_s": last["wall_s"], "eval_wall_s": sum(r.get("eval/wall_s", 0.0) for r in result.history),
        "loadavg_before": list(load_before), "loadavg_after": list(os.getloadavg()),
        "curve": [{k: r.get(k) for k in ("iteration", "train_reward_mean", "eval/greedy_accuracy", "eval/pass@1")}
                  for r in result.history],
    }
    evaluations = [("", start, end)]
    if trainer.per_train_task:
        run["n_train_eval_tasks"] = len(trainer.train_eval_list)
        evaluations.append(("train ", trainer.per_train_task[first["iteration"]],
                            trainer.per_train_task[last["iteration"]]))
    for prefix, before, after in evaluations:
        keys = list(before)
        for metric in ("greedy", "pass@1"):
            if before[keys[0]][metric] is None:
                continue
            b = [before[k][metric] for k in keys]
            a = [after[k][metric] for k in keys]
            run[prefix + metric] = {"before": float(np.mean(b)), "after": float(np.mean(a)), **paired_interval(b, a),
                                    "per_task_before": b, "per_task_after": a}
    return run


_METRICS = ("greedy", "pass@1", "train greedy", "train pass@1")
_SHOWN = ("learner", "lr", "iterations", "tasks_per_iter", "budget", "n_eval", "eval_k", "temperature", "kl_coef")


def pooled(runs: Sequence[dict[str, Any]], metric: str) -> dict[str, Any]:
    """Over seeds: the per-task difference averaged over seeds, with a t interval over tasks, and
    (with >= 2 seeds) the per-seed mean differences with a t interval over seeds."""
    from ..bench.lab.stats import mean_ci95

    before = np.mean([r[metric]["per_task_before"] for r in runs], axis=0)
    after = np.mean([r[metric]["per_task_after"] for r in runs], axis=0)
    out: dict[str, Any] = {"before": float(before.mean()), "after": float(after.mean()),
                           "over_tasks": paired_interval(before, after)}
    if len(runs) >= 2:
        seeds = mean_ci95([r[metric]["diff"] for r in runs])
        out["over_seeds"] = {"diff": seeds["mean"], "lo": seeds["ci95"][0], "hi": seeds["ci95"][1], "n": len(runs)}
    return out


def markdown(runs: Sequence[dict[str, Any]]) -> str:
    """A table: per seed and pooled, before -> after and the paired difference with its 95% interval."""
    lines = ["| seed | metric | before | after | Δ [95% interval over tasks] | wall s | load avg (1 min, start/end) |",
             "|---|---|---|---|---|---|---|"]
    for r in runs:
        for metric in _METRICS:
            if metric in r:
                m = r[metric]
                lines.append(f"| {r['seed']} | {metric} | {m['before']:.3f} | {m['after']:.3f} | {m['diff']:+.3f} "
                             f"[{m['lo']:+.3f}, {m['hi']:+.3f}] | {r['wall_s']:.0f} | "
                             f"{r['loadavg_before'][0]:.1f} / {r['loadavg_after'][0]:.1f} |")
    if len(runs) >= 2:
        for metric in _METRICS:
            if all(metric in r for r in runs):
                p = pooled(runs, metric)
                t, s = p["over_tasks"], p.get("over_seeds")
                seeds = f"; over seeds {s['diff']:+.3f} [{s['lo']:+.3f}, {s['hi']:+.3f}]" if s else ""
                lines.append(f"| all | {metric} | {p['before']:.3f} | {p['after']:.3f} | {t['diff']:+.3f} "
                             f"[{t['lo']:+.3f}, {t['hi']:+.3f}]{seeds} | | |")
    n = runs[0]["n_eval_tasks"] if runs else 0
    train = (f"; \"train\": the first {runs[0]['n_train_eval_tasks']} distinct tasks training samples"
             if runs and "n_train_eval_tasks" in runs[0] else "")
    return "\n".join(lines) + f"\n\n{n} held-out tasks{train}; Δ = after − before, paired by task (t interval)."


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", default="0,1", help="training seeds, comma-separated (default: 0,1)")
    parser.add_argument("--preset", default="testbed")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="override a TrainConfig field")
    parser.add_argument("--out", help="folder for the runs and results.json (default: a temporary folder)")
    parser.add_argument("--threads", type=int, help="torch CPU threads (default: auto)")
    parser.add_argument("--train-eval", type=int, metavar="N",
                        help="evaluate the first N distinct training tasks too (default: the preset's n_train_eval; "
                             "0: held-out only)")
    args = parser.parse_args(argv)
    from ..bench.credit_cli import configure_threads
    from ..config import parse_field

    configure_threads(args.threads)
    overrides: dict[str, Any] = {}
    for item in args.set:
        if "=" not in item:
            parser.error(f"--set {item!r} is not KEY=VALUE")
        key, raw = item.split("=", 1)
        name = key.strip().replace("-", "_")
        overrides[name] = parse_field(name, raw, flag=f"--set {key.strip()}")
    if args.train_eval is not None:
        overrides["n_train_eval"] = args.train_eval
    out = Path(args.out) if args.out else Path(tempfile.mkdtemp(prefix="testbed-learns-"))
    runs = []
    for seed in [int(s) for s in args.seeds.split(",") if s.strip()]:
        runs.append(learning_run(seed, preset=args.preset, out_dir=out, overrides=overrides))
        r = runs[-1]
        print(f"seed {seed}: " + "; ".join(f"{m} {r[m]['before']:.3f} -> {r[m]['after']:.3f} "
                                             f"({r[m]['diff']:+.3f} [{r[m]['lo']:+.3f}, {r[m]['hi']:+.3f}])"
                                             for m in _METRICS if m in r)
              + f"; {r['wall_s']:.0f} s, load {r['loadavg_before'][0]:.1f}", flush=True)
    table = markdown(runs)
    print(table)
    out.mkdir(parents=True, exist_ok=True)
    (out / "results.json").write_text(json.dumps({"runs": runs, "overrides": overrides, "table": table}, indent=1))
    print(f"results: {out / 'results.json'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
