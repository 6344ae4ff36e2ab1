"""Issue 14, console output: env cards print as Markdown (single backticks), and a closed pipe
(``llm-marl envs ID | head``) is not a traceback."""

from __future__ import annotations

import subprocess
import sys

import pytest

import llm_marl_envs
from llm_marl_envs.cli import main
from llm_marl_envs.envs.cli import markdown_card


@pytest.mark.parametrize("env_id", llm_marl_envs.registered_envs())
def test_env_cards_print_markdown_code_spans(env_id, capsys):
    """Regression: cards showed reStructuredText double backticks."""
    assert main(["envs", env_id]) == 0
    card = capsys.readouterr().out
    assert "``" not in card and f"`{env_id}`" in card


def test_markdown_card_turns_rst_literals_into_code_spans():
    assert markdown_card("a ``x`` and ``\\boxed{}``, ``multi\nline``\n") == "a `x` and `\\boxed{}`, `multi\nline`"


def test_a_closed_pipe_is_not_a_traceback():
    """``llm-marl tasks --show arith -n 100000 | head -1``: the reader leaves early (EPIPE)."""
    cmd = f"{sys.executable} -m llm_marl_envs.cli tasks --show arith -n 100000 | head -1; exit ${{PIPESTATUS[0]}}"
    proc = subprocess.run(["bash", "-c", cmd], capture_output=True, text=True, timeout=120)
    assert proc.stdout.startswith("--- ") and proc.stdout.count("\n") == 1
    assert "Traceback" not in proc.stderr and "BrokenPipe" not in proc.stderr, proc.stderr
    assert proc.returncode == 0
