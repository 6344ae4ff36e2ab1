"""The LLM integration run (C3, CCPO, MAPPO, GRPO on a real transformer at a matched budget).

Not the statistical benchmark of the learners: that is the exact credit lab, ``llm-marl bench lab``.

    python benchmarks/credit.py --quick          # = llm-marl bench credit --quick
    python benchmarks/credit.py --full
    python benchmarks/credit.py --gpu --model /path/to/Qwen2.5-1.5B-Instruct

A thin entry point: the logic lives in ``algorithms.bench.credit``; see benchmarks/README.md.
"""

from __future__ import annotations

import argparse
import sys

from algorithms.bench import credit_cli as cli


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="benchmarks/credit.py", description=__doc__.splitlines()[0])
    cli.add_arguments(parser)
    argv = list(sys.argv[1:] if argv is None else argv)
    return cli.run(parser.parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
