"""MathDebate-v0 (`llm-marl/MathDebate-v0`).

Three debaters answer a math problem; in round 2 each sees all round-1 answers and answers again; the team answer is the vote over round 2.

| | |
|---|---|
| Import | `llm_marl_envs.make("llm-marl/MathDebate-v0")` / `make_parallel`; `pettingzoo.make("aec", "llm-marl/MathDebate-v0")` |
| Actions | any string (`AnyText`): the agent's whole message |
| Parallel API | yes (one `step` = one stage) |
| Agents | `debater_0, debater_1, debater_2` |
| Turn order | 2 rounds, all debaters at once in each |
| Observation | `Dict`: `prompt` (rendered chat = `Message.context`), `system`, `user`, `role`, `turn`, `status` |
| State | the transcript text |
| Topology | `debate` (`llm_marl_envs.topologies.debate`) |
| Default tasks | `"arith"` (math) |

**Arguments** (all optional; see `CollabEnv`): `tasks=` (a task-source name such as
`"arith"`, `"gsm8k"`, `"math500"`, a JSONL path or a list of `Task`), `task_options=`,
`prompt_style=` (`"default"`, `"compact"` or a dict of template overrides), `render_mode=`
(`"ansi"`/`"human"`), `max_cycles=` (a session of tasks truncated after that many stages),
`tasks_per_episode=`, `counterfactuals=`, `max_message_chars=`, `verifier=`; topology
options: `n_agents=3, rounds=2`.

**Rewards.** At the end of the task every agent gets the verifier score of the team answer, the majority over the final round; `counterfactual_rewards` as in MathVote;
`verify_math`: 1.0 when the extracted final answer equals the gold answer, else 0.0. 0 at every other step.

**Version history.** v0: first release.
"""

from __future__ import annotations

from .registration import family_factories

env, parallel_env, raw_env = family_factories("llm-marl/MathDebate-v0")

__all__ = ["env", "parallel_env", "raw_env"]
