"""The credit-assignment benchmark: C3, CCPO, MAPPO and GRPO at a matched evaluator budget.

    from algorithms.bench.credit import run_credit_benchmark
    from algorithms.bench.presets import get_preset
    results = run_credit_benchmark(get_preset("quick"), out_dir="benchmarks/results/credit-quick")

For each env (topology), learner and seed: a fresh copy of the same starting policy is trained by
:class:`algorithms.Trainer` with the same budget B of evaluator calls per task, the same tasks per
iteration and the same number of iterations (one optimiser step each). Held-out greedy accuracy and
pass@k are measured before training (the "SFT (no RL)" row) and every ``eval_every`` iterations on
tasks disjoint from every training task (checked: :func:`algorithms.bench.holdout.check_disjoint`).
No checkpoint is selected on the held-out set: the numbers reported are those of the last iteration.
After training, the credit diagnostics are measured on replays at frozen contexts of held-out tasks
(:mod:`algorithms.bench.diagnose`). Outputs: ``results.json`` (every number), ``results.md`` (the
table) and PNG plots in ``out_dir``.
"""

from __future__ import annotations

import json
import math
import os
import platform
import subprocess
import time
from collections.abc import Callable
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from .holdout import check_disjoint, disjoint_tasks
from .presets import BenchPreset
from .report import markdown_table, mean_std, plot_diagnostics, plot_learning_curves, summarize

Log = Callable[[str], None]

#: The credit method whose fidelity is reported in a learner's row of the table.
OWN_CREDIT = {"c3": "c3", "c3_mean": "grpo", "grpo": "grpo", "mappo": "mappo", "ccpo": "ccpo", "rema": "grpo"}


def topology_name(env_id: str) -> str:
    """``"llm-marl/MathDyad-v0"`` -> ``"MathDyad"``."""
    return env_id.split("/")[-1].rsplit("-v", 1)[0]


def machine_info() -> dict[str, Any]:
    """Where the numbers came from."""
    import torch

    info: dict[str, Any] = {
        "platform": platform.platform(),
        "python": platform.python_version(),
        "torch": torch.__version__,
        "cpu_count": os.cpu_count(),
        "torch_threads": torch.get_num_threads(),
        "cuda": torch.cuda.get_device_name(0) if torch.cuda.is_available() else None,
    }
    try:
        info["cpu_model"] = next(
            line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
            if line.startswith("model name"))
    except (OSError, StopIteration):
        info["cpu_model"] = platform.processor()
    try:
        info["load_avg"] = os.getloadavg()
    except OSError:
        pass
    return info


def _git_commit() -> str | None:
    try:
        out = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, timeout=5,
                             cwd=Path(__file__).resolve().parent)
        return out.stdout.strip() or None
    except (OSError, subprocess.SubprocessError):
        return None


# ----------------------------------------------------------------------------- tasks
def benchmark_tasks(preset: BenchPreset, sft_tasks: list) -> tuple[list, list]:
    """``(train_pool, eval_tasks)``: a finite training pool and held-out tasks disjoint from it and
    from the starting policy's supervised data; raises :class:`~algorithms.bench.holdout.OverlapError`
    on any overlap."""
    from llm_marl_envs.tasks import load_tasks

    train_source = load_tasks(preset.tasks, **{"seed": preset.train_seed, **preset.task_kwargs})
    eval_name = preset.eval_tasks or preset.tasks
    eval_kwargs = {"seed": preset.eval_seed, **(preset.eval_task_kwargs if preset.eval_tasks else preset.task_kwargs)}
    eval_source = load_tasks(eval_name, **eval_kwargs)
    # held-out first (so a finite source keeps its test split), then training tasks that avoid them
    eval_tasks = disjoint_tasks(iter(eval_source), preset.n_eval, sft_tasks)
    train_pool = disjoint_tasks(iter(train_source), min(preset.n_train_tasks, len(train_source) - 1), eval_tasks)
    check_disjoint(eval_tasks, train_pool, sft_tasks)
    return train_pool, eval_tasks


