"""The testbed's configuration and where its checkpoint is cached.

The cache key is a hash of the configuration plus :data:`TESTBED_FORMAT` (bumped whenever the data
recipe or the training loop changes), so a changed recipe never loads a stale checkpoint.
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path

TESTBED_FORMAT = 1


@dataclass(frozen=True)
class TestbedConfig:
    """Architecture, supervised data recipe and training schedule of the CPU testbed policy.

    ``env_ids`` are the environments whose real rendered contexts make up the SFT data (the testbed
    sees exactly the prompts it will see in RL). ``thinker_noise`` is the fraction of teacher
    messages from upstream roles (the dyad's thinker, the pipeline's first stages) that carry a
    deliberately wrong intermediate result; downstream targets follow the (possibly wrong) upstream
    message, so the downstream role learns to rely on it and the upstream choice carries credit.
    ``solo_fraction`` is the fraction of downstream examples rendered with the upstream message
    ablated (the downstream role then answers alone, which it learns less well).
    ``max_operand`` overrides the ``arith`` preset's largest operand (9: a few hundred arithmetic
    facts, learnable by a 1M-parameter character model in minutes; 20 leaves it near 10%).
    """

    __test__ = False  # not a pytest test class despite the name

    hidden_size: int = 128
    num_layers: int = 4
    num_heads: int = 4
    max_positions: int = 512
    seed: int = 0
    env_ids: tuple[str, ...] = ("llm-marl/MathDyad-v0", "llm-marl/MathVote-v0")
    tasks: str = "arith"
    difficulty: int = 1
    max_operand: int | None = 9
    prompt_style: str = "compact"
    sft_task_seed: int = 1_000
    n_sft_tasks: int = 800
    thinker_noise: float = 0.3
    solo_fraction: float = 0.2
    steps: int = 800
    batch_size: int = 32
    lr: float = 3e-3
    warmup_steps: int = 30
    extra: dict = field(default_factory=dict, hash=False, compare=False)

    def to_dict(self) -> dict:
        d = asdict(self)
        d["env_ids"] = list(self.env_ids)
        return d

    @classmethod
    def from_dict(cls, d: dict) -> TestbedConfig:
        d = dict(d)
        d["env_ids"] = tuple(d.get("env_ids", cls.env_ids))
        return cls(**{k: v for k, v in d.items() if k in cls.__dataclass_fields__})

    def key(self) -> str:
        """A short hash of everything that determines the checkpoint."""
        payload = json.dumps({"format": TESTBED_FORMAT, **self.to_dict()}, sort_keys=True)
        return hashlib.sha256(payload.encode()).hexdigest()[:12]


def cache_root() -> Path:
    """``$LLM_MARL_CACHE`` or ``~/.cache/llm-marl``."""
    env = os.environ.get("LLM_MARL_CACHE")
    return Path(env).expanduser() if env else Path.home() / ".cache" / "llm-marl"


SHIPPED_ROOT = Path(__file__).parent / "checkpoints"
"""Checkpoints shipped with the package (the default testbed, ~4 MB), so that a fresh machine does not
train one first and every machine evaluates the same weights."""


def checkpoint_dir(config: TestbedConfig) -> Path:
    """Where a build of ``config`` is written: ``<cache_root>/testbed-<hash>``."""
    return cache_root() / f"testbed-{config.key()}"


def testbed_folder(config: TestbedConfig, meta_file: str = "testbed.json") -> Path:
    """Where the checkpoint of ``config`` is read: the cache when one was built there, else the shipped
    one of the same hash, else the cache folder (where a first use builds it)."""
    cached = checkpoint_dir(config)
    shipped = SHIPPED_ROOT / cached.name
    if not (cached / meta_file).is_file() and (shipped / meta_file).is_file():
        return shipped
    return cached
