"""The checker's reply channel: a program that writes its last reply and then ends is read, not lost.

The race seen in CI (CodeDyad prefix restore, 1 run in ~10): the poll woke for the program's stderr,
the program then wrote its load report and ended, and the pump (which noticed the end) was trusted
before the reply pipe was read, so the same program's verdict said "process ended" one time and
"failed to load: SyntaxError" the next."""
from __future__ import annotations

import os
import select
import time

import pytest

from llm_marl_envs.sandbox import _checker, _codec


def _pipe() -> tuple[int, int]:
    r, w = os.pipe()
    os.set_blocking(r, False)
    return r, w


@pytest.fixture
def wires():
    fds = []

    def make():
        pair = _pipe()
        fds.extend(pair)
        return pair

    yield make
    for fd in fds:
        try:
            os.close(fd)
        except OSError:
            pass


def _channel(wires, pump, *, stderr_ready: bool = True):
    """A channel whose poll wakes for another fd (the program's stderr) while the reply pipe is empty."""
    req_r, req_w = wires()
    rep_r, rep_w = wires()
    err_r, err_w = wires()
    if stderr_ready:
        os.write(err_w, b"Traceback ...\n")
    poller = select.poll()
    poller.register(err_r, select.POLLIN)
    chan = _checker.Channel(req_w, rep_r, poller, lambda: pump(rep_w), time.monotonic() + 5)
    return chan


def test_a_reply_written_just_before_the_end_is_read(wires):
    report = (0, "loadfail", "SyntaxError", "invalid binary literal")

    def pump(rep_w):  # in the window between the poll and the pump: the program writes, then ends
        os.write(rep_w, _codec.frame(_codec.Encoder().encode(report)))
        return _checker.ENDED

    chan = _channel(wires, pump)
    assert chan.receive() == report
    assert chan.gone is None


def test_an_end_with_nothing_written_is_still_lost(wires):
    writers = []

    def pump(rep_w):
        writers.append(rep_w)  # the write end stays open (a grandchild could hold it): no EOF either
        return _checker.ENDED

    chan = _channel(wires, pump)
    with pytest.raises(_checker.ProgramGone):
        chan.receive()
    assert chan.gone == _checker.ENDED


def test_a_timeout_is_not_waited_past_even_with_data_in_the_pipe(wires):
    def pump(rep_w):
        os.write(rep_w, _codec.frame(_codec.Encoder().encode((0, "ready"))))
        return "timeout"

    chan = _channel(wires, pump)
    with pytest.raises(_checker.ProgramGone):
        chan.receive()
    assert chan.gone == "timeout"
