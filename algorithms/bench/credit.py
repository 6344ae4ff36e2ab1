"""The LLM integration run: C3, CCPO, MAPPO and GRPO trained on a real transformer at a matched budget.

    from algorithms.bench.credit import run_credit_benchmark
    from algorithms.bench.presets import get_preset
    results = run_credit_benchmark(get_preset("quick"), out_dir="benchmarks/results/credit-quick")

This is an integration run, not the statistical benchmark (that is the exact credit lab, ``llm-marl
bench lab``): a few dozen held-out tasks and a dozen optimiser steps cannot separate the learners, and
the table says so (95% intervals over tasks and seeds, and a line on whether any learner moved from the
SFT start beyond noise). For each env (topology), seed and learner: a fresh copy of the same starting
policy is trained by :class:`algorithms.Trainer` with the same budget B of evaluator calls per task, the
same tasks per iteration and the same number of iterations (one optimiser step each). Held-out greedy
accuracy and pass@k are measured before training (the "SFT (no RL)" row) and every ``eval_every``
iterations on tasks disjoint from every training task (checked:
:func:`algorithms.bench.holdout.check_disjoint`). No checkpoint is selected on the held-out set: the
numbers are those of the last iteration. After training, the credit diagnostics are measured on the
credits the run trained on in its last iteration (:mod:`algorithms.bench.diagnose`).

Where the env workers run is the trainer's choice (``TrainConfig.executor``/``workers``/``ray_address``, the
path ``llm-marl train`` takes): ``executor="ray"`` spreads every rollout of the run (training, held-out
evaluation, diagnostic replays) over ``workers`` Ray actors. It changes no number (the same seeds give
byte-identical episodes), so it is not part of the preset and a folder run with one executor resumes with the
other.

Outputs in ``out_dir``: ``results.json`` (every number, wall times included), ``results.md`` (the table)
and PNG plots. The folder is also the resume state: re-running the same command after an interruption
keeps the finished runs and does only the rest (``results.json`` says ``"partial": true`` until all are
done); a folder holding results of other settings is refused with a one-line error.
"""

from __future__ import annotations

import json
import math
import os
import platform
import shutil
import subprocess
import time
from collections.abc import Callable, Mapping
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from .holdout import check_disjoint, disjoint_tasks
from .presets import BenchPreset
from .report import (
    baseline_rows,
    markdown_table,
    noise_line,
    noise_verdicts,
    plot_diagnostics,
    plot_learning_curves,
    summarize,
)

Log = Callable[[str], None]

EXECUTOR_FIELDS = ("executor", "workers", "ray_address")
"""The :class:`algorithms.TrainConfig` fields saying where the env workers run (no number depends on them)."""


