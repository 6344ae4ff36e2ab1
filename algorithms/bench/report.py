"""Summaries of the integration runs: 95% intervals over held-out tasks and seeds, a markdown table, PNG plots.

Accuracy intervals (greedy, pass@1, pass@k) include both sources of noise: task sampling, as a binomial
over the ``n`` held-out tasks (half-width ``1.96 sqrt(p (1 - p) / n)``, which also bounds the variance of
per-task rates such as pass@1), and seed variation (half-width ``t_{0.975, S-1} s / sqrt(S)`` over the S
seeds' values); the two half-widths add in quadrature and the interval is clipped to [0, 1]. With one
seed only the task part is known and the cell says so. A learner differs from the SFT start "beyond
noise" when the interval of its per-seed difference to the start (same construction, both arms'
binomial terms) excludes 0.
"""

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
    "null_fidelity",
    "within_group_var",
    "influence",
    "upstream_entropy",
    "cmi_over_h",
)
ACCURACY_METRICS = ("greedy", "pass_at_1", "pass_at_k")
Z95 = 1.959963984540054


def mean_std(values: Sequence[float]) -> dict[str, float]:
    """``{"mean", "std", "n"}`` of the finite values (sample std, ddof 1; 0 for one value)."""
    xs = [float(v) for v in values if v is not None and math.isfinite(float(v))]
    if not xs:
        return {"mean": float("nan"), "std": float("nan"), "n": 0}
    m = sum(xs) / len(xs)
    var = sum((x - m) ** 2 for x in xs) / (len(xs) - 1) if len(xs) > 1 else 0.0
    return {"mean": m, "std": math.sqrt(var), "n": len(xs)}


def _t975(df: int) -> float:
    from .lab.stats import t_quantile

    return t_quantile(0.975, df)


def _seed_half(values: Sequence[float]) -> float:
    """``t_{0.975, S-1} s / sqrt(S)`` (``nan`` for fewer than two values)."""
    cell = mean_std(values)
    return _t975(cell["n"] - 1) * cell["std"] / math.sqrt(cell["n"]) if cell["n"] >= 2 else float("nan")


def accuracy_ci(values: Sequence[float], n_tasks: int) -> dict[str, float]:
    """Mean over seeds of an accuracy measured on ``n_tasks`` held-out tasks and its 95% interval
    (task sampling and seed variation, see the module docstring): ``{"mean", "lo", "hi", "n",
    "task_half", "seed_half"}``; ``seed_half`` is ``nan`` with one seed (the interval is then task-only)."""
    cell = mean_std(values)
    if cell["n"] == 0 or n_tasks <= 0:
        return {**cell, "lo": float("nan"), "hi": float("nan"), "task_half": float("nan"), "seed_half": float("nan")}
    p = min(max(cell["mean"], 0.0), 1.0)
    task = Z95 * math.sqrt(p * (1 - p) / n_tasks)
    seed = _seed_half(values)
    half = math.hypot(task, 0.0 if math.isnan(seed) else seed)
    return {**cell, "lo": max(0.0, cell["mean"] - half), "hi": min(1.0, cell["mean"] + half),
            "task_half": task, "seed_half": seed}


def difference_ci(final: Sequence[float], start: Sequence[float], n_tasks: int) -> dict[str, float]:
    """Per-seed paired difference ``final - start`` of an accuracy on the same ``n_tasks`` tasks:
    ``{"mean", "lo", "hi", "n"}`` with both arms' binomial terms and the seeds' spread of the difference."""
    pairs = [(f, s) for f, s in zip(final, start, strict=True) if f is not None and s is not None]
    if not pairs or n_tasks <= 0:
        return {"mean": float("nan"), "lo": float("nan"), "hi": float("nan"), "n": 0}
    d = [f - s for f, s in pairs]
    p1 = sum(f for f, _ in pairs) / len(pairs)
    p0 = sum(s for _, s in pairs) / len(pairs)
    task = Z95 * math.sqrt((p1 * (1 - p1) + p0 * (1 - p0)) / n_tasks)
    seed = _seed_half(d)
    half = math.hypot(task, 0.0 if math.isnan(seed) else seed)
    m = sum(d) / len(d)
    return {"mean": m, "lo": m - half, "hi": m + half, "n": len(d)}


def summarize(runs: Sequence[dict[str, Any]], *, n_tasks: int = 0) -> dict[str, dict[str, dict[str, dict[str, float]]]]:
    """``summary[topology][learner][metric]`` over seeds from each run's ``final``: ``{"mean", "std", "n"}``,
    plus ``"lo"``/``"hi"`` (95%, :func:`accuracy_ci`) for the accuracy metrics on ``n_tasks`` held-out tasks."""
    grouped: dict[tuple[str, str], list[dict[str, Any]]] = {}
    for run in runs:
        grouped.setdefault((run["topology"], run["learner"]), []).append(run)
    out: dict[str, dict[str, dict[str, dict[str, float]]]] = {}
    for (topo, learner), group in grouped.items():
        cells = {}
        for m in SUMMARY_METRICS:
            values = [r["final"].get(m) for r in group if r["final"].get(m) is not None]
            cells[m] = accuracy_ci(values, n_tasks) if m in ACCURACY_METRICS and n_tasks else mean_std(values)
        out.setdefault(topo, {})[learner] = cells
    return out


