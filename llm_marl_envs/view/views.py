"""One renderer per input kind: ``build_html(source) -> str`` (the whole page).

Rollouts are rendered in the browser from the JSON block (lazily, see ``page.js``); training runs and
benchmark results are rendered here, as escaped tables and inline SVG charts, with the folder's PNG
plots embedded as ``data:`` URIs.
"""

from __future__ import annotations

import base64
import json
import math
from collections.abc import Callable, Iterable, Sequence
from html import escape
from pathlib import Path
from typing import Any

from .detect import Source
from .page import render_page
from .rollout_data import load_rollout, rollout_page_data
from .svg import Series, line_chart

MAX_PNG_BYTES = 5_000_000  # a larger plot is listed, not embedded


# ----------------------------------------------------------------------------- small helpers
def _e(x: Any) -> str:
    return escape(str(x), quote=True)


def _is_num(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)


def fmt(v: Any, digits: int = 3) -> str:
    """A number for a table cell (``–`` for missing)."""
    if v is None or (isinstance(v, float) and not math.isfinite(v)):
        return "–"
    if isinstance(v, bool):
        return "yes" if v else "no"
    if isinstance(v, int):
        return str(v)
    if isinstance(v, float):
        return f"{v:.{digits}f}" if abs(v) < 1e5 else f"{v:.4g}"
    if isinstance(v, (list, tuple)) and all(_is_num(x) for x in v) and len(v) == 2:
        return f"[{fmt(v[0], digits)}, {fmt(v[1], digits)}]"
    if isinstance(v, dict):
        return ci_text(v, digits) or json.dumps(v)
    return str(v)


def ci_text(cell: Any, digits: int = 3) -> str:
    """``mean [lo, hi]`` from ``{mean, ci95: [lo, hi]}`` or ``{mean, lo, hi}``; ``mean ± std``; else ``""``."""
    if not isinstance(cell, dict) or "mean" not in cell:
        return ""
    m = cell.get("mean")
    if isinstance(cell.get("ci95"), (list, tuple)) and len(cell["ci95"]) == 2:
        lo, hi = cell["ci95"]
        return f"{fmt(m, digits)} [{fmt(lo, digits)}, {fmt(hi, digits)}]"
    if _is_num(cell.get("lo")) and _is_num(cell.get("hi")):
        return f"{fmt(m, digits)} [{fmt(cell['lo'], digits)}, {fmt(cell['hi'], digits)}]"
    if _is_num(cell.get("std")) and int(cell.get("n") or 0) > 1:
        return f"{fmt(m, digits)} ± {fmt(cell['std'], digits)}"
    return fmt(m, digits)


def table(headers: Sequence[str], rows: Iterable[Sequence[Any]], *, cls: str = "") -> str:
    """An escaped HTML table; cells that are numbers are right-aligned. A cell may be ``(text, css_class)``."""
    out = [f'<div class="scroll"><table class="{_e(cls)}">']
    if any(headers):
        out.append("<tr>" + "".join(f"<th>{_e(h)}</th>" for h in headers) + "</tr>")
    for row in rows:
        cells = []
        for c in row:
            extra = ""
            if isinstance(c, tuple):
                c, extra = c
            text = fmt(c) if not isinstance(c, str) else c
            num = " num" if not isinstance(c, str) or (text[:1].isdigit() or text[:1] in "-+–") else ""
            cells.append(f'<td class="{_e((num + " " + extra).strip())}">{_e(text)}</td>')
        out.append("<tr>" + "".join(cells) + "</tr>")
    out.append("</table></div>")
    return "".join(out)


def png_images(folder: Path) -> str:
    """Every ``*.png`` in ``folder`` as an ``<img>`` with a base64 ``data:`` URI (sorted by name)."""
    out = []
    for p in sorted(folder.glob("*.png")):
        data = p.read_bytes()
        if not data.startswith(b"\x89PNG"):
            continue
        if len(data) > MAX_PNG_BYTES:
            out.append(f'<p class="muted">{_e(p.name)}: {len(data)} bytes, not embedded</p>')
            continue
        b64 = base64.b64encode(data).decode("ascii")
        out.append(f'<figure><img class="plot" alt="{_e(p.name)}" src="data:image/png;base64,{b64}">'
                   f'<figcaption class="muted">{_e(p.name)}</figcaption></figure>')
    return "".join(out)


