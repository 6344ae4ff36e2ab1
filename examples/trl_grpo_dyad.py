"""Train MathDyad's reasoner with TRL's GRPOTrainer while a scripted thinker plays its part in our env.

    .venv/bin/python examples/trl_grpo_dyad.py --steps 4                  # TRL's GRPO on the verifier's team reward
    .venv/bin/python examples/trl_grpo_dyad.py --steps 4 --learner c3     # our C3 credit is the advantage TRL uses

The reasoner is a tiny random transformer built from a config (``agents.tiny``) on CPU, with its output
layer biased toward digits and the end token, so that it answers some easy ``arith`` tasks right from
the first step (a fresh random model never does, and GRPO would have no signal). The thinker is the
oracle (it states the gold answer) or, with ``--thinker fixed``, a fixed sentence. ``--model PATH``
trains a real local model folder instead (nothing is downloaded).
"""

from __future__ import annotations

import argparse
import tempfile
import time
from typing import Any

ENV_ID = "llm-marl/MathDyad-v0"
# easy arith (operands 1-2): a third of the answers are 0, which the digit-biased tiny model often says
ENV_KWARGS = {"tasks": "arith", "task_options": {"difficulty": 1, "max_operand": 2}, "prompt_style": "compact"}


def build_tiny_digit_model(seed: int = 0) -> tuple[Any, Any]:
    """A tiny Llama built from a config whose output layer favours ``0``, the other digits and EOS."""
    import torch

    from agents.tiny import build_tiny_model, build_tiny_tokenizer

    tokenizer = build_tiny_tokenizer()
    model = build_tiny_model(tokenizer, hidden_size=32, num_layers=1, num_heads=2, seed=seed)
    bias = torch.zeros(len(tokenizer))
    bias[tokenizer.convert_tokens_to_ids(list("123456789"))] = 2.0
    bias[tokenizer.convert_tokens_to_ids("0")] = 6.0
    bias[tokenizer.eos_token_id] = 6.0
    model.lm_head.bias = torch.nn.Parameter(bias)
    return model, tokenizer


def build(args: argparse.Namespace) -> tuple[Any, Any]:
    """The team (``TeamRollout``) and the ``GRPOTrainer`` the command line asks for."""
    from agents import FixedAgent, OracleAgent
    from algorithms.integrations.trl import TeamRollout

    if args.model:
        from transformers import AutoModelForCausalLM, AutoTokenizer

        from agents.hf import check_model_path

        path = str(check_model_path(args.model))
        model, tokenizer = AutoModelForCausalLM.from_pretrained(path), AutoTokenizer.from_pretrained(path)
    else:
        model, tokenizer = build_tiny_digit_model(args.seed)
    probe = TeamRollout(ENV_ID, "reasoner", FixedAgent(""), env_kwargs=ENV_KWARGS)
    tasks = [probe.task_source[i] for i in range(args.tasks)]
    thinker = OracleAgent(tasks) if args.thinker == "oracle" else FixedAgent("Let us add, then multiply.")
    team = TeamRollout(ENV_ID, "reasoner", {"thinker": thinker}, env_kwargs=ENV_KWARGS, learner=args.learner,
                       seed=args.seed)
    config = team.grpo_config(
        output_dir=args.output_dir or tempfile.mkdtemp(prefix="trl-dyad-"),
        max_steps=args.steps, per_device_train_batch_size=args.num_generations * args.groups,
        num_generations=args.num_generations, max_completion_length=args.max_completion_length,
        learning_rate=args.lr, temperature=1.0, logging_steps=1, save_strategy="no", report_to="none",
        use_cpu=True, bf16=False, seed=args.seed, log_completions=args.log_completions, disable_tqdm=True,
    )
    trainer = team.build_trainer(model, tokenizer, config, train_dataset=team.dataset(tasks))
    return team, trainer


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--steps", type=int, default=4, help="optimiser steps (default 4)")
    p.add_argument("--learner", default=None, choices=["c3", "ccpo", "grpo", "rema", "c3_mean"],
                   help="hand this learner's credit to TRL (default: TRL's GRPO on the verifier reward)")
    p.add_argument("--thinker", default="oracle", choices=["oracle", "fixed"])
    p.add_argument("--tasks", type=int, default=8, help="training tasks (the first N of easy arith)")
    p.add_argument("--num-generations", type=int, default=4, help="G: samples per task (default 4)")
    p.add_argument("--groups", type=int, default=2, help="tasks per optimiser step (default 2)")
    p.add_argument("--max-completion-length", type=int, default=8)
    p.add_argument("--lr", type=float, default=1e-2)
    p.add_argument("--model", default=None, help="a local model folder (default: the tiny digit model)")
    p.add_argument("--output-dir", default=None)
    p.add_argument("--log-completions", action="store_true", help="TRL's completions table (parquet per step)")
    p.add_argument("--seed", type=int, default=0)
    return p.parse_args(argv)


def main(argv: list[str] | None = None) -> dict[str, Any]:
    args = parse_args(argv)
    start = time.perf_counter()
    team, trainer = build(args)
    trainer.train()
    seconds = time.perf_counter() - start
    losses = [log["loss"] for log in trainer.state.log_history if "loss" in log]
    rewards = [sum(step.rewards) / len(step.rewards) for step in team.history]
    print(f"trained {team.agent} of {ENV_ID} ({'TRL GRPO on the team reward' if args.learner is None else args.learner + ' credit'})"
          f" for {trainer.state.global_step} steps in {seconds:.1f} s; loss per step "
          f"{[round(x, 4) for x in losses]}; mean team reward per step {[round(r, 3) for r in rewards]}")
    return {"steps": trainer.state.global_step, "seconds": seconds, "losses": losses, "rewards": rewards}


if __name__ == "__main__":
    main()