def baseline_rows(runs: Sequence[dict[str, Any]], *, n_tasks: int = 0) -> dict[str, dict[str, Any]]:
    """The "SFT (no RL)" row per topology: the iteration-0 evaluation (before any update), one value per
    seed (every run of a seed starts from the same weights), with intervals as :func:`summarize`."""
    out: dict[str, dict[str, Any]] = {}
    for topo in dict.fromkeys(r["topology"] for r in runs):
        per_seed = _start_points(runs, topo)
        out[topo] = {m: accuracy_ci([p[m] for p in per_seed.values() if p.get(m) is not None], n_tasks)
                     if n_tasks else mean_std([p[m] for p in per_seed.values() if p.get(m) is not None])
                     for m in ACCURACY_METRICS}
        out[topo]["n"] = len(per_seed)
    return out


def _start_points(runs: Sequence[dict[str, Any]], topo: str) -> dict[Any, dict[str, Any]]:
    first: dict[Any, dict[str, Any]] = {}
    for r in runs:
        if r["topology"] == topo and r["curve"] and r["curve"][0]["iteration"] == 0:
            first.setdefault(r.get("seed"), r["curve"][0])
    return first


def noise_verdicts(runs: Sequence[dict[str, Any]], *, n_tasks: int, k: int = 4) -> list[dict[str, Any]]:
    """Per (topology, learner, accuracy metric): the difference to the SFT start with its 95% interval
    and whether it excludes 0 (``beyond_noise``)."""
    out = []
    for topo in dict.fromkeys(r["topology"] for r in runs):
        start = _start_points(runs, topo)
        for learner in dict.fromkeys(r["learner"] for r in runs if r["topology"] == topo):
            group = [r for r in runs if r["topology"] == topo and r["learner"] == learner and r.get("seed") in start]
            for m in ACCURACY_METRICS:
                d = difference_ci([r["final"].get(m) for r in group], [start[r["seed"]].get(m) for r in group], n_tasks)
                if d["n"]:
                    out.append({"topology": topo, "learner": learner, "metric": m, **d,
                                "beyond_noise": bool(d["lo"] > 0 or d["hi"] < 0)})
    return out


def noise_line(verdicts: Sequence[dict[str, Any]], *, k: int = 4) -> str:
    """One line: does any learner differ from the SFT start beyond noise?"""
    names = {"greedy": "greedy", "pass_at_1": "pass@1", "pass_at_k": f"pass@{k}"}
    hits = [v for v in verdicts if v["beyond_noise"]]
    if not verdicts:
        return "No learner could be compared with the SFT start (no finished run)."
    if not hits:
        return ("No learner differs from the SFT start beyond noise: the 95% interval of every learner's change "
                "(greedy, pass@1, pass@k) includes 0.")
    parts = [f"{v['topology']} {v['learner']} {names[v['metric']]} {v['mean']:+.3f} [{v['lo']:+.3f}, {v['hi']:+.3f}]"
             for v in hits]
    return "Beyond noise vs the SFT start (95% interval excludes 0): " + "; ".join(parts) + "."


def _fmt(cell: dict[str, float], digits: int = 3, integer: bool = False) -> str:
    if not cell or cell.get("n", 0) == 0 or (isinstance(cell.get("mean"), float) and math.isnan(cell["mean"])):
        return "–"
    if integer:
        return f"{cell['mean']:.0f}"
    if "lo" in cell and not math.isnan(cell["lo"]):
        mark = "*" if math.isnan(cell.get("seed_half", 0.0)) else ""
        return f"{cell['mean']:.{digits}f} [{cell['lo']:.{digits}f}, {cell['hi']:.{digits}f}]{mark}"
    if cell["n"] == 1:
        return f"{cell['mean']:.{digits}f}"
    return f"{cell['mean']:.{digits}f} ± {cell['std']:.{digits}f}"


def markdown_table(summary: dict[str, Any], *, baseline: dict[str, Any] | None = None, k: int = 4) -> str:
    """One markdown table: a row per (topology, learner); accuracy cells are ``mean [95% interval]``
    (``*``: one seed, task sampling only), diagnostics ``mean ± std`` over seeds. Wall time is not
    in the table (it measures the machine; it stays in results.json).

    ``baseline[topology] = {"greedy": {...}, "pass_at_1": ..., "pass_at_k": ..., "n": seeds}`` adds an
    "SFT (no RL)" row measured on the same held-out tasks before training.
    """
    head = (
        f"| topology | learner | seeds | greedy acc [95% CI] | pass@1 [95% CI] | pass@{k} [95% CI] | evaluator calls "
        "| generated tokens | optimizer steps | credit fidelity | random-credit fidelity | within-group var "
        "| influence CMI (nats) | upstream H (nats) |"
    )
    lines = [head, "|" + "---|" * 14]
    for topo, learners in summary.items():
        if baseline and topo in baseline:
            b = baseline[topo]
            lines.append(
                f"| {topo} | SFT (no RL) | {b.get('n', '–')} | {_fmt(b.get('greedy', {}))} | {_fmt(b.get('pass_at_1', {}))} "
                f"| {_fmt(b.get('pass_at_k', {}))} | 0 | 0 | 0 | – | – | – | – | – |"
            )
        for learner, cells in learners.items():
            seeds = max((c.get("n", 0) for m, c in cells.items() if m in ACCURACY_METRICS), default=0)
            lines.append(
                f"| {topo} | {learner} | {seeds} | {_fmt(cells['greedy'])} | {_fmt(cells['pass_at_1'])} "
                f"| {_fmt(cells['pass_at_k'])} | {_fmt(cells['evaluator_calls'], integer=True)} "
                f"| {_fmt(cells['generated_tokens'], integer=True)} | {_fmt(cells['optimizer_steps'], integer=True)} "
                f"| {_fmt(cells['fidelity'])} | {_fmt(cells['null_fidelity'])} | {_fmt(cells['within_group_var'])} "
                f"| {_fmt(cells['influence'])} | {_fmt(cells['upstream_entropy'])} |"
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