# ----------------------------------------------------------------------------- policies
class PolicyFactory:
    """Fresh copies of the benchmark's starting policy (every run starts from the same weights).

    The starting policy is built through ``agents.make_policy`` (``testbed`` is registered there by
    ``algorithms.testbed``); it must be a transformers backend, whose weights the learners train."""

    def __init__(self, preset: BenchPreset, *, log: Log | None = print, testbed_config=None) -> None:
        from agents import make_policy

        self.preset = preset
        self.sft_tasks: list = []
        self.info: dict[str, Any] = {"kind": preset.policy, "path": preset.model}
        kwargs: dict[str, Any] = {"model": preset.model} if preset.model else {}
        cfg = None
        if preset.policy == "testbed":
            from algorithms.testbed import TestbedConfig

            cfg = testbed_config or TestbedConfig()
            kwargs = {"config": cfg, "log": log}
        start = time.perf_counter()
        policy = make_policy(preset.policy, **kwargs)
        if not hasattr(policy, "model") or not hasattr(policy, "tokenizer"):
            raise ValueError(f"the credit benchmark trains the policy's weights: backend {preset.policy!r} "
                             "has none here; use a transformers backend (testbed, hf, tiny)")
        self._model, self._tokenizer = policy.model, policy.tokenizer
        self.info.update(load_s=time.perf_counter() - start, n_params=sum(p.numel() for p in self._model.parameters()))
        if cfg is not None:
            from algorithms.testbed import checkpoint_dir, sft_tasks, testbed_metadata

            self.info.update(path=str(checkpoint_dir(cfg)),
                             **{k: v for k, v in testbed_metadata(cfg).items() if k != "loss_curve"})
            self.sft_tasks = sft_tasks(cfg)
        self._state = {k: v.detach().clone() for k, v in self._model.state_dict().items()}

    def fresh(self):
        """An ``HFPolicy`` over the starting weights (a new model object each call)."""
        import copy

        from agents.hf import HFPolicy

        model = copy.deepcopy(self._model)
        model.load_state_dict(self._state)
        return HFPolicy(model, self._tokenizer)


# ----------------------------------------------------------------------------- one run
def _eval_point(record: dict[str, Any], k: int) -> dict[str, Any]:
    return {
        "iteration": record.get("iteration"),
        "evaluator_calls": record.get("evaluator_calls"),
        "generated_tokens": record.get("generated_tokens"),
        "wall_s": record.get("wall_s"),
        "greedy": record.get("eval/greedy_accuracy"),
        "pass_at_1": record.get("eval/pass@1"),
        "pass_at_k": record.get(f"eval/pass@{k}"),
    }


def train_config(preset: BenchPreset, env_id: str, learner: str, seed: int, out_dir: Path):
    """The :class:`algorithms.TrainConfig` of one run; only ``learner`` (with its
    ``preset.learner_options``) and ``seed`` differ between runs."""
    from algorithms import TrainConfig

    return TrainConfig(
        learner=learner, env_id=env_id, env_kwargs=dict(preset.env_kwargs), tasks=preset.tasks,
        task_kwargs=dict(preset.task_kwargs), budget=preset.budget, tasks_per_iter=preset.tasks_per_iter,
        iterations=preset.iterations, eval_every=preset.eval_every, eval_k=preset.eval_k, n_eval=preset.n_eval,
        temperature=preset.temperature, max_tokens=preset.max_tokens, lr=preset.lr, ppo_epochs=1,
        micro_batch_size=preset.micro_batch_size, kl_coef=preset.kl_coef, seed=seed, out_dir=str(out_dir),
        estimator_kwargs=dict(preset.learner_options.get(learner, {})),
        save_every=0, resume=False, tensorboard=False, progress=False,
    )


