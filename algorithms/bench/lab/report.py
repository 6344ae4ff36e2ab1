"""results.json and results.md of the credit lab (layout: issue 12; names are a contract).

Top level: ``preset, seeds, iterations, budget, wall_s, machine, git, regimes, tier2``. Each regime:
``name, hypothesis, knobs, f, learners{<name>{curve, final_J, auc, calls_to_80pct, snr, fidelity,
thinker_contribution, p_null, cmi_over_h, trained_messages_per_iter, ...}}, comparisons[...]`` (see run.py).
"""

from __future__ import annotations

import json
import os
import platform
import subprocess
from collections.abc import Sequence
from pathlib import Path
from typing import Any

HOW_TO_READ = (
    "J is the exact probability that the team answers a held-out task correctly (mean of V(x) over the 100 held-out "
    "tasks, computed from the policy tables, no sampling). Each cell is the mean over paired seeds with its 95% "
    "Student-t interval over seeds. AUC is the mean J over the 13 evaluation points (0 to the last call). "
    "Δ vs grpo is the paired per-seed difference (same tasks, same random numbers, same start) with its 95% interval. "
    "Verdict: 'no practical difference' when that interval includes 0 or |Δ| < 0.01; otherwise 'hypothesis held' / "
    "'hypothesis failed' against the regime's stated expectation for that learner (judged on final J or AUC as the "
    "regime says), or 'differs' where the regime states no expectation for that learner."
)


def machine_info() -> dict[str, Any]:
    """Host facts worth keeping next to timings (the load average matters: the machine may be shared)."""
    try:
        load = [round(x, 2) for x in os.getloadavg()]
    except OSError:  # pragma: no cover
        load = None
    return {"platform": platform.platform(), "python": platform.python_version(), "cpus": os.cpu_count(),
            "processor": platform.processor() or platform.machine(), "loadavg_at_end": load}


def git_info(root: Path | None = None) -> dict[str, Any]:
    """The commit and whether the tree had local changes (None when not a git checkout)."""
    root = root or Path(__file__).resolve().parents[3]
    try:
        commit = subprocess.run(["git", "rev-parse", "HEAD"], cwd=root, capture_output=True, text=True,
                                timeout=10).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--", "algorithms/bench/lab"], cwd=root,
                               capture_output=True, text=True, timeout=10).stdout.strip() != ""
    except (OSError, subprocess.SubprocessError):
        return {"commit": None, "lab_dirty": None}
    return {"commit": commit or None, "lab_dirty": dirty}


def _ci(cell: dict | None, nd: int = 3, signed: bool = False) -> str:
    if not cell:
        return "–"
    f = f"{{:+.{nd}f}}" if signed else f"{{:.{nd}f}}"
    lo, hi = cell["ci95"]
    return f"{f.format(cell['mean'])} [{f.format(lo)}, {f.format(hi)}]"


def _num(v: Any, nd: int = 3) -> str:
    if v is None:
        return "–"
    if isinstance(v, (int, float)):
        return f"{v:.{nd}f}"
    return str(v)


def _calls(v: Any) -> str:
    return "never" if v is None else f"{v:,.0f}"


def main_table(regimes: Sequence[dict]) -> list[str]:
    """Per regime × learner: final J, AUC, calls to 80% of optimum, Δ vs grpo (final, AUC), verdict."""
    lines = ["| regime | learner | final J [95% CI] | AUC [95% CI] | calls to 80% | Δ final vs grpo | Δ AUC vs grpo | verdict |",
             "|---|---|---|---|---|---|---|---|"]
    for reg in regimes:
        comps = {c["learner"]: c for c in reg.get("comparisons", [])}
        for name, lr in reg["learners"].items():
            c = comps.get(name)
            verdict = c["verdict"] if c else ("baseline" if name == "grpo" else "–")
            if c and c.get("expected_sign") is not None:
                verdict += f" (expected {'+' if c['expected_sign'] > 0 else '−' if c['expected_sign'] < 0 else 'tie'}, " \
                           f"on {reg.get('judged_on', 'final')})"
            lines.append(f"| {reg['name']} | {name} | {_ci(lr['final_J'])} | {_ci(lr['auc'])} | "
                         f"{_calls(lr['calls_to_80pct']) if 'calls_to_80pct' in lr else '–'} | {_ci(c['diff_final'], signed=True) if c else '–'} | "
                         f"{_ci(c['diff_auc'], signed=True) if c else '–'} | {verdict} |")
    return lines