class ResultsFolderError(ValueError):
    """The output folder holds something this run must not overwrite (message: one line)."""


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
            from algorithms.testbed import sft_tasks, testbed_folder, testbed_metadata

            self.info.update(path=str(testbed_folder(cfg)),
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


def train_config(preset: BenchPreset, env_id: str, learner: str, seed: int, out_dir: Path,
                 executor: Mapping[str, Any] | None = None):
    """The :class:`algorithms.TrainConfig` of one run; only ``learner`` (with its
    ``preset.learner_options``) and ``seed`` differ between runs. ``executor``: values of
    :data:`EXECUTOR_FIELDS` (default: the local executor)."""
    from algorithms import TrainConfig

    placement = dict(executor or {})
    unknown = sorted(set(placement) - set(EXECUTOR_FIELDS))
    if unknown:
        raise TypeError(f"executor settings are {', '.join(EXECUTOR_FIELDS)}; got {', '.join(unknown)}")

    return TrainConfig(
        learner=learner, env_id=env_id, env_kwargs=dict(preset.env_kwargs), tasks=preset.tasks,
        task_kwargs=dict(preset.task_kwargs), budget=preset.budget, tasks_per_iter=preset.tasks_per_iter,
        iterations=preset.iterations, eval_every=preset.eval_every, eval_k=preset.eval_k, n_eval=preset.n_eval,
        temperature=preset.temperature, max_tokens=preset.max_tokens, lr=preset.lr, ppo_epochs=1,
        micro_batch_size=preset.micro_batch_size, kl_coef=preset.kl_coef, seed=seed, out_dir=str(out_dir),
        estimator_kwargs=dict(preset.learner_options.get(learner, {})),
        save_every=0, resume=False, tensorboard=False, progress=False, **placement,
    )


def run_one(preset: BenchPreset, factory: PolicyFactory, env_id: str, learner: str, seed: int,
            train_pool: list, eval_tasks: list, run_dir: Path, *, log: Log | None = print,
            executor: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """Train one (env, learner, seed), then diagnose the credits it trained on; returns the run record.
    ``executor``: where the env workers run (:func:`train_config`); its workers are released at the end."""
    from algorithms import Trainer

    cfg = train_config(preset, env_id, learner, seed, run_dir, executor)
    trainer = Trainer(cfg, policy=factory.fresh(), train_tasks=train_pool, eval_tasks=eval_tasks)
    try:
        start = time.perf_counter()
        result = trainer.train()
        train_wall = time.perf_counter() - start
        history = result.history
        curve = [_eval_point(r, preset.eval_k) for r in history if "eval/greedy_accuracy" in r]
        last = history[-1]
        diag_start = time.perf_counter()
        diag: dict[str, Any] = {}
        if preset.diag_buckets > 0:
            from .diagnose import diagnose

            diag = diagnose(trainer.runner, run_dir, train_pool, buckets=preset.diag_buckets,
                            replays=preset.diag_replays, extra=preset.diag_extra, seed=10_000 + seed)
        diag_wall = time.perf_counter() - diag_start
    finally:
        trainer.close()  # Ray env actors hold CPUs: the next run's actors must not wait for them
    final = {
        **({k: v for k, v in curve[-1].items() if k != "iteration"} if curve else {}),
        "n_eval": len(eval_tasks),
        "evaluator_calls": last.get("evaluator_calls"),
        "generated_tokens": last.get("generated_tokens"),
        "optimizer_steps": cfg.iterations * cfg.ppo_epochs,
        "wall_s": train_wall,
        **{k: diag.get(k) for k in ("fidelity", "null_fidelity", "within_group_var", "influence", "upstream_entropy",
                                    "cmi_over_h")},
        "train_reward_last": last.get("train_reward_mean"),
        **{k: last.get(k) for k in ("critic/mse", "critic/explained_variance", "critic/value_mean") if k in last},
    }
    if log:
        log(f"[bench] {topology_name(env_id)} {learner} seed {seed}: greedy {_short(final.get('greedy'))} "
            f"pass@{preset.eval_k} {_short(final.get('pass_at_k'))} fidelity {_short(final.get('fidelity'))} "
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


def _short(x: Any) -> str:
    return "–" if x is None else f"{float(x):.3f}"


# ----------------------------------------------------------------------------- the benchmark
def _run_key(run: dict[str, Any]) -> tuple[str, str, int]:
    return (run["topology"], run["learner"], int(run["seed"]))


def previous_results(out: Path, preset: BenchPreset) -> dict[str, Any] | None:
    """The results already in ``out`` for these settings (None: nothing there); raises
    :class:`ResultsFolderError` when ``out`` holds anything else."""
    path = out / "results.json"
    if not path.exists():
        if out.exists() and any(out.iterdir()):
            raise ResultsFolderError(f"{out} exists and holds no results.json of this benchmark; pass another --out")
        return None
    try:
        previous = json.loads(path.read_text())
    except (OSError, ValueError) as e:
        raise ResultsFolderError(f"{path}: unreadable ({e}); pass another --out or remove it") from None
    mine = _clean(preset.to_dict())
    theirs = previous.get("preset", {})
    differ = sorted(k for k in set(mine) | set(theirs) if mine.get(k) != theirs.get(k))
    if differ:
        raise ResultsFolderError(f"{out} holds results of other settings (differs in: {', '.join(differ)}); "
                                 "pass another --out or remove the folder")
    return previous


def run_credit_benchmark(preset: BenchPreset, out_dir: str | Path, *, log: Log | None = print,
                         testbed_config=None, plots: bool = True, executor: str = "local", workers: int = 1,
                         ray_address: str | None = None) -> dict[str, Any]:
    """Run every (env, seed, learner) of ``preset`` not yet done in ``out_dir``; write results.json,
    results.md and plots. Finished runs already in ``out_dir`` (same settings) are kept, not redone; on
    Ctrl-C the finished runs are saved with ``"partial": true`` and ``KeyboardInterrupt`` propagates.
    Nothing is created before the starting policy and the tasks are ready. ``executor``, ``workers``,
    ``ray_address``: where the rollouts' env workers run (``TrainConfig``'s fields of those names; they
    change no number and are recorded in ``results.json["executor"]``, not in the preset)."""
    placement = {"executor": executor, "workers": workers, "ray_address": ray_address}
    out = Path(out_dir)
    previous = previous_results(out, preset)
    keys = [(topology_name(e), learner, s) for e in preset.env_ids for s in preset.seeds for learner in preset.learners]
    done = {_run_key(r): r for r in (previous or {}).get("runs", []) if _run_key(r) in set(keys)}
    if previous is not None and log:
        state = "complete, nothing to redo" if len(done) == len(keys) else "resuming"
        log(f"[bench] {out} already holds {len(done)} of {len(keys)} runs of these settings ({state}); finished runs are kept")
    started, cpu_started = time.perf_counter(), time.process_time()
    results: dict[str, Any] = {
        "benchmark": "credit",
        "kind": "integration run on a real transformer (the statistical benchmark is `llm-marl bench lab`)",
        "preset": preset.to_dict(),
        "started_utc": (previous or {}).get("started_utc") or datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "git_commit": _git_commit(),
        "machine": machine_info(),
        "runs": [done[k] for k in keys if k in done],
        "runs_total": len(keys),
        "partial": True,
        "tasks": {},
        "executor": placement,
    }
    if len(done) < len(keys):
        factory = PolicyFactory(preset, log=log, testbed_config=testbed_config)
        results["policy"] = factory.info
        train_pool, eval_tasks = benchmark_tasks(preset, factory.sft_tasks)
        results["tasks"] = {
            "n_train_pool": len(train_pool), "n_eval": len(eval_tasks), "n_sft": len(factory.sft_tasks),
            "disjoint_checked": True, "eval_ids": [t.id for t in eval_tasks],
        }
        out.mkdir(parents=True, exist_ok=True)
        if log:
            log(f"[bench] integration run: {len(preset.env_ids)} env(s) x {len(preset.learners)} learners x "
                f"{len(preset.seeds)} seeds, B={preset.budget}, {preset.tasks_per_iter} tasks/iter, "
                f"{preset.iterations} iterations; {len(eval_tasks)} held-out tasks (disjoint from "
                f"{len(train_pool)} training + {len(factory.sft_tasks)} SFT tasks)")
        try:
            for env_id in preset.env_ids:
                for seed in preset.seeds:
                    for learner in preset.learners:
                        key = (topology_name(env_id), learner, seed)
                        if key in done:
                            continue
                        run_dir = out / "runs" / f"{key[0]}-{learner}-s{seed}"
                        if run_dir.exists():  # an unfinished run of an interrupted session: redo it from scratch
                            shutil.rmtree(run_dir)
                        record = run_one(preset, factory, env_id, learner, seed, train_pool, eval_tasks, run_dir, log=log,
                                         executor=placement)
                        done[key] = record
                        results["runs"] = [done[k] for k in keys if k in done]
                        _write_json(out / "results.json", results)
        except KeyboardInterrupt:
            results["interrupted_utc"] = datetime.now(timezone.utc).isoformat(timespec="seconds")
            results["session_wall_s"] = time.perf_counter() - started
            finish(results, out, plots=plots, log=log)
            if log:
                log(f"[bench] interrupted: {len(done)} of {len(keys)} runs saved in {out} (results marked partial); "
                    "re-run the same command to do the rest")
            raise
    else:
        results["policy"] = previous.get("policy")
        results["tasks"] = previous.get("tasks", {})
    results["partial"] = False
    results["wall_s"] = float((previous or {}).get("wall_s") or (previous or {}).get("session_wall_s") or 0.0) \
        + time.perf_counter() - started
    results["cpu_s"] = time.process_time() - cpu_started  # this session's CPU time (all threads)
    finish(results, out, plots=plots, log=log)
    return results


def finish(results: dict[str, Any], out: Path, *, plots: bool = True, log: Log | None = print) -> str:
    """Summaries, the markdown table, the noise line and plots from ``results["runs"]``; returns the table."""
    runs = results["runs"]
    n_tasks = int(results.get("tasks", {}).get("n_eval") or 0)
    results["summary"] = summarize(runs, n_tasks=n_tasks)
    results["baseline"] = baseline_rows(runs, n_tasks=n_tasks)
    k = results["preset"]["eval_k"]
    results["vs_start"] = noise_verdicts(runs, n_tasks=n_tasks, k=k)
    line = noise_line(results["vs_start"], k=k)
    results["noise_line"] = line
    table = markdown_table(results["summary"], baseline=results["baseline"], k=k)
    results["table_markdown"] = table
    files = []
    if plots and runs:
        files = [p.name for p in plot_learning_curves(runs, out, metric="greedy")]
        files += [p.name for p in plot_learning_curves(runs, out, metric="pass_at_k")]
        files.append(plot_diagnostics(results["summary"], out).name)
    results["plots"] = files
    preset = results["preset"]
    partial = (f" — PARTIAL: {len(runs)} of {results.get('runs_total', '?')} runs finished; re-run the same command "
               "to complete it") if results.get("partial") else ""
    header = (
        f"# LLM integration run on a real transformer ({preset['name']}){partial}\n\n"
        f"Not the statistical benchmark (that is `llm-marl bench lab`): this checks that every learner trains a real "
        f"transformer end to end. B = {preset['budget']} evaluator calls per training task, "
        f"{preset['tasks_per_iter']} tasks per iteration, {preset['iterations']} iterations (one optimiser step each), "
        f"{len(preset['seeds'])} seeds {list(preset['seeds'])}; {n_tasks} held-out tasks (disjoint from training, "
        f"checked). Final numbers are those of the last iteration (no checkpoint selection). Accuracy cells: mean over "
        f"seeds [95% interval over held-out tasks (binomial) and seeds]; * = one seed, task sampling only.\n"
        f"Credit fidelity = Spearman(the credits the learner trained on in its last iteration, Monte-Carlo marginal "
        f"value from independent replays) at its first agent's training contexts; random-credit fidelity is the "
        f"noise floor on the same targets. Influence = I(upstream message; downstream output | context), reported "
        f"with the upstream entropy H (I <= H).\n\n**{line}**\n\n"
    )
    machine = results.get("machine", {})
    load = machine.get("load_avg")
    load_text = ", ".join(f"{x:.2f}" for x in load) if load else "unknown"
    footer = (f"\n\nMachine: {machine.get('cpu_model')} ({machine.get('cpu_count')} CPUs, torch "
              f"{machine.get('torch')}, {machine.get('cuda') or 'no GPU'}, load average {load_text}); "
              f"total wall {results.get('wall_s', results.get('session_wall_s', 0)):.0f}s (per-run wall times in "
              f"results.json), {machine.get('torch_threads')} torch thread(s); plots: {', '.join(files) or 'none'}\n")
    (out / "results.md").write_text(header + table + footer)
    _write_json(out / "results.json", results)
    if log:
        log("\n" + line + "\n" + table + footer)
    return table


def report_from_json(out: Path, *, plots: bool = True, log: Log | None = print) -> str:
    """Rebuild the table and plots from ``out/results.json`` (also from a partial, interrupted run)."""
    results = json.loads((out / "results.json").read_text())
    if "wall_s" not in results or len(results.get("runs", [])) < int(results.get("runs_total") or 0):
        results["partial"] = True
    return finish(results, out, plots=plots, log=log)


def _clean(x: Any) -> Any:
    """JSON-ready copy: non-finite floats become None, tuples lists, numpy scalars Python ones."""
    if isinstance(x, float) and not math.isfinite(x):
        return None
    if isinstance(x, dict):
        return {str(k): _clean(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [_clean(v) for v in x]
    if hasattr(x, "item") and callable(x.item):
        try:
            return _clean(x.item())
        except (TypeError, ValueError):
            return str(x)
    return x


def _write_json(path: Path, data: dict[str, Any]) -> None:
    tmp = path.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(_clean(data), indent=1, default=str))
    tmp.replace(path)