def _read_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError) as e:
        raise ValueError(f"{path}: unreadable JSON ({e})") from None


# ----------------------------------------------------------------------------- rollouts
def rollout_html(source: Source) -> str:
    """Episodes and trees: a summary here, the transcripts rendered by the page script."""
    episodes, trees, stats = load_rollout(source.main)
    data = rollout_page_data(episodes, trees, stats, source=str(source.main))
    eps = data["episodes"]
    n_tasks = len({e["task"] for e in eps} | {t["task"] for t in data["trees"]})
    envs = sorted({e["env"] for e in eps} | {t["env"] for t in data["trees"]})
    rows = [("episodes", len(eps)), ("trees", len(data["trees"])), ("tasks", n_tasks), ("envs", ", ".join(envs) or "–"),
            ("roles", ", ".join(data["roles"]) or "–")]
    if eps:
        rows += [("mean team reward", fmt(sum(e["reward"] for e in eps) / len(eps))),
                 ("accuracy", fmt(sum(bool(e["verdict"] and e["verdict"]["correct"]) for e in eps) / len(eps)))]
    parts = ['<section id="summary"><p class="kv">' + " · ".join(f"<b>{_e(k)}</b> {_e(v)}" for k, v in rows) + "</p>"]
    for s in data["stats"]:
        parts.append("<details><summary>run stats</summary>" + table(["field", "value"], list(s.items())) + "</details>")
    parts.append('</section><noscript><p>The transcripts need JavaScript (inline, no network).</p></noscript>')
    title = f"Rollout: {len(eps)} episodes, {len(data['trees'])} trees"
    return render_page(title=title, subtitle=str(source.main), body_html="".join(parts), data=data)


# ----------------------------------------------------------------------------- training runs
RUN_GROUPS: tuple[tuple[str, Callable[[str], bool]], ...] = (
    ("reward", lambda k: "reward" in k and not k.startswith("critic/")),
    ("accuracy", lambda k: "accuracy" in k or "pass@" in k),
    ("credit statistics", lambda k: (k.startswith(("adv_", "raw_credit", "estimator/", "credit")) or "credit" in k)
     and not k.endswith(("n_groups", "decisions"))),
    ("critic", lambda k: k.startswith("critic/")),
    ("evaluator calls", lambda k: "evaluator_calls" in k),
    ("tokens", lambda k: "tokens" in k),
    ("loss and gradient", lambda k: k.startswith("loss") or "grad_norm" in k or k.startswith(("ratio", "clip", "kl"))),
)


def load_metrics(path: Path) -> list[dict[str, Any]]:
    """The records of a ``metrics.jsonl`` (``ValueError`` naming ``path:line`` on a bad line)."""
    records = []
    with path.open(encoding="utf-8") as f:
        for n, line in enumerate(f, 1):
            if not line.strip():
                continue
            try:
                d = json.loads(line)
            except ValueError as e:
                raise ValueError(f"{path}:{n}: not a JSON line ({e})") from None
            if not isinstance(d, dict):
                raise ValueError(f"{path}:{n}: expected a JSON object, got {type(d).__name__}")
            records.append(d)
    return records


def metric_series(records: Sequence[dict[str, Any]]) -> tuple[list[float], dict[str, tuple[list[float], list[float]]]]:
    """``(steps, {key: (x, y)})`` for every numeric key; x = ``iteration`` (else the record index)."""
    steps = [float(r.get("iteration", i)) if _is_num(r.get("iteration", i)) else float(i) for i, r in enumerate(records)]
    out: dict[str, tuple[list[float], list[float]]] = {}
    for x, r in zip(steps, records, strict=True):
        for k, v in r.items():
            if k != "iteration" and _is_num(v):
                xs, ys = out.setdefault(k, ([], []))
                xs.append(x)
                ys.append(float(v))
    return steps, out


CREDIT_ROWS = 400  # rows of the credit log shown (the rest are counted)


