"""Run metrics: one JSON line per record in ``metrics.jsonl``, mirrored to TensorBoard."""

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
