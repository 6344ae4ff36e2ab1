"""``llm-marl bench lab [--quick | --full] [--regimes …] [--learners …] [--seeds N] [--iterations N] [--out DIR]``

Runs the exact credit lab (credit-lab.md) and writes ``results.json``, ``results.md`` and PNG plots into ``--out``
(default ``benchmarks/results/lab-<preset>/``). ``--quick``: tabular, frozen_thinker, free_riding, the core
learners, 32 seeds, 300 iterations (about a minute on 2 cores); ``--full``: every regime and learner, 64 seeds,
300 iterations, SNR probes, tier 2 beside tier 1. Bad names or sizes raise one-line errors listing the choices.
"""

from __future__ import annotations

import argparse
import json
import os
import time
from dataclasses import dataclass
from pathlib import Path

from .learners import DEFAULT_LEARNERS, LEARNERS, B
from .regimes import QUICK_REGIMES, REGIMES


@dataclass(frozen=True)
class Preset:
    """What ``--quick`` / ``--full`` run."""

    regimes: tuple[str, ...]
    learners: tuple[str, ...]
    seeds: int
    iterations: int
    snr: bool
    tier2: bool
    tier2_seeds: int
    tier2_iterations: int


PRESETS: dict[str, Preset] = {
    "quick": Preset(QUICK_REGIMES, ("grpo", "mappo", "ccpo", "ccpo_crn", "c3"), 32, 300, True, False, 6, 40),
    "full": Preset(tuple(REGIMES), DEFAULT_LEARNERS, 64, 300, True, True, 16, 120),
}
"""Tier-2 sizes here are fallbacks: ``tier2.TIER2_PRESETS`` (engineer H2's measured sizes) wins when it exists;
``--tier2-seeds`` / ``--tier2-iterations`` win over both (``--seeds`` / ``--iterations`` size tier 1 only)."""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """``llm-marl bench lab``'s arguments."""
    size = parser.add_mutually_exclusive_group()
    size.add_argument("--quick", dest="preset", action="store_const", const="quick",
                      help="tabular, frozen_thinker, free_riding; core learners; 32 seeds; tier 1 only (default; --tier2 adds it)")
    size.add_argument("--full", dest="preset", action="store_const", const="full",
                      help="every regime and learner, 64 seeds, 300 iterations, SNR probes, tier 2")
    parser.set_defaults(preset="quick")
    parser.add_argument("--regimes", nargs="+", metavar="REGIME", help=f"regimes to run (of: {', '.join(REGIMES)})")
    parser.add_argument("--learners", nargs="+", metavar="LEARNER",
                        help=f"learners to run (of: {', '.join(LEARNERS)}); grpo is added as the baseline")
    parser.add_argument("--seeds", type=int, help="paired seeds (>= 2)")
    parser.add_argument("--iterations", type=int, help="iterations per run (8 tasks x 8 calls each)")
    parser.add_argument("--out", type=Path, help="output folder (default benchmarks/results/lab-<preset>)")
    parser.add_argument("--jobs", type=int, help="processes for the regimes and tier 2 (default: 1 for --quick, "
                        "2 for --full where 2 CPUs exist)")
    parser.add_argument("--no-plots", action="store_true", help="skip the PNG plots")
    parser.add_argument("--no-snr", action="store_true", help="skip the gradient-SNR probes")
    parser.add_argument("--no-tier2", action="store_true", help="skip tier 2 even where the preset runs it")
    parser.add_argument("--tier2", action="store_true", help="run tier 2 even where the preset skips it")
    parser.add_argument("--tier2-seeds", type=int, help="tier 2's paired seeds (default: the preset's)")
    parser.add_argument("--tier2-iterations", type=int, help="tier 2's iterations (default: the preset's)")


def _choose(given: list[str] | None, default: tuple[str, ...], valid: dict, what: str) -> list[str]:
    names = list(default if not given else given)
    bad = [n for n in names if n not in valid]
    if bad:
        raise ValueError(f"bench lab: unknown {what}(s) {', '.join(bad)}; valid: {', '.join(valid)}")
    return list(dict.fromkeys(names))


def resolve(args: argparse.Namespace) -> dict:
    """The run plan from the arguments (validated): regimes, learners, seeds, iterations, out, flags."""
    preset = PRESETS[args.preset or "quick"]
    regimes = _choose(args.regimes, preset.regimes, REGIMES, "regime")
    learners = _choose(args.learners, preset.learners, LEARNERS, "learner")
    if "grpo" not in learners:
        learners.insert(0, "grpo")  # every comparison is against MAGRPO
    seeds = preset.seeds if args.seeds is None else args.seeds
    if seeds < 2:
        raise ValueError(f"bench lab: --seeds must be >= 2 (a 95% interval needs two seeds), got {seeds}")
    iterations = preset.iterations if args.iterations is None else args.iterations
    if iterations < 1:
        raise ValueError(f"bench lab: --iterations must be >= 1, got {iterations}")
    for flag in ("tier2_seeds", "tier2_iterations"):
        v = getattr(args, flag)
        if v is not None and v < (2 if flag == "tier2_seeds" else 1):
            raise ValueError(f"bench lab: --{flag.replace('_', '-')} too small, got {v}")
    jobs = args.jobs if args.jobs is not None else (min(2, os.cpu_count() or 1) if args.preset == "full" else 1)
    if jobs < 1:
        raise ValueError(f"bench lab: --jobs must be >= 1, got {jobs}")
    tier2 = (preset.tier2 or args.tier2) and not args.no_tier2
    out = args.out or Path("benchmarks") / "results" / f"lab-{args.preset or 'quick'}"
    return {"preset": args.preset or "quick", "regimes": regimes, "learners": learners, "seeds": seeds,
            "iterations": iterations, "snr": preset.snr and not args.no_snr, "tier2": tier2,
            "tier2_seeds": args.tier2_seeds, "tier2_iterations": args.tier2_iterations,
            "out": Path(out), "plots": not args.no_plots, "jobs": jobs}


