"""Episodes and rollout trees turned into the plain data the HTML page renders.

Strings that repeat (contexts, prompts) are stored once in ``strings`` and referred to by index, so
a page of 10,000 episodes stays small. Tree credits are the project's C3 estimator, called on
``RolloutBatch.from_trees`` (imported lazily: ``llm_marl_envs`` never imports torch at import time);
the view has no copy of a credit rule. Sibling differences are ``difflib`` opcodes over words.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from ..rollout.data import Episode, MessageRecord, RolloutTree, RunStats, iter_jsonl

DIFF_MAX_CHARS = 6000  # longer siblings are shown without highlighting (difflib is quadratic)
_WORDS = re.compile(r"\s+|\w+|[^\w\s]", re.UNICODE)


class _Strings:
    """A table of unique strings: ``add(text) -> index``."""

    def __init__(self) -> None:
        self.items: list[str] = []
        self._index: dict[str, int] = {}

    def add(self, text: str) -> int:
        i = self._index.get(text)
        if i is None:
            i = self._index[text] = len(self.items)
            self.items.append(text)
        return i


def load_rollout(path: str | Path) -> tuple[list[Episode], list[RolloutTree], list[RunStats]]:
    """The episodes, trees and run stats of a rollout JSONL (``ValueError`` naming ``path:line``)."""
    episodes: list[Episode] = []
    trees: list[RolloutTree] = []
    stats: list[RunStats] = []
    try:
        for item in iter_jsonl(path):
            if isinstance(item, Episode):
                episodes.append(item)
            elif isinstance(item, RolloutTree):
                trees.append(item)
            else:
                stats.append(item)
    except (KeyError, TypeError, ValueError) as e:  # a malformed record: one line naming the file
        raise ValueError(f"{path}: not a valid 'llm-marl rollout' JSONL record ({type(e).__name__}: {e})") from None
    return episodes, trees, stats


def _message(rec: MessageRecord, strings: _Strings) -> dict[str, Any]:
    gen = rec.generation
    return {
        "agent": rec.agent, "role": rec.role, "turn": rec.turn, "stage": rec.stage, "content": rec.content,
        "ctx": strings.add(rec.context), "finish": None if gen is None else gen.finish_reason,
        "ntok": len(rec.token_ids), "replayed": gen is None,
    }


def _verdict(v: Any) -> dict[str, Any] | None:
    return None if v is None else v.to_dict()


def episode_data(ep: Episode, strings: _Strings) -> dict[str, Any]:
    """One episode as page data."""
    return {
        "id": ep.episode_id, "group": ep.group_id, "task": ep.task.id, "prompt": strings.add(ep.task.prompt),
        "answer": ep.task.answer, "env": ep.env_id, "reward": ep.reward, "verdict": _verdict(ep.verdict),
        "team": ep.team_answer, "cf": ep.counterfactual_rewards, "ablated": ep.ablated, "seed": ep.seed,
        "prefix_len": ep.prefix_len, "leaf": ep.leaf_id, "msgs": [_message(m, strings) for m in ep.messages],
    }


def tree_credits(trees: Sequence[RolloutTree]) -> tuple[dict[tuple[str, str], tuple[float, float]], str]:
    """C3 credits of every generated node: ``{(tree_id, node_id): (raw LOO credit, advantage)}`` and a note.

    Calls ``algorithms.estimators.ESTIMATORS["c3"]`` (default config) on ``RolloutBatch.from_trees``;
    when ``algorithms`` cannot be imported or the estimator refuses the trees, returns ``{}`` and a
    note starting with ``"credit unavailable"``.
    """
    if not trees:
        return {}, "no trees"
    try:
        from algorithms.batch import RolloutBatch
        from algorithms.estimators import ESTIMATORS
    except Exception as e:  # noqa: BLE001 - any import failure (no torch, no algorithms) means: no credit
        return {}, f"credit unavailable: the algorithms package cannot be imported ({type(e).__name__}: {e})"
    batch = RolloutBatch.from_trees(list(trees))
    try:
        credits = ESTIMATORS["c3"](batch)
    except (ValueError, KeyError) as e:
        return {}, f"credit unavailable: the C3 estimator refused these trees ({e})"
    out: dict[tuple[str, str], tuple[float, float]] = {}
    for d, raw, adv in zip(batch.decisions, credits.raw.tolist(), credits.advantages.tolist(), strict=True):
        tree_id = d.episode_id[: -len(d.node_id) - 1]
        out[(tree_id, d.node_id)] = (float(raw), float(adv))
    return out, ("C3 credit from algorithms.estimators.ESTIMATORS['c3'] (default config): LOO = node value "
                 "minus the mean value of its other siblings; advantage = LOO standardised within the sibling "
                 "group (what the C3 learner trains on by default)")


def diff_segments(text: str, other: str) -> list[list[Any]]:
    """``text`` cut into ``[[changed, piece], ...]``: ``changed`` is 1 where it differs from ``other``
    (word-level ``difflib``); one unchanged segment when either is longer than ``DIFF_MAX_CHARS``."""
    if len(text) > DIFF_MAX_CHARS or len(other) > DIFF_MAX_CHARS:
        return [[0, text]]
    a, b = _WORDS.findall(text), _WORDS.findall(other)
    out: list[list[Any]] = []
    for tag, i1, i2, _, _ in difflib.SequenceMatcher(None, a, b, autojunk=False).get_opcodes():
        piece = "".join(a[i1:i2])
        if not piece:
            continue
        changed = 0 if tag == "equal" else 1
        if out and out[-1][0] == changed:
            out[-1][1] += piece
        else:
            out.append([changed, piece])
    return out


def tree_data(tree: RolloutTree, strings: _Strings, credit: dict[tuple[str, str], tuple[float, float]]) -> dict[str, Any]:
    """One tree as page data: nodes parents first, each with value, credit and its diff to a sibling."""
    nodes = []
    for node in tree.nodes.values():
        d: dict[str, Any] = {
            "id": node.node_id, "parent": node.parent_id, "depth": node.depth, "children": node.children,
            "value": node.value, "reward": node.reward, "verdict": _verdict(node.verdict),
            "msg": None if node.message is None else _message(node.message, strings),
            "loo": None, "adv": None, "diff": None, "same_ctx": None,
        }
        c = credit.get((tree.tree_id, node.node_id))
        if c is not None:
            d["loo"], d["adv"] = c
        if node.message is not None and node.parent_id is not None:
            sibs = [s for s in tree.nodes[node.parent_id].children if s != node.node_id]
            others = [tree.nodes[s].message for s in sibs if tree.nodes[s].message is not None]
            if others:
                d["diff"] = diff_segments(node.message.content, others[0].content)
                d["same_ctx"] = all(o.context == node.message.context for o in others)
        nodes.append(d)
    return {
        "id": tree.tree_id, "task": tree.task.id, "prompt": strings.add(tree.task.prompt), "answer": tree.task.answer,
        "env": tree.env_id, "fanout": tree.fanout, "evaluator_calls": tree.evaluator_calls,
        "generated_tokens": tree.generated_tokens, "prefix": [_message(m, strings) for m in tree.prefix],
        "nodes": nodes, "value": tree.root.value, "n_leaves": len(tree.leaves()),
    }


def rollout_page_data(episodes: Iterable[Episode], trees: Sequence[RolloutTree] = (),
                      stats: Sequence[RunStats] = (), *, source: str = "") -> dict[str, Any]:
    """Everything the rollout page shows, as one JSON-able dict (``kind = "rollout"``)."""
    strings = _Strings()
    eps = [episode_data(ep, strings) for ep in episodes]
    credit, note = tree_credits(trees)
    trs = [tree_data(t, strings, credit) for t in trees]
    roles = sorted({m["role"] for e in eps for m in e["msgs"]} |
                   {n["msg"]["role"] for t in trs for n in t["nodes"] if n["msg"]})
    return {
        "kind": "rollout", "source": source, "strings": strings.items, "episodes": eps, "trees": trs,
        "stats": [s.to_dict() for s in stats], "roles": roles, "credit_note": note,
    }
