"""MathDyad-v0 (`llm-marl/MathDyad-v0`).

The Think-Reason dyad (CCPO, C3's Reasoner -> Actor) on math word problems: the thinker writes a plan, the reasoner solves the problem and answers in `\\boxed{}`.

| | |
|---|---|
| Import | `llm_marl_envs.make("llm-marl/MathDyad-v0")` / `make_parallel`; `pettingzoo.make("aec", "llm-marl/MathDyad-v0")` |
| Actions | any string (`AnyText`): the agent's whole message |
| Parallel API | yes (one `step` = one stage) |
| Agents | `thinker_0, reasoner_0` |
| Turn order | thinker_0 -> reasoner_0 |
| Observation | `Dict`: `prompt` (rendered chat = `Message.context`), `system`, `user`, `role`, `turn`, `status` |
| State | the transcript text |
| Topology | `dyad` (`llm_marl_envs.topologies.dyad`) |
| Default tasks | `"arith"` (math) |

**Arguments** (all optional; see `CollabEnv`): `tasks=` (a task-source name such as
`"arith"`, `"gsm8k"`, `"math500"`, a JSONL path or a list of `Task`), `task_options=`,
`prompt_style=` (`"default"`, `"compact"` or a dict of template overrides), `render_mode=`
(`"ansi"`/`"human"`), `max_cycles=` (a session of tasks truncated after that many stages),
`tasks_per_episode=`, `counterfactuals=`, `max_message_chars=`, `verifier=`; topology
options: none.

**Rewards.** At the end of the task every agent gets the verifier score of the team answer, the reasoner's message (with `ablate=['thinker_0']` the reasoner answers from the task alone);
`verify_math`: 1.0 when the extracted final answer equals the gold answer, else 0.0. 0 at every other step.

**Version history.** v0: first release.
"""

from __future__ import annotations

from .registration import family_factories

env, parallel_env, raw_env = family_factories("llm-marl/MathDyad-v0")

__all__ = ["env", "parallel_env", "raw_env"]
