"""``llm-marl bench credit [--quick|--full|--gpu] ...``: the LLM integration run on a real transformer.

Not the statistical benchmark (``llm-marl bench lab``). Writes ``results.json``, ``results.md`` and PNG
plots under ``--out`` (default ``benchmarks/results/credit-<preset>``) and prints the table. Re-running
the same command into the same folder resumes it (finished runs are kept); a folder holding other
settings, or a ``--model`` folder that does not exist, is a one-line error before anything is created.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """``llm-marl bench credit``'s arguments."""
    size = parser.add_mutually_exclusive_group()
    size.add_argument("--quick", dest="preset", action="store_const", const="quick",
                      help="the README's preset: dyad, 4 learners, 2 seeds on the CPU testbed (default)")
    size.add_argument("--full", dest="preset", action="store_const", const="full",
                      help="CPU testbed, dyad + voting, 3 seeds (tens of minutes)")
    size.add_argument("--gpu", dest="preset", action="store_const", const="gpu",
                      help="an instruct model from --model, GSM8K train -> test (a GPU)")
    parser.set_defaults(preset="quick")
    parser.add_argument("--model", help="local model folder for --gpu (transformers format)")
    parser.add_argument("--embedded", action="store_true",
                        help="use the embedded SmolLM2-135M-Instruct as --model (converted once to a local cache)")
    parser.add_argument("--toy", action="store_true", help="shrink the preset to a smoke run (seconds to minutes)")
    parser.add_argument("--learners", nargs="+", help="subset of learners (default: grpo mappo ccpo c3)")
    parser.add_argument("--seeds", nargs="+", type=int, help="training seeds")
    parser.add_argument("--envs", nargs="+", help="env ids (default: the preset's)")
    parser.add_argument("--iterations", type=int, help="training iterations per run")
    parser.add_argument("--budget", type=int, help="B: evaluator calls per training task")
    parser.add_argument("--tasks-per-iter", type=int, help="training tasks per iteration")
    parser.add_argument("--n-eval", type=int, help="held-out tasks")
    parser.add_argument("--lr", type=float, help="learning rate")
    parser.add_argument("--diag-buckets", type=int, help="frozen contexts for the credit diagnostics (0: skip)")
    parser.add_argument("--out", help="output folder (default: benchmarks/results/credit-<preset>)")
    parser.add_argument("--no-plots", action="store_true", help="skip the PNG plots")
    parser.add_argument("--report-only", action="store_true",
                        help="rebuild results.md and the plots from an existing --out/results.json (e.g. a partial run)")
    parser.add_argument("--executor", choices=("local", "ray"), default="local",
                        help="where the rollouts' envs run: in this process, or Ray env worker actors (extra 'ray'); "
                             "changes no number (default: %(default)s)")
    parser.add_argument("--workers", type=int, default=1, help="env worker actors with --executor ray (default: %(default)s)")
    parser.add_argument("--ray-address", default=None,
                        help="Ray cluster to join with --executor ray, e.g. HEAD:6379 (default: start Ray on this machine)")
    parser.add_argument("--threads", type=int,
                        help="torch CPU threads (default: all cores, or 1 when the machine is already overloaded)")


def configure_threads(threads: int | None) -> int:
    """Set torch's CPU threads: ``threads``, else 1 when the load average already exceeds the core
    count (several threads then spin against each other: measured ~7x more CPU per step), else all."""
    import os

    import torch

    if threads is None:
        cores = os.cpu_count() or 1
        try:
            busy = os.getloadavg()[0] >= cores
        except OSError:
            busy = False
        threads = 1 if busy else cores
    torch.set_num_threads(max(1, threads))
    return torch.get_num_threads()


def check_executor(executor: str, workers: int, ray_address: str | None, env_id: str,
                   env_kwargs: dict | None = None) -> str | None:
    """None when the executor settings work here, else the one-line reason, found before anything is
    created: the executor is built once (``make_executor``, the rules ``llm-marl train`` meets: a dead
    Ray address answers within seconds) and released."""
    from llm_marl_envs.rollout.executor import make_executor

    try:
        make_executor(executor, env_id, env_kwargs, workers=workers, address=ray_address).shutdown()
    except (ValueError, TypeError) as e:  # RayMissingError and RayAddressError are ValueErrors too
        return str(e).splitlines()[0] if str(e) else type(e).__name__
    return None


def run(args: argparse.Namespace) -> int:
    """Run the chosen benchmark; 0 on success."""
    from .credit import ResultsFolderError, previous_results, report_from_json, run_credit_benchmark
    from .presets import get_preset

    if args.report_only:
        if not args.out:
            print("llm-marl bench credit --report-only needs --out FOLDER (holding results.json)", file=sys.stderr)
            return 2
        if not (Path(args.out) / "results.json").exists():
            print(f"llm-marl bench credit --report-only: {Path(args.out) / 'results.json'} does not exist", file=sys.stderr)
            return 2
        report_from_json(Path(args.out))
        return 0

    model = args.model
    if args.embedded:
        from agents.embedded import smollm2_dir

        model = str(smollm2_dir())
    overrides = {
        "learners": tuple(args.learners) if args.learners else None,
        "seeds": tuple(args.seeds) if args.seeds else None,
        "env_ids": tuple(args.envs) if args.envs else None,
        "iterations": args.iterations,
        "budget": args.budget,
        "tasks_per_iter": args.tasks_per_iter,
        "n_eval": args.n_eval,
        "lr": args.lr,
        "diag_buckets": args.diag_buckets,
        "model": model,
    }
    if args.iterations is not None:
        overrides["eval_every"] = max(1, args.iterations // 2)
    try:
        preset = get_preset(args.preset, toy=args.toy, **overrides)
    except (KeyError, TypeError) as e:
        print(f"llm-marl bench: {e}", file=sys.stderr)
        return 2
    if preset.policy == "hf" and not preset.model:
        print("llm-marl bench credit --gpu needs --model PATH (a local transformers folder) or --embedded",
              file=sys.stderr)
        return 2
    if preset.model and not Path(preset.model).is_dir():
        print(f"llm-marl bench credit: --model {preset.model}: no such folder (a local transformers model folder)",
              file=sys.stderr)
        return 2
    out = Path(args.out or f"benchmarks/results/credit-{preset.name}{'-toy' if args.toy else ''}")
    try:
        previous_results(out, preset)
    except ResultsFolderError as e:
        print(f"llm-marl bench credit: {e}", file=sys.stderr)
        return 2
    problem = check_executor(args.executor, args.workers, args.ray_address, preset.env_ids[0], preset.env_kwargs)
    if problem:
        print(f"llm-marl bench credit: {problem}", file=sys.stderr)
        return 2
    threads = configure_threads(args.threads)
    print(f"[bench] torch threads: {threads}")
    start = time.perf_counter()
    try:
        results = run_credit_benchmark(preset, out, plots=not args.no_plots, executor=args.executor,
                                       workers=args.workers, ray_address=args.ray_address)
    except KeyboardInterrupt:
        return 130
    except ResultsFolderError as e:
        print(f"llm-marl bench credit: {e}", file=sys.stderr)
        return 2
    print(f"[bench] done in {time.perf_counter() - start:.0f}s: {out / 'results.md'}, {out / 'results.json'}"
          + (f", {', '.join(results.get('plots', []))}" if results.get("plots") else ""))
    return 0
