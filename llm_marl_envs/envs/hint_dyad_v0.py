"""HintDyad-v0 (`llm-marl/HintDyad-v0`).

The credit lab's exact task (`llm-marl bench lab`) as a text env, so that LLM agents can play the dyad whose
Q, V and J the lab computes exactly: task x = (a, b, c), the thinker sends one hint digit (the right one is
u = (a + b) mod 10), the reasoner answers y = (3u + c) mod 10.

| | |
|---|---|
| Import | `llm_marl_envs.make("llm-marl/HintDyad-v0")` / `make_parallel`; `pettingzoo.make("aec", "llm-marl/HintDyad-v0")` |
| Actions | any string (`AnyText`): the agent's whole message, read as one symbol by `tasks.hint.parse_symbol` (below) |
| Parallel API | yes (one `step` = one stage) |
| Agents | `thinker_0, reasoner_0` |
| Turn order | thinker_0 -> reasoner_0 |
| Observation | `Dict`: `prompt` (rendered chat = `Message.context`), `system`, `user`, `role`, `turn`, `status` |
| What each agent sees | both: the whole task, e.g. `a = 3, b = 4, c = 2. The hint is u = (a + b) mod 10; the answer is y = (3u + c) mod 10.`; the reasoner also sees the thinker's hint as one symbol, `0`..`9` or `(no hint)`, never the thinker's raw text |
| State | the transcript text |
| Topology | `hint_dyad` (`llm_marl_envs.topologies.hint`) |
| Default tasks | `"hint"`, split `"train"` (300 of the 400 tasks at C = 4) |
| Verifier | `hint` (`llm_marl_envs.topologies.hint.HintVerifier`) |

**Reading a message (one rule for the hint and the answer).** If the message contains `\\boxed{`, only the
content of the last one (up to the next `}`) is read, else the whole message. The symbol is the first ASCII
digit 0–9 there that is not part of a longer run of digits (`"12"` is skipped, `"-3"` reads 3); none is the
null symbol ∅. So `"7"`, `"hint: 7"` and `"The answer is \\boxed{7}"` all read 7; `""`, `"no idea"` and
`"\\boxed{12}"` read ∅. `format_symbol(m)` gives the canonical text of a symbol (`"7"`, `"(no hint)"`).

**The reasoner sees x.** The lab's reasoner conditions on (m, c) and on the whole task through its solo
pathway ψ[x], so the reasoner's observation shows the full task, not only c: an LLM reasoner may solve the
task alone, as ψ does for the lab's solo tasks.

**Ablation.** `reset(options={"ablate": ["thinker_0"]})`: the thinker never acts and the reasoner sees
`(no hint)`, byte-identical to the context after a thinker message without a digit (the lab's m = ∅,
which CCPO's solo run uses). Ablating `reasoner_0` makes the thinker's message the team answer (as in
`dyad`).

**Arguments** (all optional; see `CollabEnv`): `task_options=` for the `hint` source: `C` (4), `split`
(`"train"` | `"held_out"` | `"all"`), `held_frac` (0.25), `split_seed` (0), `solo_frac` (0.0), exactly
as `tasks.hint.hint_split` defines them; source item k is the k-th task of the split in increasing task
index i = (a·10 + b)·C + c. `tasks=` (another source or list of tasks with one-digit answers),
`prompt_style=` (default `"hint"`: the default style with HintDyad role instructions; `"compact"` for
tiny models), `render_mode=` (`"ansi"`/`"human"`), `max_cycles=`, `tasks_per_episode=`,
`max_message_chars=`, `verifier=`; topology options: none.

**Tasks.** `Task.id` = `"hint-<i>"`, `Task.answer` = y as a digit string, `Task.metadata`: `a`, `b`,
`c`, `C`, `index` (i), `u`, `intermediate` (`str(u)`), `solo` (in the lab's solo set), `verifier`
(`"hint"`).

**Rewards.** At the end of the task every agent gets 1.0 when the reasoner's message reads y, else 0.0
(∅ is never right); the thinker's hint enters only through the reasoner. 0 at every other step. The
verdict's `extracted` is the answer digit (`None` for ∅, status `no_answer`). The lab's evaluator-noise
knob `eps` is not offered here: a flip needs a random number per evaluation, which the env's verifiers
(cached by the rollout runner per task and response) do not get.

**Version history.** v0: first release.
"""

from __future__ import annotations

from .registration import family_factories

env, parallel_env, raw_env = family_factories("llm-marl/HintDyad-v0")

__all__ = ["env", "parallel_env", "raw_env"]
