"""``llm-marl view PATH --terminal``: a compact look in the terminal through ``rich``.

Model text only ever reaches ``rich`` as :class:`rich.text.Text` (never parsed as markup), so a
transcript holding ``[bold]`` or ``[/]`` prints as it is.
"""

from __future__ import annotations

from typing import Any

from .detect import Source

SNIPPET = 60


def _snip(text: str | None, n: int = SNIPPET) -> str:
    t = " ".join((text or "").split())
    return t if len(t) <= n else t[: n - 1] + "…"


def _rich() -> Any:
    try:
        import rich  # noqa: F401
    except ImportError:
        raise ValueError("--terminal needs the 'rich' package (pip install rich)") from None
    from rich import box
    from rich.console import Console
    from rich.table import Table
    from rich.text import Text
    return box, Console, Table, Text


def render_terminal(source: Source, *, console: Any = None, limit: int = 50) -> None:
    """Print the table of episodes/trees, the metrics summary, or the benchmark table of ``source``."""
    box, Console, Table, Text = _rich()
    console = console or Console()
    if source.kind == "rollout":
        from .rollout_data import load_rollout

        episodes, trees, stats = load_rollout(source.main)
        t = Table(title=Text(f"{source.main}: {len(episodes)} episodes, {len(trees)} trees"), box=box.SIMPLE)
        for col in ("episode", "task", "roles"):
            t.add_column(col, overflow="fold")
        for col in ("reward", "verdict", "answer"):
            t.add_column(col, no_wrap=True, overflow="ellipsis", max_width=12)
        t.add_column("last message", overflow="ellipsis", no_wrap=True, max_width=32)
        for ep in episodes[:limit]:
            v = ep.verdict
            t.add_row(Text(ep.episode_id), Text(ep.task.id), Text(",".join(dict.fromkeys(m.role for m in ep.messages))),
                      Text(f"{ep.reward:.3f}"), Text("correct" if v.correct else v.status if v.status != "ok" else "wrong",
                                                     style="green" if v.correct else "red"),
                      Text(str(v.extracted) if v.extracted is not None else "–"),
                      Text(_snip(ep.messages[-1].content if ep.messages else "")))
        if episodes or not trees:
            console.print(t)
        if len(episodes) > limit:
            console.print(Text(f"... {len(episodes) - limit} more episodes (the HTML view shows them all)"))
        for tree in trees[:limit]:
            _print_tree(console, tree, Text)
        for s in stats:
            console.print(Text(", ".join(f"{k} {v:.3g}" if isinstance(v, float) else f"{k} {v}"
                                         for k, v in s.to_dict().items())))
        return
    if source.kind == "run":
        from .views import load_metrics, metric_series

        _, series = metric_series(load_metrics(source.main))
        t = Table(title=Text(f"{source.folder}: metrics"), box=box.SIMPLE)
        for col in ("metric", "first", "last", "min", "max", "points"):
            t.add_column(col, justify="right" if col != "metric" else "left")
        for k, (_, ys) in series.items():
            t.add_row(Text(k), *(Text(f"{v:.4g}") for v in (ys[0], ys[-1], min(ys), max(ys))), Text(str(len(ys))))
        console.print(t)
        return
    _print_bench(console, source, box, Table, Text)


def _print_tree(console: Any, tree: Any, Text: Any) -> None:
    from rich.tree import Tree

    from .rollout_data import tree_credits

    credit, note = tree_credits([tree])
    top = Tree(Text(f"tree {tree.tree_id} task {tree.task.id} value {tree.root.value:.3f} ({note.split(':')[0]})"))

    def grow(branch: Any, node_id: str) -> None:
        for c in tree.nodes[node_id].children:
            n = tree.nodes[c]
            loo = credit.get((tree.tree_id, c))
            label = Text(f"{c} {n.message.role if n.message else ''} value {n.value:.3f}"
                         + (f" LOO {loo[0]:+.3f}" if loo else "") + (f" reward {n.reward:.3f}" if n.reward is not None else "")
                         + "  " + _snip(n.message.content if n.message else "", 40))
            grow(branch.add(label), c)

    grow(top, "root")
    console.print(top)


def _print_bench(console: Any, source: Source, box: Any, Table: Any, Text: Any) -> None:
    import json

    from .views import ci_text

    res = json.loads(source.main.read_text(encoding="utf-8"))
    if source.kind == "bench-credit":
        if res.get("noise_line"):
            console.print(Text(res["noise_line"], style="bold"))
        for topo, learners in (res.get("summary") or {}).items():
            metrics = list(dict.fromkeys(m for cells in learners.values() for m in cells))
            t = Table(title=Text(topo), box=box.SIMPLE)
            t.add_column("learner")
            for m in metrics:
                t.add_column(m, justify="right", no_wrap=True)
            for learner, cells in learners.items():
                t.add_row(Text(learner), *(Text(ci_text(cells.get(m)) or "–") for m in metrics))
            console.print(t)
        return
    for reg in res.get("regimes") or []:
        t = Table(title=Text(f"{reg.get('name')}  f={reg.get('f')}"), box=box.SIMPLE)
        for col in ("learner", "final J [95%]", "AUC [95%]", "vs grpo (final)", "verdict"):
            t.add_column(col, no_wrap=col != "verdict", min_width=8 if col == "learner" else None)
        comps = {c.get("learner"): c for c in reg.get("comparisons") or []}
        for name, d in (reg.get("learners") or {}).items():
            c = comps.get(name, {})
            t.add_row(Text(name), Text(ci_text(d.get("final_J"))), Text(ci_text(d.get("auc"))),
                      Text(ci_text(c.get("diff_final")) or "–"), Text(str(c.get("verdict", "–"))))
        console.print(t)
