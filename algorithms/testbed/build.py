"""Build, pre-train, save and load the CPU testbed policy.

    model, tokenizer = load_testbed()            # cached or shipped checkpoint, else trained (minutes)
    policy = testbed_policy()                    # the same, wrapped in agents.hf.HFPolicy

A build is written to ``checkpoint_dir(config)`` (``$LLM_MARL_CACHE`` or ``~/.cache/llm-marl``,
``testbed-<hash of config>``); the default config's checkpoint also ships in the package
(``algorithms/testbed/checkpoints/``), used when the cache holds none; ``scripts/train_testbed.py``
rebuilds it from scratch (``BUILD_THREADS`` threads, whatever the machine's load).
"""

from __future__ import annotations

import json
import os
import random
import shutil
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from .config import TestbedConfig, checkpoint_dir, testbed_folder
from .sft import SFTExample, encode_example, train_sft
from .teacher import collect_examples

META_FILE = "testbed.json"
BUILD_THREADS = 2
"""torch CPU threads of every build. A float32 SFT run's weights depend on how its reductions are split
over threads, so a build must not take the count from the machine's load (it did: 1 thread under load,
2 idle). Two builds of one config hash, one of them made under load, gave held-out greedy accuracies
of 0.235 and 0.580."""
Log = Callable[[str], None]


def task_kwargs(config: TestbedConfig) -> dict[str, Any]:
    """Keyword arguments of the task source the testbed is trained for (the benchmark uses the same)."""
    kwargs: dict[str, Any] = {"difficulty": config.difficulty}
    if config.max_operand is not None:
        kwargs["max_operand"] = config.max_operand
    return kwargs


def sft_tasks(config: TestbedConfig) -> list:
    """The tasks the testbed is supervised on (a seed of their own: never the benchmark's seeds)."""
    from llm_marl_envs.tasks import load_tasks

    source = load_tasks(config.tasks, seed=config.sft_task_seed, **task_kwargs(config))
    return list(source[: config.n_sft_tasks])


def sft_examples(config: TestbedConfig, tasks: list | None = None) -> list[SFTExample]:
    """Teacher examples rendered by every env of ``config.env_ids`` on the SFT tasks."""
    tasks = sft_tasks(config) if tasks is None else tasks
    rng = random.Random(config.seed)
    examples: list[SFTExample] = []
    for env_id in config.env_ids:
        examples += collect_examples(env_id, tasks, rng=rng, noise=config.thinker_noise,
                                     solo_fraction=config.solo_fraction,
                                     env_kwargs={"prompt_style": config.prompt_style})
    return examples


def build(config: TestbedConfig, examples: list[SFTExample]) -> tuple[Any, Any]:
    """A fresh (untrained) model and a character tokenizer covering every character of ``examples``."""
    from agents.tiny import build_tiny_model, build_tiny_tokenizer

    corpus = [c for ex in examples for _, c in ex.conversation] + [ex.target for ex in examples]
    tokenizer = build_tiny_tokenizer(corpus, kind="char")
    model = build_tiny_model(tokenizer, hidden_size=config.hidden_size, num_layers=config.num_layers,
                             num_heads=config.num_heads, max_positions=config.max_positions, seed=config.seed)
    return model, tokenizer


def pretrain(config: TestbedConfig, out_dir: str | Path | None = None, *, log: Log | None = print) -> Path:
    """Collect teacher data from the real envs, train, and save model + tokenizer + metadata.

    Writes atomically (a temporary folder renamed into place); returns the checkpoint folder.
    """
    import torch

    out = Path(out_dir) if out_dir is not None else checkpoint_dir(config)
    start = time.perf_counter()
    torch.manual_seed(config.seed)
    examples = sft_examples(config)
    model, tokenizer = build(config, examples)
    longest = max(sum(map(len, encode_example(tokenizer, ex))) for ex in examples)
    if longest > config.max_positions:
        raise ValueError(f"an SFT example is {longest} tokens, over max_positions={config.max_positions}")
    n_params = sum(p.numel() for p in model.parameters())
    if log:
        log(f"[testbed] {len(examples)} SFT examples (longest {longest} tokens), model {n_params / 1e6:.2f}M "
            f"params, {config.steps} steps -> {out}")
    ambient = torch.get_num_threads()
    torch.set_num_threads(BUILD_THREADS)
    try:
        threads = torch.get_num_threads()
        curve = train_sft(model, tokenizer, examples, steps=config.steps, batch_size=config.batch_size,
                          lr=config.lr, warmup_steps=config.warmup_steps, seed=config.seed, log=log)
    finally:
        torch.set_num_threads(ambient)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=out.name + ".", dir=out.parent))
    try:
        model.save_pretrained(tmp)
        tokenizer.save_pretrained(tmp)
        meta = {
            "config": config.to_dict(),
            "key": config.key(),
            "n_params": n_params,
            "n_examples": len(examples),
            "roles": sorted({ex.role for ex in examples}),
            "longest_example_tokens": longest,
            "loss_curve": curve,
            "train_wall_s": time.perf_counter() - start,
            "torch_threads": threads,
        }
        (tmp / META_FILE).write_text(json.dumps(meta, indent=1))
        if out.exists():
            shutil.rmtree(out)
        os.replace(tmp, out)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)
    if log:
        log(f"[testbed] saved in {time.perf_counter() - start:.0f}s: {out}")
    return out


def load_testbed(config: TestbedConfig | None = None, *, path: str | Path | None = None,
                 train_if_missing: bool = True, log: Log | None = print) -> tuple[Any, Any]:
    """``(model, tokenizer)`` of the testbed, pre-training and caching it on first use."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    config = config or TestbedConfig()
    folder = Path(path) if path is not None else testbed_folder(config, META_FILE)
    if not (folder / META_FILE).exists():
        if not train_if_missing:
            raise FileNotFoundError(f"no testbed checkpoint in {folder} (run scripts/train_testbed.py)")
        pretrain(config, folder, log=log)
    tokenizer = AutoTokenizer.from_pretrained(folder)
    model = AutoModelForCausalLM.from_pretrained(folder).float().eval()
    return model, tokenizer


def testbed_metadata(config: TestbedConfig | None = None, path: str | Path | None = None) -> dict[str, Any]:
    """The metadata saved with the checkpoint (config, parameter count, loss curve, wall time)."""
    folder = Path(path) if path is not None else testbed_folder(config or TestbedConfig(), META_FILE)
    return json.loads((folder / META_FILE).read_text())


def testbed_policy(config: TestbedConfig | None = None, *, model: str | Path | None = None, **kwargs: Any):
    """The testbed wrapped in :class:`agents.hf.HFPolicy` (batched generation with log-probs).

    This is the ``testbed`` backend of ``agents.make_policy``; ``model`` (the name every backend
    uses for a model path) is a checkpoint folder to load instead of the cached one."""
    from agents.hf import HFPolicy

    if model is not None:
        if not (Path(model) / META_FILE).is_file():
            raise FileNotFoundError(f"testbed checkpoint {model} does not exist or has no {META_FILE} (a testbed "
                                    "folder holds config.json, model.safetensors, tokenizer files and testbed.json; "
                                    "omit --model to use, or build, the cached testbed)")
        kwargs.setdefault("path", model)
        kwargs.setdefault("train_if_missing", False)
    lm, tokenizer = load_testbed(config, **kwargs)
    return HFPolicy(lm, tokenizer)
