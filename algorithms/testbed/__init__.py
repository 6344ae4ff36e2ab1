"""The CPU testbed policy: a few-million-parameter ``transformers`` causal LM with a locally built
character tokenizer, supervised on this project's procedural ``arith`` tasks as rendered by the real
envs, so that each role is partly competent and RL (and credit assignment) has signal.

    from algorithms.testbed import load_testbed, testbed_policy, TestbedConfig
    model, tokenizer = load_testbed()          # cached in $LLM_MARL_CACHE or ~/.cache/llm-marl, or shipped
    agents.make_policy("testbed")              # the same policy through the backend registry

Importing this package registers the ``testbed`` backend in :data:`agents.BACKENDS` and the
``testbed_heldout`` task source (tasks never in the SFT data) in ``llm_marl_envs.tasks.TASK_SOURCES``.
"""

from agents import BACKENDS
from llm_marl_envs.tasks import TASK_SOURCES

from .build import build, load_testbed, pretrain, sft_examples, sft_tasks, testbed_metadata, testbed_policy
from .config import TestbedConfig, cache_root, checkpoint_dir, testbed_folder
from .evaluate import HELD_OUT_SOURCE, held_out_source

BACKENDS.register("testbed", testbed_policy)
TASK_SOURCES.register(HELD_OUT_SOURCE, held_out_source)

__all__ = [
    "TestbedConfig",
    "build",
    "cache_root",
    "held_out_source",
    "checkpoint_dir",
    "load_testbed",
    "pretrain",
    "sft_examples",
    "sft_tasks",
    "testbed_metadata",
    "testbed_folder",
    "testbed_policy",
]
