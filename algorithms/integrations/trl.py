"""TRL's ``GRPOTrainer`` trains one role of a team in our env, on our verifier's reward or on our credit.

    from algorithms.integrations.trl import TeamRollout
    team = TeamRollout("llm-marl/MathDyad-v0", role="reasoner", partners={"thinker": thinker},
                       env_kwargs={"tasks": "arith"}, learner="c3")         # learner=None: the verifier reward
    args = team.grpo_config(output_dir="out", num_generations=4, max_completion_length=64, use_cpu=True)
    trainer = team.build_trainer(model, tokenizer, args, train_dataset=team.dataset(64))
    trainer.train()

**Extension point** (trl 1.16, ``trl/trainer/grpo_trainer.py``): ``GRPOTrainer(rollout_func=...)``.
``_generate`` calls ``rollout_func(prompts, trainer)`` with the process's slice of the generation batch,
in which ``RepeatSampler`` has already put ``num_generations`` (G) copies of each dataset prompt next to
each other; it must return ``prompt_ids``, ``completion_ids`` and ``logprobs`` (one row per prompt), and
every other key is merged into that sample's inputs and reaches the reward functions as a keyword
argument. :meth:`TeamRollout.rollout_func` plays each group's task in our env with the rollout runner
(the partner policies act in their turns, the trained agent's turns are sampled from the trainer's live
model through :class:`agents.hf.HFPolicy`) and returns, per sample, the trained agent's exact prompt
tokens (its chat-templated context) and generated tokens. ``environment_factory`` is not used: it
exposes an env's methods as tools inside one growing conversation of the trained model, while our
agents write in separate, re-rendered contexts with partners acting between them.

**Rewards and advantages.** ``_generate_and_score_completions`` sums the reward functions with
``reward_weights`` and forms ``A = R - mean_G(R)``, divided by ``std + 1e-4`` unless
``scale_rewards="none"``; no argument takes per-sample advantages (they are the ``"advantages"`` entry
of that private method's output). So:

- ``learner=None``: the reward is the team reward our verifier gave (``team_reward``), and TRL does
  its own GRPO on it (``scale_rewards`` as configured).
- ``learner="c3" | "ccpo" | "grpo" | "rema" | "c3_mean"`` (``algorithms.learners.LEARNERS``): the rollouts
  follow that learner's plan, its estimator (``ESTIMATORS``) computes the per-decision credit over the
  whole batch (every role), and the trained agent's credit is handed to TRL as the reward
  ``team_credit`` with weight 1, ``team_reward`` riding along at weight 0 (logged, not optimised),
  ``scale_rewards="none"``. TRL then uses ``A = credit - mean_G(credit)``. Each learner's credit has
  mean zero over each TRL group by construction (C3: leave-one-out or mean baselines within sibling
  groups, and every TRL group is a union of them; CCPO and GRPO: standardised within (task group, role)),
  so TRL's subtraction changes nothing and TRL's advantage is our credit (float32); every batch is
  checked, and a group whose credit mean exceeds 1e-6 raises instead of being silently re-centred.

What a TRL group is, per plan (G = ``num_generations``; budget = terminal-evaluator calls per task):

==================  ================================================================  ==============
plan                the G samples of one prompt                                       budget
==================  ================================================================  ==============
flat (None, grpo)   the trained agent's message in G joint episodes                   G
joint_ablated       ... in G joint episodes; G more with the first agent ablated      2G
(ccpo)              give the counterfactual (never trained)
tree (c3)           the G nodes of the trained decision's level of one rollout tree   leaves of the
                    per task (fan-out: ``fanout``, default ``default_fanout`` up to   tree (G when
                    that level, then 2 per later decision)                            it is last)
==================  ================================================================  ==============

Not carried over: the learner's ``loss_kwargs`` (TRL's ``loss_type`` is the loss), critics (``mappo``
and C3's value modes are refused), training several roles at once, and an agent that acts more than
once per episode (TRL's sample is one prompt and one completion). The trained model is whatever the
trainer optimises; partners never change. Needs ``pip install 'llm-marl-envs[trl]'``.
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from llm_marl_envs.policy import Generation, Policy, SamplingParams
from llm_marl_envs.types import Task

__all__ = ["CREDIT_REWARD", "INSTALL_HINT", "TEAM_REWARD", "TeamRollout", "TeamStep", "require_trl"]

INSTALL_HINT = "pip install 'llm-marl-envs[trl]'"
TEAM_REWARD = "team_reward"
"""Name of the reward function that returns the verifier's team reward (TRL logs ``rewards/team_reward``)."""
CREDIT_REWARD = "team_credit"
"""Name of the reward function that returns our per-decision credit (credit mode only)."""
ZERO_MEAN_TOL = 1e-6
"""Largest |mean| of one TRL group's credit (relative to max(1, max |credit|)) accepted as zero."""
PLANS_SUPPORTED = ("flat", "joint_ablated", "tree")


