"""The rollout runner's progress bar: silent for short runs, visible for long ones.

A run that lasts longer than ``delay`` seconds (2 s by default) shows a tqdm bar on stderr that
says what the runner is doing (``step 1: generate 3 prompts``) and is redrawn every second, so
that its elapsed time keeps moving through one long ``generate`` call. Runs shorter than that
print nothing.
"""

from __future__ import annotations

import threading
import time
from typing import Any

AUTO_DELAY_S = 2.0  # a run shows progress once it has lasted this long (``progress=None``)


class RolloutProgress:
    """A context manager around a tqdm bar.

    Args:
        total: the number of units (episodes), or ``None`` when unknown (tree levels).
        desc: the bar's label.
        unit: what one unit is (``"ep"``, ``"level"``).
        enabled: ``True``: show at once; ``None``: show once the run lasts ``AUTO_DELAY_S``;
            ``False``: nothing (no thread, no bar).
    """

    def __init__(self, total: int | None, desc: str, unit: str, enabled: bool | None) -> None:
        self._bar: Any = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        if enabled is False:
            return
        from tqdm.auto import tqdm

        delay = 0.0 if enabled else AUTO_DELAY_S
        self._bar = tqdm(total=total, desc=desc, unit=unit, delay=delay, dynamic_ncols=True)
        self._start = time.monotonic()
        self._delay = delay
        self._thread = threading.Thread(target=self._tick, name="rollout-progress", daemon=True)
        self._thread.start()

    def _tick(self) -> None:
        while not self._stop.wait(1.0):
            if time.monotonic() - self._start >= self._delay:
                self._bar.refresh()

    def phase(self, text: str) -> None:
        """Say what the run is doing now (shown after the counts)."""
        if self._bar is not None:
            self._bar.set_postfix_str(text, refresh=False)

    def update(self, n: int = 1) -> None:
        if self._bar is not None and n:
            self._bar.update(n)

    def close(self) -> None:
        if self._bar is None:
            return
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
        self._bar.set_postfix_str("", refresh=False)
        self._bar.close()
        self._bar = None

    @property
    def shown(self) -> bool:
        """Whether the bar has been drawn (a run longer than the delay, or ``enabled=True``)."""
        return self._bar is not None and self._bar.last_print_t >= self._bar.start_t + self._bar.delay

    def __enter__(self) -> RolloutProgress:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