def run_one(preset: BenchPreset, factory: PolicyFactory, env_id: str, learner: str, seed: int,
            train_pool: list, eval_tasks: list, run_dir: Path, *, log: Log | None = print) -> dict[str, Any]:
    """Train one (env, learner, seed), then measure its credit diagnostics; returns the run record."""
    from algorithms import Trainer
    from algorithms.plans import env_info

    cfg = train_config(preset, env_id, learner, seed, run_dir)
    trainer = Trainer(cfg, policy=factory.fresh(), train_tasks=train_pool, eval_tasks=eval_tasks)
    start = time.perf_counter()
    result = trainer.train()
    train_wall = time.perf_counter() - start
    history = result.history
    curve = [_eval_point(r, preset.eval_k) for r in history if "eval/greedy_accuracy" in r]
    last = history[-1]
    diag_start = time.perf_counter()
    info = env_info(env_id, preset.env_kwargs)
    diag = {}
    if preset.diag_buckets > 0:
        from .diagnose import diagnose

        diag = diagnose(trainer.runner, eval_tasks[: preset.diag_buckets], candidates=preset.diag_candidates,
                        replays=preset.diag_replays, decisions=info.decisions, seed=10_000 + seed,
                        critic=getattr(trainer, "critic", None))
    diag_wall = time.perf_counter() - diag_start
    own = diag.get("methods", {}).get(OWN_CREDIT.get(learner, learner), {})
    final = {
        **({k: v for k, v in curve[-1].items() if k != "iteration"} if curve else {}),
        "evaluator_calls": last.get("evaluator_calls"),
        "generated_tokens": last.get("generated_tokens"),
        "optimizer_steps": cfg.iterations * cfg.ppo_epochs,
        "wall_s": train_wall,
        "fidelity": own.get("fidelity"),
        "within_group_var": own.get("within_group_var"),
        "influence": diag.get("influence"),
        "train_reward_last": last.get("train_reward_mean"),
    }
    if log:
        log(f"[bench] {topology_name(env_id)} {learner} seed {seed}: greedy {final.get('greedy')} "
            f"pass@{preset.eval_k} {final.get('pass_at_k')} fidelity {final.get('fidelity')} "
            f"({train_wall:.0f}s train, {diag_wall:.0f}s diagnostics)")
    return {
        "topology": topology_name(env_id),
        "env_id": env_id,
        "learner": learner,
        "seed": seed,
        "curve": curve,
        "final": final,
        "history": history,
        "diagnostics": diag,
        "diagnostics_wall_s": diag_wall,
        "train_config": cfg.to_dict(),
    }


