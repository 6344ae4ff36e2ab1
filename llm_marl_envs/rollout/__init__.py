"""The rollout runner and its plain-data results (episodes, rollout trees, JSONL)."""

from .data import Episode, MessageRecord, RolloutTree, RunStats, TreeNode, iter_jsonl, load_jsonl, save_jsonl
from .runner import CachingVerifier, RolloutRunner

__all__ = [
    "CachingVerifier",
    "Episode",
    "MessageRecord",
    "RolloutRunner",
    "RolloutTree",
    "RunStats",
    "TreeNode",
    "iter_jsonl",
    "load_jsonl",
    "save_jsonl",
]
