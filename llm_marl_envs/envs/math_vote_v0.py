"""MathVote-v0 (`llm-marl/MathVote-v0`).

Three solvers answer a math problem independently and simultaneously; the team answer is the majority vote over the verifier's canonical answers (ties: the earliest-submitted answer; an answer always beats no answer).

| | |
|---|---|
| Import | `llm_marl_envs.make("llm-marl/MathVote-v0")` / `make_parallel`; `pettingzoo.make("aec", "llm-marl/MathVote-v0")` |
| Actions | any string (`AnyText`): the agent's whole message |
| Parallel API | yes (one `step` = one stage) |
| Agents | `solver_0, solver_1, solver_2` |
| Turn order | all solvers at once (one stage) |
| Observation | `Dict`: `prompt` (rendered chat = `Message.context`), `system`, `user`, `role`, `turn`, `status` |
| State | the transcript text |
| Topology | `voting` (`llm_marl_envs.topologies.voting`) |
| Default tasks | `"arith"` (math) |

**Arguments** (all optional; see `CollabEnv`): `tasks=` (a task-source name such as
`"arith"`, `"gsm8k"`, `"math500"`, a JSONL path or a list of `Task`), `task_options=`,
`prompt_style=` (`"default"`, `"compact"` or a dict of template overrides), `render_mode=`
(`"ansi"`/`"human"`), `max_cycles=` (a session of tasks truncated after that many stages),
`tasks_per_episode=`, `counterfactuals=`, `max_message_chars=`, `verifier=`; topology
options: `n_agents=3`.

**Rewards.** At the end of the task every agent gets the verifier score of the team answer, the majority answer; `infos[a]['counterfactual_rewards']` holds the team reward with each vote removed;
`verify_math`: 1.0 when the extracted final answer equals the gold answer, else 0.0. 0 at every other step.

**Version history.** v0: first release.
"""

from __future__ import annotations

from .registration import family_factories

env, parallel_env, raw_env = family_factories("llm-marl/MathVote-v0")

__all__ = ["env", "parallel_env", "raw_env"]
