"""CodeVote-v0 (`llm-marl/CodeVote-v0`).

Three programmers answer a coding task independently; the team answer is the majority over the verifier's program keys (ties: the earliest).

| | |
|---|---|
| Import | `llm_marl_envs.make("llm-marl/CodeVote-v0")` / `make_parallel`; `pettingzoo.make("aec", "llm-marl/CodeVote-v0")` |
| Actions | any string (`AnyText`): the agent's whole message |
| Parallel API | yes (one `step` = one stage) |
| Agents | `solver_0, solver_1, solver_2` |
| Turn order | all solvers at once (one stage) |
| Observation | `Dict`: `prompt` (rendered chat = `Message.context`), `system`, `user`, `role`, `turn`, `status` |
| State | the transcript text |
| Topology | `voting` (`llm_marl_envs.topologies.voting`) |
| Default tasks | `"codegen"` (code) |

**Arguments** (all optional; see `CollabEnv`): `tasks=` (a task-source name such as
`"codegen"`, `"mbpp"`, `"humaneval"`, a JSONL path or a list of `Task`), `task_options=`,
`prompt_style=` (`"default"`, `"compact"` or a dict of template overrides), `render_mode=`
(`"ansi"`/`"human"`), `max_cycles=` (a session of tasks truncated after that many stages),
`tasks_per_episode=`, `counterfactuals=`, `max_message_chars=`, `verifier=`; topology
options: `n_agents=3`.

**Rewards.** At the end of the task every agent gets the verifier score of the team answer, the majority program; `counterfactual_rewards` with each vote removed;
`verify_code`: the fraction of the task's tests the program passes (sandboxed). 0 at every other step.

**Version history.** v0: first release.
"""

from __future__ import annotations

from .registration import family_factories

env, parallel_env, raw_env = family_factories("llm-marl/CodeVote-v0")

__all__ = ["env", "parallel_env", "raw_env"]
