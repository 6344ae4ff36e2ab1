"""MathPipeline-v0 (`llm-marl/MathPipeline-v0`).

A three-role chain on math problems: the planner plans, the solver solves, the checker checks and may revise.

| | |
|---|---|
| Import | `llm_marl_envs.make("llm-marl/MathPipeline-v0")` / `make_parallel`; `pettingzoo.make("aec", "llm-marl/MathPipeline-v0")` |
| Actions | any string (`AnyText`): the agent's whole message |
| Parallel API | yes (one `step` = one stage) |
| Agents | `planner_0, solver_0, checker_0` |
| Turn order | planner_0 -> solver_0 -> checker_0 |
| Observation | `Dict`: `prompt` (rendered chat = `Message.context`), `system`, `user`, `role`, `turn`, `status` |
| State | the transcript text |
| Topology | `pipeline` (`llm_marl_envs.topologies.pipeline`) |
| Default tasks | `"arith"` (math) |

**Arguments** (all optional; see `CollabEnv`): `tasks=` (a task-source name such as
`"arith"`, `"gsm8k"`, `"math500"`, a JSONL path or a list of `Task`), `task_options=`,
`prompt_style=` (`"default"`, `"compact"` or a dict of template overrides), `render_mode=`
(`"ansi"`/`"human"`), `max_cycles=` (a session of tasks truncated after that many stages),
`tasks_per_episode=`, `counterfactuals=`, `max_message_chars=`, `verifier=`; topology
options: `roles=('planner', 'solver', 'checker')`.

**Rewards.** At the end of the task every agent gets the verifier score of the team answer, the checker's message if it contains an answer, else the solver's (else the planner's);
`verify_math`: 1.0 when the extracted final answer equals the gold answer, else 0.0. 0 at every other step.

**Version history.** v0: first release.
"""

from __future__ import annotations

from .registration import family_factories

env, parallel_env, raw_env = family_factories("llm-marl/MathPipeline-v0")

__all__ = ["env", "parallel_env", "raw_env"]