def regime_table(regimes: Sequence[dict]) -> list[str]:
    """Per regime: f, J at init, optimum, removal distortion (init; grpo's final policy)."""
    lines = ["| regime | f | J at init | optimum J | removal distortion mean (init) | corr(D, A*) init | "
             "mean / corr at grpo's end | wall s |", "|---|---|---|---|---|---|---|---|"]
    for reg in regimes:
        rd = reg.get("removal_distortion", {})
        ini, fin = rd.get("init", {}), rd.get("final_grpo", {})
        lines.append(f"| {reg['name']} | {_num(reg['f'])} | {_num(reg.get('init_J'))} | {_num(reg.get('optimum_J'))} | "
                     f"{_num(ini.get('mean'))} | {_num(ini.get('corr'))} | "
                     f"{_num(fin.get('mean'))} / {_num(fin.get('corr'))} | {_num(reg.get('wall_s'), 1)} |")
    return lines


def snr_table(regimes: Sequence[dict]) -> list[str]:
    """Per regime × learner: gradient SNR per role at init and mid-run."""
    lines = ["| regime | learner | thinker SNR init | thinker SNR mid | reasoner SNR init | reasoner SNR mid |",
             "|---|---|---|---|---|---|"]
    for reg in regimes:
        for name, lr in reg["learners"].items():
            s = lr.get("snr") or {}
            t, r = s.get("thinker") or {}, s.get("reasoner") or {}
            lines.append(f"| {reg['name']} | {name} | {_num(t.get('init'), 4)} | {_num(t.get('mid'), 4)} | "
                         f"{_num(r.get('init'), 4)} | {_num(r.get('mid'), 4)} |")
    return lines


def diagnostics_table(regimes: Sequence[dict]) -> list[str]:
    """Per regime × learner: fidelity per role, thinker contribution, P(∅), CMI/H, trained messages, wall time."""
    lines = ["| regime | learner | fidelity within T / R | fidelity pooled T / R | thinker contribution | P(∅) | "
             "CMI/H | greedy | trained msgs/iter | wall s |", "|---|---|---|---|---|---|---|---|---|---|"]
    for reg in regimes:
        for name, lr in reg["learners"].items():
            fi = lr.get("fidelity") or {}
            w, p = fi.get("within") or {}, fi.get("pooled") or {}
            g = lr.get("greedy_final") or {}
            lines.append(f"| {reg['name']} | {name} | {_num(w.get('thinker'))} / {_num(w.get('reasoner'))} | "
                         f"{_num(p.get('thinker'))} / {_num(p.get('reasoner'))} | {_num(lr.get('thinker_contribution'))} | "
                         f"{_num(lr.get('p_null'))} | {_num(lr.get('cmi_over_h'))} | {_num(g.get('mean'))} | "
                         f"{_num(lr.get('trained_messages_per_iter'), 0)} | {_num(lr.get('wall_s'), 1)} |")
    return lines


def markdown(results: dict) -> str:
    """results.md: tables with 95% intervals (3 decimals)."""
    m = results.get("machine", {})
    out = [f"# Exact credit lab: preset `{results['preset']}`", "",
           f"{results['seeds']} paired seeds, {results['iterations']} iterations, budget B = {results['budget']} "
           f"evaluator calls per task (8 tasks per iteration: {results['iterations'] * 64:,} calls per run); "
           f"wall {results['wall_s']:.1f} s on {m.get('cpus')} CPUs (load average at the end {m.get('loadavg_at_end')}); "
           f"git {str((results.get('git') or {}).get('commit'))[:10]}.", "",
           "How to read: " + HOW_TO_READ, "", "## Final J, AUC and paired differences vs MAGRPO (grpo)", ""]
    out += main_table(results["regimes"])
    out += ["", "## Regimes: f = σ_b²/(σ_b²+σ_w²) at init, optimum, removal distortion", "",
            "Removal distortion: the ablation contribution D = Q(x,m) − Q(x,∅) that CCPO measures minus the exact "
            "marginal value A*_T = Q(x,m) − V(x) that frozen-context resampling (C3) estimates, π_T-weighted over all "
            "tasks; its mean equals the thinker contribution V − Q(x,∅), a per-context offset, so D ranks messages "
            "within a context exactly like A* and the correlation shows what the offset does across contexts.", ""]
    out += regime_table(results["regimes"])
    out += ["", "## Gradient SNR |E g|² / tr Var g per role (independent batches at a fixed policy)", ""]
    out += snr_table(results["regimes"])
    out += ["", "## Credit fidelity (Spearman of trained credits vs exact A*) and other diagnostics at the end", ""]
    out += diagnostics_table(results["regimes"])
    tier2 = results.get("tier2") or []
    if tier2:
        out += ["", "## Tier 2 (multi-token messages from a tiny torch policy, exact by enumeration)", ""]
        out += main_table(tier2)
    elif results.get("tier2_note"):
        out += ["", f"Tier 2: {results['tier2_note']}"]
    return "\n".join(out) + "\n"


def write(results: dict, out: Path) -> list[Path]:
    """Write results.json and results.md into ``out``; returns the paths."""
    out.mkdir(parents=True, exist_ok=True)
    pj, pm = out / "results.json", out / "results.md"
    pj.write_text(json.dumps(results, indent=1, allow_nan=False) + "\n")
    pm.write_text(markdown(results))
    return [pj, pm]