def credit_log_html(path: Path) -> str:
    """The credits the learner trained on in its last logged iteration (``credits.jsonl`` written by
    ``algorithms.diagnostics.write_credit_log``), one row per message, grouped as the estimator grouped them."""
    if not path.is_file():
        return ""
    rows = []
    with path.open(encoding="utf-8") as f:
        for n, line in enumerate(f, 1):
            if line.strip():
                try:
                    rows.append(json.loads(line))
                except ValueError as e:
                    raise ValueError(f"{path}:{n}: not a JSON line ({e})") from None
    if not rows:
        return ""
    rows.sort(key=lambda r: (str(r.get("group_id")), str(r.get("episode_id"))))
    its = sorted({r.get("iteration") for r in rows if r.get("iteration") is not None})
    out = [f"<h2>Credits the learner trained on (iteration {_e(', '.join(map(str, its)) or '?')}, "
           f"{len(rows)} messages)</h2><p class=\"muted\">From {_e(path.name)}: the estimator's raw credit and "
           "the advantage the loss used, per message; rows grouped by the estimator's group.</p>",
           '<div class="scroll"><table><tr><th>group</th><th>agent</th><th>episode / node</th><th>reward</th>'
           "<th>raw credit</th><th>advantage</th><th>trained</th><th>message</th></tr>"]
    for r in rows[:CREDIT_ROWS]:
        text, ctx = str(r.get("text") or ""), str(r.get("context") or "")
        out.append(
            f"<tr><td>{_e(r.get('group_id'))}</td><td>{_e(r.get('agent'))}</td><td>{_e(r.get('episode_id'))}</td>"
            f'<td class="num">{_e(fmt(r.get("reward")))}</td><td class="num">{_e(fmt(r.get("raw")))}</td>'
            f'<td class="num">{_e(fmt(r.get("advantage")))}</td><td>{_e(fmt(r.get("trainable")))}</td>'
            f"<td><details><summary>{_e(text[:80] + ('…' if len(text) > 80 else ''))}</summary><pre>{_e(text)}</pre>"
            f'<details class="ctx"><summary>exact context ({len(ctx)} chars)</summary><pre>{_e(ctx)}</pre></details>'
            "</details></td></tr>")
    out.append("</table></div>")
    if len(rows) > CREDIT_ROWS:
        out.append(f'<p class="muted">… {len(rows) - CREDIT_ROWS} more rows in {_e(path)}</p>')
    return "".join(out)


def run_html(source: Source) -> str:
    """A training run: curves grouped by what they measure, the final values and the config."""
    records = load_metrics(source.main)
    config_path = source.folder / "config.json"
    config = _read_json(config_path) if config_path.is_file() else None
    _, series = metric_series(records)
    used: set[str] = set()
    charts = []
    for name, pick in RUN_GROUPS:
        keys = [k for k in series if k not in used and pick(k) and not k.endswith(("/k", "n_tasks"))]
        if not keys:
            continue
        used.update(keys)
        charts.append(line_chart([Series(k, *series[k]) for k in keys], title=name, xlabel="iteration"))
    other = [k for k in series if k not in used and not k.endswith(("/k", "n_tasks"))]
    for k in other:
        charts.append(line_chart([Series(k, *series[k])], title=k, xlabel="iteration", width=300, height=190))
    last = {k: (ys[-1], xs[-1], min(ys), max(ys), len(ys)) for k, (xs, ys) in series.items()}
    parts = [f'<section id="run"><p>{len(records)} records in metrics.jsonl; '
             f'{_e(config.get("learner", "?") if isinstance(config, dict) else "no config.json")}'
             f'{" on " + _e(config.get("env_id")) if isinstance(config, dict) and config.get("env_id") else ""}. '
             + (f'TensorBoard logs: <code>tensorboard --logdir {_e(source.folder / "tb")}</code></p>'
                if (source.folder / "tb").is_dir() else "No TensorBoard logs in this run (train with --tensorboard true).</p>"),
             '<h2>Curves</h2><div class="charts">', "".join(charts), "</div>",
             "<h2>Metrics</h2>",
             table(["metric", "last", "at iteration", "min", "max", "points"], [(k, *v) for k, v in last.items()])]
    parts.append(credit_log_html(source.folder / "credits.jsonl"))
    if isinstance(config, dict):
        parts.append("<h2>Config</h2>" + table(["field", "value"], [(k, json.dumps(v) if not isinstance(v, str) else v)
                                                                     for k, v in config.items()]))
    parts.append("</section>")
    title = f"Training run: {source.folder.name}"
    return render_page(title=title, subtitle=str(source.folder), body_html="".join(parts),
                       data={"kind": "run", "records": len(records)})