def require_trl() -> Any:
    """The ``trl`` module, or one ``ImportError`` line naming the extra to install."""
    try:
        import datasets  # noqa: F401
        import trl
    except ImportError as e:
        raise ImportError(f"the TRL adapter needs trl and datasets ({e.name} is not installed): {INSTALL_HINT}") from None
    return trl


@dataclass
class TeamStep:
    """What one ``rollout_func`` call played; row ``i`` is TRL's sample ``i``."""

    call: int
    group_size: int
    """G: consecutive rows of one task (TRL's ``num_generations``)."""
    task_ids: list[str]
    contexts: list[str]
    """The exact context the trained agent saw (its prompt before the chat template)."""
    completions: list[str]
    """The trained agent's messages as the env read them."""
    rewards: list[float]
    """The reward our verifier gave each decision's episode (C3 tree node: mean over its leaves)."""
    credits: list[float] | None
    """The credit handed to TRL (credit mode), else ``None``."""
    evaluator_calls: int
    generated_tokens: int
    batch: Any
    """The whole :class:`~algorithms.batch.RolloutBatch` (every role, ablated episodes included)."""


class _TrainedPolicy:
    """The trained agent's seat at the runner: generates with the trainer's live model."""

    def __init__(self) -> None:
        self.inner: Any = None

    def generate(self, prompts: list[Any], params: SamplingParams) -> list[Generation]:
        if self.inner is None:
            raise RuntimeError("the trained agent's policy is only set inside TeamRollout.rollout_func")
        return self.inner.generate(prompts, params)


