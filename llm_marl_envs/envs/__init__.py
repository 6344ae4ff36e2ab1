"""PettingZoo environments: the generic ``CollabEnv`` / ``CollabParallelEnv`` and the registered ids.

| id | topology | default tasks |
|---|---|---|
| ``llm-marl/MathDyad-v0`` | dyad | arith |
| ``llm-marl/MathVote-v0`` | voting (3) | arith |
| ``llm-marl/MathPipeline-v0`` | pipeline | arith |
| ``llm-marl/MathDebate-v0`` | debate (3 x 2 rounds) | arith |
| ``llm-marl/CodeDyad-v0`` | dyad | codegen |
| ``llm-marl/CodeVote-v0`` | voting (3) | codegen |
| ``llm-marl/CodePipeline-v0`` | pipeline | codegen |
| ``llm-marl/HintDyad-v0`` | hint_dyad | hint (the credit lab's task) |

Each id also has a PettingZoo-style module (``math_dyad_v0`` ...) exposing ``env()``,
``parallel_env()`` and ``raw_env()``, and its env card as the module docstring
(``llm-marl envs <id>`` prints it).

Quick start (any chat model behind ``my_llm(system, user) -> str``)::

    import llm_marl_envs

    env = llm_marl_envs.make("llm-marl/MathDyad-v0", render_mode="ansi")
    env.reset(seed=0)
    for agent in env.agent_iter():
        obs, reward, terminated, truncated, info = env.last()
        env.step(None if terminated or truncated else my_llm(obs["system"], obs["user"]))
    print(env.render())          # the transcript and the verdict; info["verdict"], info["transcript"]

For many episodes at once (batched generation), rollout trees and ablations use
``llm_marl_envs.rollout.RolloutRunner``.
"""

from .collab_env import CollabEnv, CollabParallelEnv
from .registration import ENVS, EnvSpec, make, make_parallel, register_env, registered_envs
from .spaces import AnyText

__all__ = [
    "ENVS",
    "AnyText",
    "CollabEnv",
    "CollabParallelEnv",
    "EnvSpec",
    "make",
    "make_parallel",
    "register_env",
    "registered_envs",
]