# ----------------------------------------------------------------------------- bench credit
VERDICT_CLASS = {"hypothesis held": "verdict-yes", "hypothesis failed": "verdict-no", "supported": "verdict-yes",
                 "contradicted": "verdict-no", "differs": "verdict-differs"}


def _verdict_cell(text: Any) -> tuple[str, str]:
    t = str(text)
    return t, VERDICT_CLASS.get(t, "")


def bench_credit_html(source: Source) -> str:
    """``bench credit`` results: the summary table with intervals, the verdicts vs the start, curves, plots."""
    res = _read_json(source.main)
    preset = res.get("preset") or {}
    parts = ['<section id="bench">']
    if res.get("partial"):
        parts.append(f'<p class="badge warn">PARTIAL: {len(res.get("runs") or [])} of {_e(res.get("runs_total", "?"))} runs</p>')
    parts.append(f"<p>{_e(res.get('kind', 'LLM integration run'))}. Preset <b>{_e(preset.get('name', '?'))}</b>, "
                 f"B = {_e(preset.get('budget', '?'))}, seeds {_e(preset.get('seeds', '?'))}, "
                 f"{_e(preset.get('iterations', '?'))} iterations; git {_e(res.get('git_commit', '?'))}; "
                 f"wall {fmt(res.get('wall_s'), 0)} s.</p>")
    if res.get("noise_line"):
        parts.append(f"<p><b>{_e(res['noise_line'])}</b></p>")
    summary = res.get("summary") or {}
    baseline = res.get("baseline") or {}
    for topo, learners in summary.items():
        metrics = list(dict.fromkeys(m for cells in learners.values() for m in cells))
        rows = []
        if topo in baseline:
            rows.append(["SFT (no RL)"] + [ci_text(baseline[topo].get(m)) or "–" for m in metrics])
        for learner, cells in learners.items():
            rows.append([learner] + [ci_text(cells.get(m)) or "–" for m in metrics])
        parts.append(f"<h2>{_e(topo)}</h2>" + table(["learner"] + metrics, rows))
    verdicts = res.get("vs_start") or []
    if verdicts:
        parts.append("<h2>Change vs the SFT start (95% interval)</h2>" + table(
            ["topology", "learner", "metric", "difference", "beyond noise"],
            [(v.get("topology"), v.get("learner"), v.get("metric"), ci_text(v),
              ("yes" if v.get("beyond_noise") else "no", "verdict-yes" if v.get("beyond_noise") else "")) for v in verdicts]))
    runs = res.get("runs") or []
    metrics = [m for m in ("greedy", "pass_at_1", "pass_at_k") if any(m in p for r in runs for p in r.get("curve") or [])]
    charts = []
    for topo in dict.fromkeys(r.get("topology") for r in runs):
        for m in metrics:
            ss = [Series(f"{r.get('learner')} s{r.get('seed')}", [p.get("iteration") for p in r.get("curve") or []],
                         [p.get(m) for p in r.get("curve") or []]) for r in runs if r.get("topology") == topo]
            charts.append(line_chart(ss, title=f"{topo}: {m}", xlabel="iteration"))
    if charts:
        parts += ['<h2>Held-out curves per run</h2><div class="charts">', *charts, "</div>"]
    imgs = png_images(source.folder)
    if imgs:
        parts += ["<h2>Plots</h2>", imgs]
    parts.append("</section>")
    return render_page(title=f"bench credit: {preset.get('name', source.folder.name)}", subtitle=str(source.main),
                       body_html="".join(parts), data={"kind": "bench-credit"})


# ----------------------------------------------------------------------------- bench lab
LAB_COLUMNS = ("final_J", "auc", "calls_to_80pct", "snr", "fidelity", "thinker_contribution", "p_null", "cmi_over_h",
               "trained_messages_per_iter")