# ----------------------------------------------------------------------------- the benchmark
def run_credit_benchmark(preset: BenchPreset, out_dir: str | Path, *, log: Log | None = print,
                         testbed_config=None, plots: bool = True) -> dict[str, Any]:
    """Run every (env, learner, seed) of ``preset``; write results.json, results.md and plots."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    started, cpu_started = time.perf_counter(), time.process_time()
    results: dict[str, Any] = {
        "benchmark": "credit",
        "preset": preset.to_dict(),
        "started_utc": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "git_commit": _git_commit(),
        "machine": machine_info(),
        "runs": [],
        "tasks": {},
    }
    factory = PolicyFactory(preset, log=log, testbed_config=testbed_config)
    results["policy"] = factory.info
    train_pool, eval_tasks = benchmark_tasks(preset, factory.sft_tasks)
    results["tasks"] = {
        "n_train_pool": len(train_pool), "n_eval": len(eval_tasks), "n_sft": len(factory.sft_tasks),
        "disjoint_checked": True, "eval_ids": [t.id for t in eval_tasks],
    }
    if log:
        log(f"[bench] {len(preset.env_ids)} env(s) x {len(preset.learners)} learners x {len(preset.seeds)} seeds, "
            f"B={preset.budget}, {preset.tasks_per_iter} tasks/iter, {preset.iterations} iterations; "
            f"{len(eval_tasks)} held-out tasks (disjoint from {len(train_pool)} training + "
            f"{len(factory.sft_tasks)} SFT tasks)")
    for env_id in preset.env_ids:
        for seed in preset.seeds:
            for learner in preset.learners:
                run_dir = out / "runs" / f"{topology_name(env_id)}-{learner}-s{seed}"
                record = run_one(preset, factory, env_id, learner, seed, train_pool, eval_tasks, run_dir, log=log)
                results["runs"].append(record)
                _write_json(out / "results.json", results)
    results["wall_s"] = time.perf_counter() - started
    results["cpu_s"] = time.process_time() - cpu_started  # this process's CPU time (all threads)
    finish(results, out, plots=plots, log=log)
    return results


def baseline_rows(runs: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """The "SFT (no RL)" row per topology: iteration-0 evaluation (before any update), over all runs."""
    out: dict[str, dict[str, Any]] = {}
    for topo in dict.fromkeys(r["topology"] for r in runs):
        first = [r["curve"][0] for r in runs if r["topology"] == topo and r["curve"] and r["curve"][0]["iteration"] == 0]
        out[topo] = {m: mean_std([p[m] for p in first if p.get(m) is not None]) for m in ("greedy", "pass_at_1", "pass_at_k")}
    return out


def finish(results: dict[str, Any], out: Path, *, plots: bool = True, log: Log | None = print) -> str:
    """Summaries, the markdown table and plots from ``results["runs"]``; returns the table."""
    runs = results["runs"]
    results["summary"] = summarize(runs)
    results["baseline"] = baseline_rows(runs)
    k = results["preset"]["eval_k"]
    table = markdown_table(results["summary"], baseline=results["baseline"], k=k)
    results["table_markdown"] = table
    files = []
    if plots and runs:
        files = [p.name for p in plot_learning_curves(runs, out, metric="greedy")]
        files += [p.name for p in plot_learning_curves(runs, out, metric="pass_at_k")]
        files.append(plot_diagnostics(results["summary"], out).name)
    results["plots"] = files
    preset = results["preset"]
    partial = " — PARTIAL: the run was interrupted; only the finished runs are summarised" if results.get("partial") else ""
    header = (
        f"# Credit-assignment benchmark ({preset['name']}){partial}\n\n"
        f"B = {preset['budget']} evaluator calls per training task, {preset['tasks_per_iter']} tasks per iteration, "
        f"{preset['iterations']} iterations (one optimiser step each), seeds {list(preset['seeds'])}; "
        f"held-out tasks: {results['tasks'].get('n_eval')} (disjoint from training, checked). "
        f"Final numbers are those of the last iteration (no checkpoint selection). Mean ± std over seeds.\n"
        f"Credit fidelity = Spearman(learner's credit, Monte-Carlo marginal value from independent replays) "
        f"at frozen first-agent contexts of held-out tasks.\n\n"
    )
    machine = results.get("machine", {})
    footer = (f"\n\nMachine: {machine.get('cpu_model')} ({machine.get('cpu_count')} CPUs, torch "
              f"{machine.get('torch')}, {machine.get('cuda') or 'no GPU'}, load average {machine.get('load_avg')}); "
              f"total wall {results.get('wall_s', 0):.0f}s, CPU time {results.get('cpu_s', 0):.0f}s, "
              f"{machine.get('torch_threads')} torch thread(s); "
              f"plots: {', '.join(files) or 'none'}\n")
    (out / "results.md").write_text(header + table + footer)
    _write_json(out / "results.json", results)
    if log:
        log("\n" + table + footer)
    return table


def report_from_json(out: Path, *, plots: bool = True, log: Log | None = print) -> str:
    """Rebuild the table and plots from ``out/results.json`` (also from a partial, interrupted run)."""
    results = json.loads((out / "results.json").read_text())
    if "wall_s" not in results:
        results["partial"] = True
    return finish(results, out, plots=plots, log=log)


def _write_json(path: Path, data: dict[str, Any]) -> None:
    def clean(x: Any) -> Any:
        if isinstance(x, float) and not math.isfinite(x):
            return None
        if isinstance(x, dict):
            return {str(k): clean(v) for k, v in x.items()}
        if isinstance(x, (list, tuple)):
            return [clean(v) for v in x]
        if hasattr(x, "item") and callable(x.item):
            try:
                return clean(x.item())
            except (TypeError, ValueError):
                return str(x)
        return x

    tmp = path.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(clean(data), indent=1, default=str))
    tmp.replace(path)
