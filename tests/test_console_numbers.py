"""Console output and reports print short numbers: no 16-digit fidelities, no 10-decimal load averages.

Issue #14 saw `fidelity 0.6123456789012345` and `load average 1.2345678901` in the benchmarks' output;
the fix rounds at the source. These tests run the real benchmarks at toy size, capture every line they
print and every report they write, and fail on any number with more than four decimals.
"""

from __future__ import annotations

import argparse
import re

from algorithms.bench.credit import run_credit_benchmark
from algorithms.bench.lab import cli as lab_cli
from algorithms.bench.presets import get_preset
from algorithms.testbed import TestbedConfig

TINY = TestbedConfig(hidden_size=32, num_layers=1, num_heads=2, n_sft_tasks=12, steps=3, batch_size=8, warmup_steps=1)
LONG_DECIMAL = re.compile(r"\d\.\d{5,}")


def long_numbers(text: str) -> list[str]:
    """Every number in ``text`` printed with five or more decimals."""
    return LONG_DECIMAL.findall(text)


def test_the_detector_finds_long_decimals() -> None:
    assert long_numbers("fidelity 0.6123456789012345, load 1.25") == ["0.6123456789012345"]
    assert long_numbers("greedy 0.438 [0.281, 0.594], load average 0.41, 1,686 passed") == []


def test_credit_benchmark_console_and_report_print_short_numbers(tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("LLM_MARL_CACHE", str(tmp_path / "cache"))
    preset = get_preset("quick", toy=True, budget=4, seeds=(0,), diag_buckets=1, max_tokens=6, eval_k=1,
                        learners=("c3",))
    lines: list[str] = []
    run_credit_benchmark(preset, tmp_path / "out", testbed_config=TINY, log=lines.append, plots=False)
    printed = "\n".join(lines)
    assert "fidelity" in printed and "load average" in printed  # the numbers this test is about were printed
    assert long_numbers(printed) == []
    assert long_numbers((tmp_path / "out" / "results.md").read_text()) == []


def test_lab_console_and_report_print_short_numbers(tmp_path, capsys) -> None:
    parser = argparse.ArgumentParser()
    lab_cli.add_arguments(parser)
    args = parser.parse_args(["--regimes", "tabular", "--learners", "grpo", "c3", "--seeds", "2", "--iterations", "2",
                              "--no-tier2", "--no-plots", "--no-snr", "--out", str(tmp_path / "lab")])
    assert lab_cli.run(args) == 0
    printed = capsys.readouterr()
    md = (tmp_path / "lab" / "results.md").read_text()
    assert "load average" in md and "[" in md  # intervals and the machine line are there
    assert long_numbers(printed.out + printed.err) == []
    assert long_numbers(md) == []