def run(args: argparse.Namespace) -> int:
    """Run the lab; 0 on success."""
    from . import report
    from .run import Settings, run_regime

    plan = resolve(args)
    out: Path = plan["out"]
    if (out / "results.json").exists():
        try:
            old = json.loads((out / "results.json").read_text())
            what = f"preset {old.get('preset')}, {old.get('seeds')} seeds, git {str((old.get('git') or {}).get('commit'))[:10]}"
        except (OSError, ValueError):
            what = "unreadable"
        print(f"[lab] {out} already holds results ({what}); they will be overwritten", flush=True)
    t0 = time.perf_counter()
    st = Settings(seeds=plan["seeds"], iterations=plan["iterations"], snr=plan["snr"])
    print(f"[lab] preset {plan['preset']}: {len(plan['regimes'])} regimes x {len(plan['learners'])} learners, "
          f"{st.seeds} seeds, {st.iterations} iterations", flush=True)

    def log(line: str) -> None:
        print(f"{line}  [elapsed {time.perf_counter() - t0:.1f}s]", flush=True)

    results = {"preset": plan["preset"], "seeds": st.seeds, "iterations": st.iterations, "budget": B,
               "wall_s": None, "machine": report.machine_info(), "git": report.git_info(), "regimes": [],
               "tier2": []}
    if plan["jobs"] == 1:
        results["regimes"] = [run_regime(REGIMES[n], plan["learners"], st, log=log) for n in plan["regimes"]]
        if plan["tier2"]:  # tier 1 is on disk first: a failure in tier 2 does not lose it
            results["wall_s"] = round(time.perf_counter() - t0, 2)
            results["tier2_note"] = "tier 2 did not finish (this file holds tier 1 only)"
            report.write(results, out)
            t2 = _tier2_job(plan, t0)
    else:
        results["regimes"], t2 = _parallel(plan, st, t0, log)
    if plan["tier2"]:
        results["tier2"], note, results["tier2_sizes"] = t2
        results.pop("tier2_note", None)
        if note:
            results["tier2_note"] = note
    regimes = results["regimes"]
    results["wall_s"] = round(time.perf_counter() - t0, 2)
    results["machine"] = report.machine_info()
    paths = report.write(results, out)
    if plan["plots"]:
        from . import plots

        paths += plots.all_plots(regimes, out)
    print(f"[lab] done in {results['wall_s']:.1f}s: " + ", ".join(str(p) for p in paths), flush=True)
    return 0


def _regime_job(name: str, learners: list[str], st) -> dict:
    from .run import run_regime

    return run_regime(REGIMES[name], learners, st, log=lambda line: None)


def _parallel(plan: dict, st, t0: float, log) -> tuple[list[dict], tuple | None]:
    """``--jobs N``: tier 2 (first, the longest job) and the regimes in N processes; progress as each finishes."""
    import multiprocessing as mp
    from concurrent.futures import ProcessPoolExecutor, as_completed

    from .run import regime_line

    names = plan["regimes"]
    done: dict[str, dict] = {}
    t2 = None
    with ProcessPoolExecutor(max_workers=plan["jobs"], mp_context=mp.get_context("fork")) as pool:
        t2_future = pool.submit(_tier2_job, plan, t0) if plan["tier2"] else None
        futures = {pool.submit(_regime_job, n, plan["learners"], st): n for n in names}
        for fut in as_completed(futures):
            entry = fut.result()
            done[futures[fut]] = entry
            log(regime_line(entry))
        if t2_future is not None:
            t2 = t2_future.result()
    return [done[n] for n in names], t2


def _tier2_job(plan: dict, t0: float) -> tuple[list[dict], str | None, dict | None]:
    def log(line: str) -> None:
        print(f"{line}  [elapsed {time.perf_counter() - t0:.1f}s]", flush=True)

    return _tier2(plan, log)


def _tier2(plan: dict, log) -> tuple[list[dict], str | None, dict | None]:
    """Tier 2 (engineer H2's ``tier2.run_tier2``) with its own seeds/iterations; a note if it is unavailable."""
    try:
        from . import tier2
    except ImportError as e:  # torch missing or tier 2 not built
        return [], f"not run ({e})", None
    t = time.perf_counter()
    sizes = dict(getattr(tier2, "TIER2_PRESETS", {}).get(plan["preset"], {}))
    fallback = PRESETS[plan["preset"]]
    seeds = plan["tier2_seeds"] or sizes.get("seeds", fallback.tier2_seeds)
    iterations = plan["tier2_iterations"] or sizes.get("iterations", fallback.tier2_iterations)
    regimes = tier2.run_tier2(list(tier2.TIER2_REGIMES), seeds=seeds, iterations=iterations, log=log)
    log(f"[lab] tier 2: {len(regimes)} regimes, {seeds} seeds, {iterations} iterations "
        f"({time.perf_counter() - t:.1f}s)")
    return regimes, None, {"seeds": seeds, "iterations": iterations}
