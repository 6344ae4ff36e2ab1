"""CodeDyad-v0 (`llm-marl/CodeDyad-v0`).

The Think-Reason dyad on function-writing tasks: the thinker plans (no code), the reasoner writes the program, which the sandboxed code verifier tests.

| | |
|---|---|
| Import | `llm_marl_envs.make("llm-marl/CodeDyad-v0")` / `make_parallel`; `pettingzoo.make("aec", "llm-marl/CodeDyad-v0")` |
| Actions | any string (`AnyText`): the agent's whole message |
| Parallel API | yes (one `step` = one stage) |
| Agents | `thinker_0, reasoner_0` |
| Turn order | thinker_0 -> reasoner_0 |
| Observation | `Dict`: `prompt` (rendered chat = `Message.context`), `system`, `user`, `role`, `turn`, `status` |
| State | the transcript text |
| Topology | `dyad` (`llm_marl_envs.topologies.dyad`) |
| Default tasks | `"codegen"` (code) |

**Arguments** (all optional; see `CollabEnv`): `tasks=` (a task-source name such as
`"codegen"`, `"mbpp"`, `"humaneval"`, a JSONL path or a list of `Task`), `task_options=`,
`prompt_style=` (`"default"`, `"compact"` or a dict of template overrides), `render_mode=`
(`"ansi"`/`"human"`), `max_cycles=` (a session of tasks truncated after that many stages),
`tasks_per_episode=`, `counterfactuals=`, `max_message_chars=`, `verifier=`; topology
options: none.

**Rewards.** At the end of the task every agent gets the verifier score of the team answer, the reasoner's message (its last Python code block is run against the tests);
`verify_code`: the fraction of the task's tests the program passes (sandboxed). 0 at every other step.

**Version history.** v0: first release.
"""

from __future__ import annotations

from .registration import family_factories

env, parallel_env, raw_env = family_factories("llm-marl/CodeDyad-v0")

__all__ = ["env", "parallel_env", "raw_env"]
