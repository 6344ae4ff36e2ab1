"""``llm-marl bench BENCHMARK ...``: run a benchmark.

Each benchmark has its own module with ``add_arguments(parser)`` and ``run(args) -> int``, loaded only
when chosen: ``lab`` (the exact credit lab, ``algorithms.bench.lab.cli``) and ``credit`` (the LLM
integration run on a real transformer, ``algorithms.bench.credit_cli``).
"""

from __future__ import annotations

import argparse
from importlib import import_module

# benchmark -> (module with add_arguments/run, one-line help)
BENCHMARKS: dict[str, tuple[str, str]] = {
    "lab": ("algorithms.bench.lab.cli", "the exact credit lab: HintDyad with exact J, paired seeds, verdicts"),
    "credit": ("algorithms.bench.credit_cli", "the LLM integration run: learners on a real transformer"),
}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """One sub-parser per benchmark, each filled by its own module."""
    sub = parser.add_subparsers(dest="benchmark", metavar="BENCHMARK", required=True)
    for name, (module, help_text) in BENCHMARKS.items():
        p = sub.add_parser(name, help=help_text, description=help_text)
        import_module(module).add_arguments(p)
        p.set_defaults(_benchmark_module=module)


def run(args: argparse.Namespace) -> int:
    """Run the chosen benchmark; 0 on success."""
    return int(import_module(args._benchmark_module).run(args) or 0)