def _flatten(d: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    """Nested dicts without a ``mean`` (``snr: {thinker: {init, mid}}``) as dotted columns."""
    out: dict[str, Any] = {}
    for k, v in d.items():
        if isinstance(v, dict) and "mean" not in v and v:
            out.update(_flatten(v, f"{prefix}{k}."))
        else:
            out[f"{prefix}{k}"] = v
    return out


def _lab_cell(v: Any) -> str:
    if isinstance(v, dict) and "mean" not in v:  # e.g. snr {thinker: {init, mid}}, fidelity {within: {...}}
        sep = "; " if any(isinstance(x, dict) for x in v.values()) else ", "
        return sep.join(f"{k} {_lab_cell(x)}" for k, x in v.items())
    if isinstance(v, list) and len(v) > 2:
        return f"{fmt(v[-1])} (last of {len(v)})" if all(_is_num(x) for x in v) else str(v)
    return ci_text(v) or fmt(v)


def bench_lab_html(source: Source) -> str:
    """``bench lab`` results: per regime its hypothesis, the learners' table with 95% intervals, the
    comparisons with GRPO and their verdicts, the exact-J curves with bands; and the folder's plots."""
    res = _read_json(source.main)
    head = [(k, res.get(k)) for k in ("preset", "seeds", "iterations", "budget", "wall_s") if k in res]
    for k in ("git", "machine"):
        if isinstance(res.get(k), dict):
            head.append((k, ", ".join(f"{a} {b}" for a, b in res[k].items())))
        elif k in res:
            head.append((k, str(res[k])))
    parts = ['<section id="bench"><p class="kv">' + " · ".join(f"<b>{_e(k)}</b> {_e(fmt(v) if not isinstance(v, str) else v)}"
                                                          for k, v in head) + "</p>"]
    for reg in res.get("regimes") or []:
        name = reg.get("name", "?")
        parts.append(f'<h2 id="regime-{_e(name)}">{_e(name)}</h2>')
        if reg.get("hypothesis"):
            parts.append(f"<p><i>Hypothesis:</i> {_e(reg['hypothesis'])}</p>")
        facts = [(k, reg.get(k)) for k in ("f", "optimum_J", "init_J", "judged_on") if k in reg]
        if isinstance(reg.get("knobs"), dict):
            facts.append(("knobs", ", ".join(f"{k}={v}" for k, v in reg["knobs"].items())))
        if facts:
            parts.append(table(["", ""], [(k, fmt(v) if not isinstance(v, str) else v) for k, v in facts], cls="kv"))
        learners = reg.get("learners") or {}
        flat = {n: _flatten({c: d[c] for c in LAB_COLUMNS if c in d}) for n, d in learners.items()}
        cols = list(dict.fromkeys(c for f in flat.values() for c in f))
        parts.append(table(["learner"] + [c.replace(".", " ") for c in cols],
                           [[n] + [_lab_cell(f.get(c)) for c in cols] for n, f in flat.items()]))
        comps = reg.get("comparisons") or []
        if comps:
            parts.append("<h3>vs baseline (paired over seeds, 95% interval)</h3>" + table(
                ["learner", "baseline", "expected sign", "diff final J", "diff AUC", "verdict"],
                [(c.get("learner"), c.get("baseline"), str(c.get("expected_sign", "–")), ci_text(c.get("diff_final")),
                  ci_text(c.get("diff_auc")), _verdict_cell(c.get("verdict", "–"))) for c in comps]))
        ss = []
        for n, d in learners.items():
            c = d.get("curve") or {}
            if c.get("calls") and c.get("mean"):
                ss.append(Series(n, c["calls"], c["mean"], c.get("ci95_lo"), c.get("ci95_hi")))
        if ss:
            parts.append('<div class="charts">' + line_chart(ss, title=f"{name}: exact held-out J (95% band)",
                                                               xlabel="evaluator calls", width=560, height=300) + "</div>")
    for key, val in res.items():  # tier 2 and any other table-like block
        if key in ("regimes", "machine", "git", "preset") or not isinstance(val, (list, dict)) or not val:
            continue
        parts.append(f"<h2>{_e(key)}</h2><pre>{_e(json.dumps(val, indent=1)[:20000])}</pre>")
    imgs = png_images(source.folder)
    if imgs:
        parts += ["<h2>Plots</h2>", imgs]
    parts.append("</section>")
    return render_page(title=f"bench lab: {res.get('preset', source.folder.name)}", subtitle=str(source.main),
                       body_html="".join(parts), data={"kind": "bench-lab"})


RENDERERS: dict[str, Callable[[Source], str]] = {
    "rollout": rollout_html, "run": run_html, "bench-credit": bench_credit_html, "bench-lab": bench_lab_html,
}


def build_html(source: Source) -> str:
    """The page for a detected ``source``."""
    return RENDERERS[source.kind](source)
