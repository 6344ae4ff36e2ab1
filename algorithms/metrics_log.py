"""Run metrics: one JSON line per record in ``metrics.jsonl``, mirrored to TensorBoard; and the
watch that says, once, when a run has stopped receiving any learning signal."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any


class MetricsLogger:
    """Appends records to ``out_dir/metrics.jsonl`` and, optionally, scalars to ``out_dir/tb``."""

    def __init__(self, out_dir: str | Path, *, tensorboard: bool = True) -> None:
        self.path = Path(out_dir) / "metrics.jsonl"
        self.tb_dir = Path(out_dir) / "tb"
        self.tensorboard = tensorboard
        self._writer: Any = None

    def rewrite(self, records: Sequence[dict[str, Any]]) -> None:
        """Replace the file's content by ``records`` (a fresh run, or a resume truncating to its checkpoint)."""
        with self.path.open("w", encoding="utf-8") as f:
            for record in records:
                f.write(json.dumps(record) + "\n")

    def log(self, record: dict[str, Any]) -> None:
        """Append one record (``record["iteration"]`` is the TensorBoard step)."""
        with self.path.open("a", encoding="utf-8") as f:
            f.write(json.dumps(record) + "\n")
        if not self.tensorboard:
            return
        if self._writer is None:
            from torch.utils.tensorboard import SummaryWriter

            self._writer = SummaryWriter(str(self.tb_dir))
        for k, v in record.items():
            if isinstance(v, (int, float)) and not isinstance(v, bool) and k != "iteration":
                self._writer.add_scalar(k, v, record["iteration"])

    def flush(self) -> None:
        if self._writer is not None:
            self._writer.flush()


class NoSignalWatch:
    """Warns once when ``patience`` consecutive iterations carried no learning signal.

    An iteration has no signal when no decision was trained, every trained advantage is 0
    (``adv_abs_mean == 0``: every sampled team of a task got the same reward), or the policy
    gradient norm is 0. Such a run spends compute and changes nothing.
    """

    def __init__(self, patience: int = 3) -> None:
        self.patience = patience
        self.streak = 0
        self.warned = False

    @staticmethod
    def silent(record: dict[str, Any]) -> bool:
        """Whether ``record`` (one training iteration's log) carried no learning signal."""
        if record.get("trained_decisions") == 0:
            return True
        if record.get("adv_abs_mean") == 0:
            return True
        grad = record.get("grad_norm")
        return grad is not None and grad == 0

    def update(self, record: dict[str, Any]) -> str | None:
        """Feed one iteration's record; returns the warning line the first time the streak reaches
        ``patience``, else ``None``."""
        self.streak = self.streak + 1 if self.silent(record) else 0
        if self.warned or self.streak < self.patience:
            return None
        self.warned = True
        reward = record.get("train_reward_mean")
        shown = "n/a" if reward is None else f"{reward:.3f}"
        return (f"warning: no learning signal for {self.streak} iterations (every advantage or gradient is 0; "
                f"train reward {shown}): each group's rewards are all equal, so nothing is learned; try an easier "
                f"task source, a more capable policy (e.g. --backend testbed) or a larger --budget")
