"""Summaries of benchmark runs: mean ± std over seeds, a markdown table, PNG plots."""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

SUMMARY_METRICS = (
    "greedy",
    "pass_at_1",
    "pass_at_k",
    "evaluator_calls",
    "generated_tokens",
    "optimizer_steps",
    "wall_s",
    "fidelity",
    "within_group_var",
    "influence",
)


def mean_std(values: Sequence[float]) -> dict[str, float]:
    """``{"mean", "std", "n"}`` of the finite values (sample std, ddof 1; 0 for one value)."""
    xs = [float(v) for v in values if v is not None and math.isfinite(float(v))]
    if not xs:
        return {"mean": float("nan"), "std": float("nan"), "n": 0}
    m = sum(xs) / len(xs)
    var = sum((x - m) ** 2 for x in xs) / (len(xs) - 1) if len(xs) > 1 else 0.0
    return {"mean": m, "std": math.sqrt(var), "n": len(xs)}


def summarize(runs: Sequence[dict[str, Any]]) -> dict[str, dict[str, dict[str, dict[str, float]]]]:
    """``summary[topology][learner][metric] = {"mean", "std", "n"}`` over seeds, from each run's ``final``."""
    grouped: dict[tuple[str, str], list[dict[str, Any]]] = {}
    for run in runs:
        grouped.setdefault((run["topology"], run["learner"]), []).append(run)
    out: dict[str, dict[str, dict[str, dict[str, float]]]] = {}
    for (topo, learner), group in grouped.items():
        out.setdefault(topo, {})[learner] = {
            m: mean_std([r["final"].get(m) for r in group if r["final"].get(m) is not None]) for m in SUMMARY_METRICS
        }
    return out


def _fmt(cell: dict[str, float], digits: int = 3, integer: bool = False) -> str:
    if not cell or cell["n"] == 0:
        return "–"
    if integer:
        return f"{cell['mean']:.0f}"
    if cell["n"] == 1:
        return f"{cell['mean']:.{digits}f}"
    return f"{cell['mean']:.{digits}f} ± {cell['std']:.{digits}f}"


def markdown_table(summary: dict[str, Any], *, baseline: dict[str, Any] | None = None, k: int = 4) -> str:
    """One markdown table: a row per (topology, learner), mean ± std over seeds.

    ``baseline[topology] = {"greedy": {...}, "pass_at_1": ..., "pass_at_k": ...}`` adds an
    "SFT (no RL)" row measured on the same held-out tasks before training.
    """
    head = (
        f"| topology | learner | greedy acc | pass@1 | pass@{k} | evaluator calls | generated tokens "
        "| optimizer steps | wall s | credit fidelity | within-group var | influence (nats) |"
    )
    lines = [head, "|" + "---|" * 12]
    for topo, learners in summary.items():
        if baseline and topo in baseline:
            b = baseline[topo]
            lines.append(
                f"| {topo} | SFT (no RL) | {_fmt(b.get('greedy', {}))} | {_fmt(b.get('pass_at_1', {}))} "
                f"| {_fmt(b.get('pass_at_k', {}))} | 0 | 0 | 0 | – | – | – | – |"
            )
        for learner, cells in learners.items():
            lines.append(
                f"| {topo} | {learner} | {_fmt(cells['greedy'])} | {_fmt(cells['pass_at_1'])} "
                f"| {_fmt(cells['pass_at_k'])} | {_fmt(cells['evaluator_calls'], integer=True)} "
                f"| {_fmt(cells['generated_tokens'], integer=True)} | {_fmt(cells['optimizer_steps'], integer=True)} "
                f"| {_fmt(cells['wall_s'], 1)} | {_fmt(cells['fidelity'])} | {_fmt(cells['within_group_var'], 4)} "
                f"| {_fmt(cells['influence'], 4)} |"
            )
    return "\n".join(lines)


def _curves(runs: Sequence[dict[str, Any]], topo: str, learner: str, x_key: str, y_key: str):
    """Per-seed (x, y) series of the evaluation points of one (topology, learner)."""
    series = []
    for run in runs:
        if run["topology"] != topo or run["learner"] != learner:
            continue
        pts = [(p[x_key], p[y_key]) for p in run["curve"] if p.get(y_key) is not None and p.get(x_key) is not None]
        if pts:
            series.append(pts)
    return series


def plot_learning_curves(runs: Sequence[dict[str, Any]], out_dir: Path, *, metric: str = "greedy") -> list[Path]:
    """For each topology, held-out ``metric`` vs evaluator calls and vs generated tokens.

    One line per learner (mean over seeds at each evaluation point) with a ±1 std band.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    paths = []
    topologies = sorted({r["topology"] for r in runs})
    learners = list(dict.fromkeys(r["learner"] for r in runs))
    for topo in topologies:
        fig, axes = plt.subplots(1, 2, figsize=(11, 4))
        for ax, x_key, x_label in (
            (axes[0], "evaluator_calls", "evaluator calls (training)"),
            (axes[1], "generated_tokens", "generated tokens (training)"),
        ):
            for learner in learners:
                series = _curves(runs, topo, learner, x_key, metric)
                if not series:
                    continue
                n = min(len(s) for s in series)
                xs = np.array([[p[0] for p in s[:n]] for s in series], dtype=float).mean(axis=0)
                ys = np.array([[p[1] for p in s[:n]] for s in series], dtype=float)
                mu, sd = ys.mean(axis=0), ys.std(axis=0)
                ax.plot(xs, mu, marker="o", ms=3, label=f"{learner} (n={len(series)})")
                if len(series) > 1:
                    ax.fill_between(xs, mu - sd, mu + sd, alpha=0.2)
            ax.set_xlabel(x_label)
            ax.set_ylabel(f"held-out {metric.replace('_', ' ')}")
            ax.grid(alpha=0.3)
        axes[0].legend(fontsize=8)
        fig.suptitle(f"{topo}: held-out team accuracy ({metric}), mean ± std over seeds")
        fig.tight_layout()
        path = out_dir / f"curves_{topo}_{metric}.png"
        fig.savefig(path, dpi=110)
        plt.close(fig)
        paths.append(path)
    return paths


def plot_diagnostics(summary: dict[str, Any], out_dir: Path) -> Path:
    """Bars of credit fidelity, within-group variance and influence per learner, one group per topology."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    metrics = (("fidelity", "credit fidelity (Spearman)"), ("within_group_var", "within-group credit var"),
               ("influence", "influence (nats)"))
    topologies = list(summary)
    learners = list(dict.fromkeys(lr for t in topologies for lr in summary[t]))
    fig, axes = plt.subplots(1, len(metrics), figsize=(4.2 * len(metrics), 3.8))
    width = 0.8 / max(1, len(learners))
    for ax, (key, label) in zip(axes, metrics, strict=True):
        for i, learner in enumerate(learners):
            mus = [summary[t].get(learner, {}).get(key, {}).get("mean", float("nan")) for t in topologies]
            sds = [summary[t].get(learner, {}).get(key, {}).get("std", 0.0) for t in topologies]
            xs = np.arange(len(topologies)) + i * width
            ax.bar(xs, mus, width, yerr=np.nan_to_num(sds), capsize=3, label=learner)
        ax.set_xticks(np.arange(len(topologies)) + width * (len(learners) - 1) / 2, topologies)
        ax.set_title(label, fontsize=10)
        ax.axhline(0, color="k", lw=0.5)
        ax.grid(axis="y", alpha=0.3)
    axes[0].legend(fontsize=8)
    fig.tight_layout()
    path = out_dir / "credit_diagnostics.png"
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path
