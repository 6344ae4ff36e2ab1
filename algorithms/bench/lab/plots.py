"""The lab's PNG plots (matplotlib, Agg): J vs calls with 95% seed bands, per-role SNR bars, fidelity vs AUC,
the free-riding panel, and the C3 − MAGRPO heat-map over (f, upstream learns)."""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path

import numpy as np


def _plt():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _colors(names: Sequence[str]) -> dict[str, object]:
    plt = _plt()
    cmap = plt.get_cmap("tab10")
    return {n: cmap(i % 10) for i, n in enumerate(names)}


def _learners(regimes: Sequence[dict]) -> list[str]:
    seen: list[str] = []
    for r in regimes:
        seen += [n for n in r["learners"] if n not in seen]
    return seen


def curves(regimes: Sequence[dict], path: Path) -> Path:
    """One panel per regime: exact held-out J vs evaluator calls, mean and 95% band over seeds."""
    plt = _plt()
    n = len(regimes)
    cols = min(4, n)
    rows = math.ceil(n / cols)
    fig, axes = plt.subplots(rows, cols, figsize=(4.2 * cols, 3.3 * rows), squeeze=False)
    col = _colors(_learners(regimes))
    for ax, reg in zip(axes.flat, regimes, strict=False):
        for name, lr in reg["learners"].items():
            c = lr["curve"]
            ax.plot(c["calls"], c["mean"], color=col[name], label=name, lw=1.4)
            ax.fill_between(c["calls"], c["ci95_lo"], c["ci95_hi"], color=col[name], alpha=0.2, lw=0)
        ax.set_title(f"{reg['name']} (f = {reg['f']:.2f})", fontsize=10)
        ax.set_xlabel("evaluator calls")
        ax.set_ylabel("exact held-out J")
        ax.grid(alpha=0.3)
    for ax in list(axes.flat)[n:]:
        ax.axis("off")
    axes.flat[0].legend(fontsize=7, loc="lower right")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def snr_bars(regimes: Sequence[dict], path: Path) -> Path:
    """Per-role gradient SNR (log scale) at init and mid-run, grouped by regime."""
    plt = _plt()
    names = _learners(regimes)
    col = _colors(names)
    fig, axes = plt.subplots(2, 2, figsize=(max(8, 1.3 * len(regimes) * 2), 7), squeeze=False)
    width = 0.8 / max(len(names), 1)
    for i, role in enumerate(("thinker", "reasoner")):
        for j, when in enumerate(("init", "mid")):
            ax = axes[i, j]
            for k, name in enumerate(names):
                vals = []
                for reg in regimes:
                    v = ((reg["learners"].get(name) or {}).get("snr") or {}).get(role, {}).get(when)
                    vals.append(np.nan if v is None or v <= 0 else v)
                ax.bar(np.arange(len(regimes)) + k * width, vals, width, color=col[name], label=name)
            ax.set_yscale("log")
            ax.set_xticks(np.arange(len(regimes)) + 0.4 - width / 2)
            ax.set_xticklabels([r["name"] for r in regimes], rotation=30, fontsize=8)
            ax.set_title(f"{role} SNR at {when}", fontsize=10)
            ax.grid(alpha=0.3, axis="y")
    axes[0, 0].legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def fidelity_vs_auc(regimes: Sequence[dict], path: Path) -> Path:
    """Within-context credit fidelity (mean of both roles) against AUC, one point per learner and regime."""
    plt = _plt()
    names = _learners(regimes)
    col = _colors(names)
    markers = "osD^v<>pXh*"
    fig, ax = plt.subplots(figsize=(7, 5))
    for ri, reg in enumerate(regimes):
        for name, lr in reg["learners"].items():
            w = (lr.get("fidelity") or {}).get("within") or {}
            vals = [v for v in (w.get("thinker"), w.get("reasoner")) if v is not None]
            if not vals:
                continue
            ax.scatter(np.mean(vals), lr["auc"]["mean"], color=col[name], marker=markers[ri % len(markers)], s=36,
                       label=name if ri == 0 else None)
    for ri, reg in enumerate(regimes):
        ax.scatter([], [], color="grey", marker=markers[ri % len(markers)], label=reg["name"])
    ax.set_xlabel("within-context credit fidelity (Spearman vs A*, mean of roles)")
    ax.set_ylabel("AUC (mean exact J over calls)")
    ax.legend(fontsize=7, ncol=2)
    ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def free_riding(regime: dict, path: Path) -> Path:
    """P(∅) and thinker contribution V − Q(x, ∅) vs calls in the free-riding regime (means over seeds)."""
    plt = _plt()
    col = _colors(list(regime["learners"]))
    fig, axes = plt.subplots(1, 2, figsize=(10, 3.8))
    for name, lr in regime["learners"].items():
        calls = lr["curve"]["calls"]
        axes[0].plot(calls, lr["p_null_curve"], color=col[name], label=name)
        axes[1].plot(calls, lr["contribution_curve"], color=col[name], label=name)
    axes[0].set_ylabel("P(∅) on held-out tasks")
    axes[1].set_ylabel("thinker contribution V − Q(x, ∅)")
    for ax in axes:
        ax.set_xlabel("evaluator calls")
        ax.grid(alpha=0.3)
    axes[0].legend(fontsize=7)
    fig.suptitle(f"{regime['name']}: does the thinker stop free-riding?", fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def heatmap(regimes: Sequence[dict], path: Path, learner: str = "c3") -> Path | None:
    """C3 − MAGRPO final J (paired mean) over (f bin, upstream learns or frozen); cells name their regimes."""
    plt = _plt()
    pts = []
    for reg in regimes:
        comp = next((c for c in reg.get("comparisons", []) if c["learner"] == learner), None)
        if comp is None:
            continue
        learns = not {"theta", "s_T"} <= set(reg["knobs"].get("frozen", []))
        pts.append((reg["f"], learns, comp["diff_final"]["mean"], reg["name"]))
    if not pts:
        return None
    edges = np.array([0.0, 0.05, 0.1, 0.2, 0.4, 1.0])
    grid = np.full((2, len(edges) - 1), np.nan)
    labels = [["" for _ in range(len(edges) - 1)] for _ in range(2)]
    sums = np.zeros_like(grid)
    counts = np.zeros_like(grid)
    for f, learns, d, name in pts:
        j = int(np.clip(np.searchsorted(edges, f, side="right") - 1, 0, len(edges) - 2))
        i = 0 if learns else 1
        sums[i, j] += d
        counts[i, j] += 1
        labels[i][j] += ("\n" if labels[i][j] else "") + f"{name} {d:+.3f}"
    grid = np.where(counts > 0, sums / np.maximum(counts, 1), np.nan)
    lim = max(1e-3, float(np.nanmax(np.abs(grid))))
    fig, ax = plt.subplots(figsize=(9, 3.6))
    im = ax.imshow(grid, cmap="RdBu", vmin=-lim, vmax=lim, aspect="auto")
    for i in range(2):
        for j in range(len(edges) - 1):
            if labels[i][j]:
                ax.text(j, i, labels[i][j], ha="center", va="center", fontsize=7)
    ax.set_xticks(range(len(edges) - 1))
    ax.set_xticklabels([f"{edges[j]:.2f}–{edges[j + 1]:.2f}" for j in range(len(edges) - 1)])
    ax.set_yticks([0, 1])
    ax.set_yticklabels(["upstream learns", "upstream frozen"])
    ax.set_xlabel("f = σ_b² / (σ_b² + σ_w²) at init")
    fig.colorbar(im, ax=ax, label=f"{learner} − grpo final J")
    ax.set_title(f"{learner} − MAGRPO by (f, upstream learns)", fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def all_plots(regimes: Sequence[dict], out: Path) -> list[Path]:
    """Every plot that the chosen regimes allow; returns the written paths."""
    out.mkdir(parents=True, exist_ok=True)
    paths = [curves(regimes, out / "curves.png"), snr_bars(regimes, out / "snr.png"),
             fidelity_vs_auc(regimes, out / "fidelity_vs_auc.png")]
    fr = next((r for r in regimes if r["name"] == "free_riding"), None)
    if fr is not None:
        paths.append(free_riding(fr, out / "free_riding.png"))
    hm = heatmap(regimes, out / "heatmap_c3_vs_grpo.png")
    if hm is not None:
        paths.append(hm)
    return paths