class TeamRollout:
    """One role of a team trained by TRL's ``GRPOTrainer`` while given policies play the others.

    Args:
        env_id: a registered env id (``"llm-marl/MathDyad-v0"``).
        role: the trained role (``"reasoner"``) or agent (``"solver_0"``); it must name one agent that
            makes exactly one decision per episode.
        partners: one policy for every other agent, or a dict keyed by role and/or agent (as
            :class:`~llm_marl_envs.rollout.RolloutRunner` takes them).
        env_kwargs: ``make`` keyword arguments (``tasks=``, ``task_options=``, ``prompt_style=``...).
        learner: ``None`` (TRL's GRPO on the verifier's team reward) or a ``LEARNERS`` name whose
            credit is handed to TRL (``c3``, ``ccpo``, ``grpo``, ``rema``, ``c3_mean``).
        estimator_kwargs: overrides of the learner's estimator switches (CCPO defaults to
            ``alternate_every=0`` here: only one role is trained).
        fanout: the C3 tree fan-out (default: see the module docstring).
        partner_sampling: sampling parameters of the partners (one, or a dict keyed like ``partners``).
        seed: base seed of the rollouts (call ``k`` uses ``seed + k``).
        history: how many :class:`TeamStep` records ``self.history`` keeps.
    """

    def __init__(
        self,
        env_id: str,
        role: str,
        partners: Policy | Mapping[str, Policy],
        *,
        env_kwargs: Mapping[str, Any] | None = None,
        learner: str | None = None,
        estimator_kwargs: Mapping[str, Any] | None = None,
        fanout: Sequence[int] | None = None,
        partner_sampling: SamplingParams | Mapping[str, SamplingParams] | None = None,
        seed: int = 0,
        history: int = 16,
    ) -> None:
        from llm_marl_envs import make

        from ..plans import env_info

        self.env_id = env_id
        self.env_kwargs = dict(env_kwargs or {})
        env = make(env_id, **self.env_kwargs)
        topology = env.unwrapped.topology
        self.task_source = env.unwrapped.task_source
        order = [a for stage in topology.schedule() for a in stage]
        env.close()
        self.info = env_info(env_id, self.env_kwargs)
        self.agent = self._resolve_agent(role, topology)
        if order.count(self.agent) != 1:
            raise ValueError(f"{self.agent} makes {order.count(self.agent)} decisions per episode in {env_id}; the TRL "
                             "adapter trains an agent that makes exactly one (TRL's sample is one prompt, one completion)")
        self.role = topology.role(self.agent)
        self.depth = order.index(self.agent)
        self._trained = _TrainedPolicy()
        self.policies = self._seat(partners, topology)
        self.partner_sampling = partner_sampling
        self.fanout = tuple(int(f) for f in fanout) if fanout is not None else None
        self.learner, self.plan, self.estimator, self.estimator_config = self._resolve_learner(learner, estimator_kwargs)
        self.seed = int(seed)
        self.history: deque[TeamStep] = deque(maxlen=history)
        self._state: dict[str, Any] = {}
        self._calls = 0
        self._runner: Any = None
        self._by_prompt: dict[str, Task] = {}

    # ------------------------------------------------------------------ construction helpers
    def _resolve_agent(self, role: str, topology: Any) -> str:
        agents = list(self.info.agents)
        if role in agents:
            return role
        matching = [a for a in agents if topology.role(a) == role]
        if len(matching) != 1:
            raise ValueError(f"role {role!r} names {len(matching)} agents of {self.env_id} (agents {agents}, roles "
                             f"{list(self.info.roles)}); name one agent or a role with exactly one agent")
        return matching[0]

    def _seat(self, partners: Policy | Mapping[str, Policy], topology: Any) -> dict[str, Any]:
        if isinstance(partners, Mapping):
            clash = [k for k in partners if k == self.agent or (k == self.role and
                     [a for a in self.info.agents if topology.role(a) == k] == [self.agent])]
            if clash:
                raise ValueError(f"partners {clash} name the trained agent {self.agent}; it is played by the trainer's model")
            seats: dict[str, Any] = dict(partners)
        else:
            if not hasattr(partners, "generate"):
                raise TypeError(f"partners must be a policy or a dict of policies, got {type(partners).__name__}")
            seats = {a: partners for a in self.info.agents if a != self.agent}
        seats[self.agent] = self._trained
        return seats

    def _resolve_learner(self, learner: str | None, overrides: Mapping[str, Any] | None) -> tuple[Any, str, Any, Any]:
        if learner is None:
            if overrides:
                raise ValueError("estimator_kwargs need a learner (learner=None trains on the verifier reward)")
            return None, "flat", None, None
        from ..estimators import ESTIMATORS, critic_kind
        from ..learners import LEARNERS

        spec_l = LEARNERS.get(learner)
        spec = ESTIMATORS.get(spec_l.estimator)
        kwargs = {**spec_l.estimator_kwargs, **dict(overrides or {})}
        if spec_l.estimator == "ccpo" and "alternate_every" not in kwargs:
            kwargs["alternate_every"] = 0  # one trained role: no alternation between roles
        config = spec.make_config(kwargs)
        critic = critic_kind(spec, config)
        if critic is not None or spec_l.plan not in PLANS_SUPPORTED:
            raise ValueError(f"learner {learner!r} needs a {critic or spec_l.plan} critic/plan that TRL's GRPOTrainer does "
                             "not train; the TRL adapter takes c3 (reward_only), ccpo, grpo, rema, c3_mean")
        return spec_l, spec_l.plan, spec, config

    @property
    def credit_mode(self) -> bool:
        """True when our credit (not the verifier reward) is what TRL optimises."""
        return self.estimator is not None

    # ------------------------------------------------------------------ what TRL is given
    def dataset(self, tasks: int | Sequence[Task | int] | None = None) -> Any:
        """A ``datasets.Dataset`` with a ``prompt`` column (each task's text) and ``task_id``.

        ``tasks``: how many of the env's tasks (from the first), or a list of tasks / task indices;
        ``None``: every task of a finite source. The rollout function finds each prompt's task by its
        text, so two different tasks with the same text are refused.
        """
        require_trl()
        from datasets import Dataset

        source = self.task_source
        if tasks is None:
            tasks = len(source)
        if isinstance(tasks, int):
            if tasks < 1 or tasks > len(source):
                raise ValueError(f"asked for {tasks} tasks; the task source of {self.env_id} has {len(source)}")
            resolved = [source[i] for i in range(tasks)]
        else:
            resolved = [t if isinstance(t, Task) else source[int(t)] for t in tasks]
        for task in resolved:
            known = self._by_prompt.setdefault(task.prompt, task)
            if _task_key(known) != _task_key(task):
                raise ValueError(f"tasks {known.id!r} and {task.id!r} share the prompt {task.prompt[:60]!r} but differ; "
                                 "TRL hands the rollout only the prompt text")
        return Dataset.from_dict({"prompt": [t.prompt for t in resolved], "task_id": [t.id for t in resolved]})

    @property
    def reward_funcs(self) -> list[Any]:
        """The reward functions to give ``GRPOTrainer`` (order matters: see :meth:`grpo_config`)."""
        return [self.team_credit, self.team_reward] if self.credit_mode else [self.team_reward]

    def grpo_config(self, **kwargs: Any) -> Any:
        """A ``trl.GRPOConfig`` with what this mode needs set (credit mode: ``scale_rewards="none"``,
        ``reward_weights=[1, 0]``, ``multi_objective_aggregation="sum_then_normalize"``); a
        conflicting value in ``kwargs`` raises."""
        trl = require_trl()
        fixed = self._required_settings()
        for key, value in fixed.items():
            if key in kwargs and kwargs[key] != value:
                raise ValueError(f"{key}={kwargs[key]!r} conflicts with credit mode, which needs {key}={value!r} "
                                 "(TRL would otherwise rescale the credit)")
        return trl.GRPOConfig(**{**fixed, **kwargs})

    def build_trainer(self, model: Any, processing_class: Any, args: Any, train_dataset: Any = None, **kwargs: Any) -> Any:
        """``trl.GRPOTrainer`` wired to this team (``rollout_func``, ``reward_funcs``); ``kwargs`` pass through."""
        trl = require_trl()
        if train_dataset is None:
            train_dataset = self.dataset(min(len(self.task_source), 1024))
        trainer = trl.GRPOTrainer(model=model, reward_funcs=self.reward_funcs, args=args, train_dataset=train_dataset,
                                  processing_class=processing_class, rollout_func=self.rollout_func, **kwargs)
        self._check_trainer(trainer)
        return trainer

    def _required_settings(self) -> dict[str, Any]:
        if not self.credit_mode:
            return {}
        return {"scale_rewards": "none", "reward_weights": [1.0, 0.0], "multi_objective_aggregation": "sum_then_normalize"}

    def _check_trainer(self, trainer: Any) -> None:
        names = list(getattr(trainer, "reward_func_names", []))
        wanted = [f.__name__ for f in self.reward_funcs]
        if names != wanted:
            raise ValueError(f"GRPOTrainer's reward functions are {names}; this team needs reward_funcs=team.reward_funcs "
                             f"({wanted})")
        if self.credit_mode:
            weights = [float(w) for w in trainer.reward_weights]
            got = {"scale_rewards": trainer.scale_rewards, "reward_weights": weights,
                   "multi_objective_aggregation": trainer.multi_objective_aggregation}
            bad = {k: v for k, v in got.items() if v != self._required_settings()[k]}
            if bad:
                raise ValueError(f"credit mode needs {self._required_settings()}, the trainer has {bad}; build the config "
                                 "with team.grpo_config(...)")
        if getattr(trainer, "use_vllm", False):
            raise ValueError("use_vllm=True: the TRL adapter generates with the trainer's model in-process; set use_vllm=False")
        if trainer.min_p is not None or float(trainer.repetition_penalty) != 1.0 or trainer.args.generation_kwargs:
            raise ValueError("the adapter samples with temperature, top_p and top_k only; unset min_p, "
                             "repetition_penalty and generation_kwargs")

    # ------------------------------------------------------------------ the rollout function
    def rollout_func(self, prompts: list[Any], trainer: Any) -> dict[str, Any]:
        """Play every prompt group's task in the env; one row per prompt (see the module docstring)."""
        self._check_trainer(trainer)
        G = trainer.num_generations if trainer.model.training else trainer.num_generations_eval
        tasks = self._group_tasks(prompts, G)
        runner = self._runner_for(trainer)
        call = self._calls
        self._calls += 1
        batch = self._play(runner, tasks, G, self.seed + call)
        rows = [i for i, d in enumerate(batch.decisions) if d.agent == self.agent and d.kind == "joint"]
        if len(rows) != len(prompts):
            raise RuntimeError(f"the {self.plan} plan gave {len(rows)} decisions of {self.agent} for {len(prompts)} prompts")
        decisions = [batch.decisions[i] for i in rows]
        for j, task in enumerate(tasks):
            got = {d.task_id for d in decisions[j * G:(j + 1) * G]}
            if got != {task.id}:
                raise RuntimeError(f"group {j} holds decisions of tasks {sorted(got)}, expected {task.id!r}")
        credits = self._credits(batch, rows, tasks, G) if self.credit_mode else None
        eos = _eos_id(trainer)
        completion_ids = [list(d.token_ids) or [eos] for d in decisions]
        logprobs = None
        if all(d.logprobs is not None for d in decisions):
            logprobs = [list(d.logprobs) if d.token_ids else [0.0] for d in decisions]
        out: dict[str, Any] = {
            "prompt_ids": [list(d.prompt_token_ids) for d in decisions],
            "completion_ids": completion_ids,
            "logprobs": logprobs,
            "marl_reward": [float(d.reward) for d in decisions],
            "marl_task_id": [d.task_id for d in decisions],
            "marl_episode_id": [d.episode_id for d in decisions],
        }
        if credits is not None:
            out["marl_credit"] = credits
        self.history.append(TeamStep(
            call=call, group_size=G, task_ids=out["marl_task_id"], contexts=[d.context for d in decisions],
            completions=[d.text for d in decisions], rewards=out["marl_reward"], credits=credits,
            evaluator_calls=batch.evaluator_calls, generated_tokens=batch.generated_tokens, batch=batch,
        ))
        return out

    def _group_tasks(self, prompts: list[Any], G: int) -> list[Task]:
        if len(prompts) % G:
            raise ValueError(f"rollout_func got {len(prompts)} prompts, not whole groups of num_generations={G}: every "
                             "process needs per_device_train_batch_size * steps_per_generation divisible by G")
        tasks = []
        for j in range(0, len(prompts), G):
            group = prompts[j:j + G]
            if not isinstance(group[0], str):
                raise TypeError(f"prompts must be strings (team.dataset()), got {type(group[0]).__name__}")
            if any(p != group[0] for p in group):
                raise ValueError("a prompt group is split across processes: every process needs "
                                 "per_device_train_batch_size * steps_per_generation divisible by num_generations")
            task = self._by_prompt.get(group[0])
            if task is None:
                raise KeyError(f"prompt {group[0][:60]!r} is not in a dataset made by this TeamRollout's dataset()")
            tasks.append(task)
        return tasks

    def _runner_for(self, trainer: Any) -> Any:
        from agents.hf import HFPolicy

        from ..plans import make_runner

        model = trainer.accelerator.unwrap_model(trainer.model)
        if self._trained.inner is None or self._trained.inner.model is not model:
            dtypes = {p.dtype for p in model.parameters()}
            if len(dtypes) != 1:
                raise ValueError(f"the trained model mixes dtypes {sorted(map(str, dtypes))}; HFPolicy samples in one dtype")
            first = next(model.parameters())
            self._trained.inner = HFPolicy(model, trainer.processing_class, device=first.device, dtype=first.dtype)
        params = SamplingParams(temperature=float(trainer.temperature), top_p=float(trainer.top_p),
                                top_k=int(trainer.top_k or 0), max_tokens=int(trainer.max_completion_length))
        if self._runner is None:
            partner = self.partner_sampling
            sampling: dict[str, SamplingParams] = {}
            if isinstance(partner, SamplingParams):
                sampling = {a: partner for a in self.info.agents if a != self.agent}
            elif partner is not None:
                sampling = dict(partner)
            sampling[self.agent] = params
            self._runner = make_runner(self.env_id, self.policies, sampling, self.env_kwargs, info=self.info)
        self._runner.params[self.agent] = params
        return self._runner

    def _play(self, runner: Any, tasks: list[Task], G: int, seed: int) -> Any:
        from ..plans import PLANS, PlanSettings

        if self.plan == "tree":
            fanout = self.tree_fanout(G)
            settings = PlanSettings(budget=math.prod(fanout), fanout=fanout, seed=seed, env=self.info)
        else:
            settings = PlanSettings(budget=2 * G if self.plan == "joint_ablated" else G, fanout=None, seed=seed,
                                    env=self.info)
        return PLANS.get(self.plan)(runner, tasks, settings)

    def tree_fanout(self, G: int) -> tuple[int, ...]:
        """The C3 fan-out whose level of the trained decision has ``G`` nodes (see the module docstring)."""
        from ..plans import default_fanout

        if self.fanout is not None:
            fanout = self.fanout
            if len(fanout) < self.depth + 1 or math.prod(fanout[:self.depth + 1]) != G:
                raise ValueError(f"fanout {list(fanout)} puts {math.prod(fanout[:self.depth + 1])} nodes at {self.agent}'s "
                                 f"level (decision {self.depth}); TRL's num_generations is {G}")
            return fanout
        head = default_fanout(G, self.depth + 1)
        return (*head, *([2] * (self.info.decisions - self.depth - 1)))

    def _credits(self, batch: Any, rows: list[int], tasks: list[Task], G: int) -> list[float]:
        credits = self.estimator(batch, self.estimator_config, self._state)
        self._state = credits.state
        adv = np.where(credits.trainable, credits.advantages, 0.0)[rows].astype(np.float64)
        if not np.isfinite(adv).all():
            raise RuntimeError(f"learner {self.learner.name!r} gave non-finite credit {adv.tolist()}")
        scale = max(1.0, float(np.abs(adv).max()) if len(adv) else 1.0)
        for j, task in enumerate(tasks):
            mean = float(adv[j * G:(j + 1) * G].mean())
            if abs(mean) > ZERO_MEAN_TOL * scale:
                raise RuntimeError(f"learner {self.learner.name!r}: the credit of task {task.id!r} has mean {mean:.3g} over "
                                   "its TRL group; TRL would subtract it, so it cannot be handed over unchanged")
        return [float(x) for x in adv]

    # ------------------------------------------------------------------ reward functions (TRL calls them)
    def team_reward(self, prompts: list[Any], completions: list[Any], marl_reward: list[float] | None = None,
                    log_metric: Any = None, log_extra: Any = None, marl_task_id: list[str] | None = None,
                    **kwargs: Any) -> list[float]:
        """The verifier's team reward of each sample's episode (from ``rollout_func``)."""
        if marl_reward is None:
            raise ValueError("team_reward needs the marl_reward field of TeamRollout.rollout_func; pass "
                             "rollout_func=team.rollout_func to GRPOTrainer")
        if self.history:
            last = self.history[-1]
            if log_metric is not None:
                n_tasks = max(1, len(last.task_ids) // last.group_size)
                log_metric("marl/evaluator_calls_per_task", last.evaluator_calls / n_tasks)
                log_metric("marl/generated_tokens", float(last.generated_tokens))
            if log_extra is not None and marl_task_id is not None:
                log_extra("task_id", list(marl_task_id))
        return [float(r) for r in marl_reward]

    def team_credit(self, prompts: list[Any], completions: list[Any], marl_credit: list[float] | None = None,
                    **kwargs: Any) -> list[float]:
        """Our credit of each sample's decision (credit mode; from ``rollout_func``)."""
        if marl_credit is None:
            raise ValueError("team_credit needs the marl_credit field of TeamRollout.rollout_func in credit mode")
        return [float(c) for c in marl_credit]


def _task_key(task: Task) -> tuple[Any, ...]:
    return (task.kind, task.prompt, task.answer, task.tests, task.entry_point)


def _eos_id(trainer: Any) -> int:
    tok = getattr(trainer.processing_class, "tokenizer", trainer.processing_class)
    eos = tok.eos_token_id if tok.eos_token_id is not None else tok.pad_token_id
    return int(eos)
