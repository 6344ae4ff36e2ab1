"""``llm-marl rollout``: play episodes (or rollout trees) of an env with a policy, write JSONL.

Examples::

    llm-marl rollout llm-marl/MathDyad-v0 --policy oracle --tasks 8 --n 4 --out eps.jsonl
    llm-marl rollout llm-marl/MathDyad-v0 --policy hf --temperature 0.7 --tasks 4 --fanout 2,4 --out trees.jsonl
    llm-marl rollout llm-marl/MathDyad-v0 --policy random --ablate thinker_0 --out solo.jsonl
    llm-marl rollout llm-marl/MathDyad-v0 --policy testbed --prompt-style compact --tasks 4 --out tb.jsonl
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from ..policy import SamplingParams
from .data import save_jsonl


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("env_id", help="a registered env id (see 'llm-marl envs')")
    parser.add_argument("--policy", default="oracle",
                        help="agents backend name: oracle, fixed, random, hf, tiny, openai, testbed (the CPU "
                             "testbed, trained on --prompt-style compact), ... (default: %(default)s)")
    parser.add_argument(
        "--policy-arg", action="append", default=[], metavar="KEY=VALUE",
        help="backend constructor argument (JSON values allowed), repeatable; e.g. text='hi' for fixed",
    )
    parser.add_argument("--task-source", default=None,
                        help="task source: a registered name or a task JSONL file (default: the env's own, e.g. arith)")
    parser.add_argument("--tasks", type=int, default=8, help="play the first N tasks of the source (default: %(default)s)")
    parser.add_argument("--task-offset", type=int, default=0, help="skip this many tasks first (default: %(default)s)")
    parser.add_argument("--n", type=int, default=1, help="episodes per task (default: %(default)s)")
    parser.add_argument("--fanout", default=None, help="grow one rollout tree per task instead, e.g. 2,4 (default: no tree)")
    parser.add_argument("--ablate", action="append", default=[], help="ablate this agent (repeatable; default: none)")
    parser.add_argument("--prompt-style", default="default", help="default or compact (default: %(default)s)")
    parser.add_argument("--temperature", type=float, default=1.0, help="sampling temperature (default: %(default)s)")
    parser.add_argument("--top-p", type=float, default=1.0, help="nucleus sampling mass (default: %(default)s)")
    parser.add_argument("--max-tokens", type=int, default=256,
                        help="new tokens per message (scripted agents: characters) (default: %(default)s)")
    parser.add_argument("--seed", type=int, default=0, help="run seed (default: %(default)s)")
    parser.add_argument("--out", default="-",
                        help="JSONL output path, relative to the current directory; '-': a summary only, "
                             "on stdout (default: %(default)s)")
    parser.add_argument("--executor", choices=("local", "ray"), default="local",
                        help="where the envs run: in this process, or Ray env worker actors (extra 'ray') (default: %(default)s)")
    parser.add_argument("--workers", type=int, default=1, help="env worker actors with --executor ray (default: %(default)s)")
    parser.add_argument("--ray-address", default=None,
                        help="Ray cluster to join, e.g. HEAD:6379 (default: start Ray on this machine)")
    parser.add_argument("--no-progress", action="store_true",
                        help="hide the progress bar (default: shown on stderr once a run lasts 2 s)")


def _policy_kwargs(pairs: list[str]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep:
            raise SystemExit(f"--policy-arg expects KEY=VALUE, got {pair!r}")
        try:
            out[key] = json.loads(value)
        except json.JSONDecodeError:
            out[key] = value
    return out


def run(args: argparse.Namespace) -> int:
    from agents import make_policy  # the CLI is the one place that joins envs and backends

    from ..envs.registration import make
    from .runner import RolloutRunner

    out = None if args.out == "-" else Path(args.out).expanduser().resolve()
    replaced = out is not None and out.exists()
    if out is not None:
        if out.is_dir():
            raise ValueError(f"--out {args.out!r} is a folder; give a file path such as {args.out.rstrip('/')}/episodes.jsonl")
        if replaced:  # said before the run, not after an hour of it
            print(f"llm-marl rollout: {out} exists and will be replaced", file=sys.stderr)
        out.parent.mkdir(parents=True, exist_ok=True)
    env_kwargs: dict[str, Any] = {"prompt_style": args.prompt_style}
    if args.task_source:
        env_kwargs["tasks"] = args.task_source
    probe = make(args.env_id, **env_kwargs).unwrapped
    source = probe.task_source
    tasks = [source[i] for i in range(args.task_offset, min(len(source), args.task_offset + args.tasks))]
    kwargs = _policy_kwargs(args.policy_arg)
    if args.policy == "oracle":
        kwargs.setdefault("tasks", tasks)
    policy = make_policy(args.policy, **kwargs)
    params = SamplingParams(temperature=args.temperature, top_p=args.top_p, max_tokens=args.max_tokens)
    runner = RolloutRunner(args.env_id, policy, params, env_kwargs=env_kwargs, progress=not args.no_progress and None,
                           executor=args.executor, workers=args.workers, ray_address=args.ray_address)
    try:
        return _play(args, runner, tasks, out, replaced)
    finally:
        runner.close()


def _play(args: argparse.Namespace, runner: Any, tasks: list[Any], out: Path | None, replaced: bool) -> int:
    if args.fanout:
        fanout = [int(x) for x in args.fanout.split(",") if x.strip()]
        items: list[Any] = runner.run_trees(tasks, fanout, seed=args.seed, ablate=args.ablate)
        rewards = [leaf.reward for tree in items for leaf in tree.leaves()]
    else:
        items = runner.run_episodes(tasks, args.n, args.seed, ablate=args.ablate)
        rewards = [e.reward for e in items]
    stats = runner.stats
    if out is not None:
        save_jsonl([*items, stats], out)
    mean = sum(rewards) / len(rewards) if rewards else 0.0
    where = "" if out is None else f" -> {out}" + (" (replaced the previous file)" if replaced else "")
    print(
        f"{args.env_id}: {len(rewards)} episodes, mean reward {mean:.3f}, {stats.generate_calls} generate calls, "
        f"{stats.verifier_calls} verifier calls, {stats.wall_s:.2f}s{where}",
        file=sys.stdout,
    )
    return 0
