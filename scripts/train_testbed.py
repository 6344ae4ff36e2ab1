"""Reproduce the CPU testbed checkpoint from scratch (what `llm-marl bench credit` does on first use).

    .venv/bin/python scripts/train_testbed.py                 # default config -> the cache folder
    .venv/bin/python scripts/train_testbed.py --out /tmp/tb --steps 2000 --eval 64

Collects the scripted teacher's messages on the real envs (MathDyad, MathVote, compact prompts),
builds the character tokenizer and the Llama-style model, trains it, and saves model + tokenizer +
testbed.json (config, loss curve, wall time). ``--eval N`` then reports greedy team accuracy on N
held-out arith tasks per env (and the dyad's reasoner alone), the "partly competent" check.
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import fields

from algorithms.bench.credit_cli import configure_threads
from algorithms.testbed import TestbedConfig, checkpoint_dir, load_testbed, pretrain
from algorithms.testbed.build import BUILD_THREADS
from algorithms.testbed.evaluate import competence_report


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", help="checkpoint folder (default: the cache folder of the config)")
    for f in fields(TestbedConfig):
        if f.name == "extra":
            continue
        if f.type in ("int", "float", "str"):
            parser.add_argument(f"--{f.name.replace('_', '-')}", type={"int": int, "float": float, "str": str}[f.type])
    parser.add_argument("--threads", type=int, help="torch CPU threads of the competence report (default: auto; "
                        f"the build itself always uses {BUILD_THREADS}, so that its weights do not depend on the load)")
    parser.add_argument("--eval", type=int, default=64, help="held-out tasks for the competence report (0: skip)")
    args = parser.parse_args(argv)
    overrides = {f.name: getattr(args, f.name) for f in fields(TestbedConfig)
                 if getattr(args, f.name, None) is not None}
    config = TestbedConfig(**overrides)
    print(f"[testbed] torch threads: {BUILD_THREADS} for the build, {configure_threads(args.threads)} for the report")
    out = args.out or str(checkpoint_dir(config))
    print(f"[testbed] config {config.key()}: {json.dumps(config.to_dict())}")
    pretrain(config, out)
    if args.eval:
        model, tokenizer = load_testbed(config, path=out, train_if_missing=False)
        print(json.dumps(competence_report(model, tokenizer, config, n=args.eval), indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
