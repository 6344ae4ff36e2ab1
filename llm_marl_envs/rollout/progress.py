"""The rollout runner's progress bar: silent for short runs, visible for long ones.

A run that lasts longer than ``AUTO_DELAY_S`` (2 s) shows a tqdm bar on stderr that says what the
runner is doing (``step 1: generate 3 prompt(s)``) and is redrawn every second, so that its
elapsed time keeps moving through one long ``generate`` call. Runs shorter than that print nothing
and create no bar: one process-wide daemon thread (started on first use, asleep while no run is
open) does the timing, so a short run costs a set insertion.
"""

from __future__ import annotations

import os
import threading
import time
from typing import Any

AUTO_DELAY_S = 2.0  # a run shows progress once it has lasted this long (``progress=None``)
_TICK_S = 0.25  # how often the ticker looks at open runs
_REFRESH_S = 1.0  # how often a shown bar is redrawn between updates


class _Ticker:
    """One daemon thread for every open ``RolloutProgress``: shows a bar once its run has lasted its
    delay, then redraws it every ``_REFRESH_S``. Restarted after a ``fork``."""

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._open: set[RolloutProgress] = set()
        self._pid: int | None = None

    def add(self, p: RolloutProgress) -> None:
        with self._cond:
            if self._pid != os.getpid():  # first use, or a forked child (threads do not survive fork)
                self._pid = os.getpid()
                threading.Thread(target=self._run, name="rollout-progress", daemon=True).start()
            self._open.add(p)
            self._cond.notify()

    def remove(self, p: RolloutProgress) -> None:
        with self._cond:
            self._open.discard(p)

    def _run(self) -> None:
        while True:
            with self._cond:
                while not self._open:
                    self._cond.wait()
                open_now = list(self._open)
            for p in open_now:
                p._tick()
            time.sleep(_TICK_S)


_TICKER = _Ticker()


class RolloutProgress:
    """A context manager that shows a tqdm bar for a run once it has lasted long enough.

    Args:
        total: the number of units (episodes), or ``None`` when unknown (tree levels).
        desc: the bar's label.
        unit: what one unit is (``"ep"``, ``"level"``).
        enabled: ``True``: show at once; ``None``: show once the run lasts ``AUTO_DELAY_S``;
            ``False``: nothing at all.
    """

    def __init__(self, total: int | None, desc: str, unit: str, enabled: bool | None) -> None:
        self._total, self._desc, self._unit = total, desc, unit
        self._n = 0
        self._phase = ""
        self._bar: Any = None
        self._closed = enabled is False
        self._lock = threading.Lock()
        if self._closed:
            return
        self._start = time.monotonic()
        self._delay = 0.0 if enabled else AUTO_DELAY_S
        self._last_refresh = self._start
        if enabled:
            self._show()
        _TICKER.add(self)

    def _show(self) -> None:
        from tqdm.auto import tqdm

        with self._lock:
            if self._bar is None and not self._closed:
                bar = tqdm(total=self._total, desc=self._desc, unit=self._unit, initial=self._n,
                           dynamic_ncols=True, postfix=self._phase or None, delay=1e-9)
                bar.start_t -= time.monotonic() - self._start  # elapsed time counts from the run's start
                bar.refresh()
                self._bar = bar

    def _tick(self) -> None:
        now = time.monotonic()
        if self._bar is None:
            if now - self._start >= self._delay:
                self._show()
            return
        if now - self._last_refresh >= _REFRESH_S:
            with self._lock:
                if self._bar is not None and not self._closed:
                    self._bar.refresh()
            self._last_refresh = now

    def phase(self, text: str) -> None:
        """Say what the run is doing now (shown after the counts)."""
        self._phase = text
        if self._bar is not None:
            with self._lock:
                if self._bar is not None:
                    self._bar.set_postfix_str(text, refresh=False)

    def update(self, n: int = 1) -> None:
        """Count ``n`` more units done."""
        self._n += n
        if n and self._bar is not None:
            with self._lock:
                if self._bar is not None:
                    self._bar.update(n)

    def close(self) -> None:
        """End the run; a shown bar is completed and left on screen."""
        if self._closed:
            return
        _TICKER.remove(self)
        with self._lock:
            self._closed = True
            if self._bar is not None:
                self._bar.set_postfix_str("", refresh=False)
                self._bar.close()

    @property
    def shown(self) -> bool:
        """Whether a bar was drawn (a run longer than the delay, or ``enabled=True``)."""
        return self._bar is not None

    def __enter__(self) -> RolloutProgress:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
