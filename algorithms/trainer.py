"""The one training loop shared by every learner: rollout -> batch -> estimator -> loss -> step.

    trainer = Trainer(TrainConfig(learner="c3", budget=8, iterations=20), policy=HFPolicy(model, tok))
    result = trainer.train()       # result.history: one dict per iteration (also out_dir/metrics.jsonl)

Per iteration ``i``:

1. sample ``tasks_per_iter`` training tasks (seeded by ``(seed, i)``; tasks whose prompt is in the
   held-out set are skipped, so evaluation stays disjoint from training);
2. spend the budget B per task with the learner's rollout plan (flat / joint + ablated / tree);
3. if the estimator needs a critic: predict V or Q for every decision with the current critic;
4. credits = estimator(batch, switches, state)  (pure; the state carries e.g. CCPO's EMA);
5. fit the critic on this batch, if any;
6. policy update: per trainable model, ``ppo_epochs`` optimiser steps, each over the whole batch
   with gradient accumulation over micro-batches (the loss normaliser is the whole batch's);
7. log spending (cumulative training evaluator calls, generated tokens and wall time; evaluation is
   reported apart under ``eval/*``), rewards, credit statistics; evaluate every ``eval_every``
   iterations (greedy accuracy, pass@k, pass@1); checkpoint.

Versions and a separate generator: after every optimiser step of a policy the trainer bumps that
policy's ``version`` (:class:`~algorithms.policies.TrainablePolicy`; the rollout runner copies it into
each episode's ``policy_version``). With ``cfg.generator="vllm"`` (or ``"hf"``, or a ``generator=``
object) rollouts come from a separate engine started from the trained weights; after each update the
trainer loads the new weights into it (:func:`~algorithms.policies.sync_weights`, once per update:
the weights between a multi-epoch update's steps are never generated from) and stamps its
``version``. Log-probs for the loss are always recomputed by the trained model.

Checkpoints hold the models, optimisers, critic, estimator state, RNG states, counters and history,
so a run killed after iteration ``i`` and resumed continues with exactly the same numbers.
Models stay in ``eval()`` mode (no dropout) during updates, as usual for LLM RL.
"""

from __future__ import annotations

import copy
import json
import random
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

import numpy as np
import torch

from llm_marl_envs.policy import SamplingParams
from llm_marl_envs.tasks import load_tasks

from .batch import RolloutBatch
from .checkpoint import (
    ConfigMismatchError,
    comparable_config,
    config_differences,
    load_state,
    mismatch_message,
    resume_decision,
    rng_state,
    save_state,
    set_rng_state,
)
from .config import TrainConfig
from .critic import TextCritic, critic_targets, fit_critic
from .diagnostics import leak_rate, write_credit_log
from .estimators import ESTIMATORS, critic_kind
from .evaluation import evaluate, normalize_prompt
from .learners import LEARNERS
from .logprobs import completion_logprobs
from .losses import LOSSES, loss_normalizer
from .metrics_log import MetricsLogger, NoSignalWatch
from .plans import PLANS, PlanSettings, env_info, make_runner, restart_counters
from .policies import (
    build_generator,
    build_policy,
    build_slots,
    generators,
    require_generator,
    sync_weights,
    unique_models,
)

Callback = Callable[["Trainer", dict[str, Any]], None]


@dataclass
class TrainResult:
    """What :meth:`Trainer.train` returns."""

    history: list[dict[str, Any]]
    out_dir: Path
    config: dict[str, Any] = field(default_factory=dict)


class Trainer:
    """Trains the policy (or per-role policies) of one env with one learner; see the module docstring.

    Args:
        cfg: the run configuration.
        policy: a :class:`~algorithms.policies.TrainablePolicy` such as ``agents.hf.HFPolicy`` (shared,
            or per-role LoRA adapters with ``policy_mode="per_role"``), a dict ``{role: policy}`` of
            separate policies, or ``None`` to build one from ``cfg.backend`` / ``cfg.model``.
        generator: a separate generator for the rollouts (a
            :class:`~algorithms.policies.WeightSyncGenerator` such as ``agents.vllm.VLLMPolicy``, or
            another trainable policy of the same architecture), synced after every update; ``None``:
            ``cfg.generator`` decides (``"policy"``: the trained policy generates).
        train_tasks / eval_tasks: optional task lists or sources overriding ``cfg.tasks`` / ``cfg.eval_tasks``.
        callbacks: ``{"on_iteration_end": fn(trainer, record), "on_eval": ...}``.
    """

    def __init__(
        self,
        cfg: TrainConfig,
        policy: Any = None,
        *,
        train_tasks: Any = None,
        eval_tasks: Any = None,
        callbacks: Mapping[str, Callback] | None = None,
        generator: Any = None,
    ) -> None:
        self.learner = LEARNERS.get(cfg.learner)
        self.cfg = cfg = _apply_learner_defaults(cfg, self.learner.loss_kwargs)
        self.estimator = ESTIMATORS.get(self.learner.estimator)
        self.est_config = self.estimator.make_config({**self.learner.estimator_kwargs, **cfg.estimator_kwargs})
        self.plan = PLANS.get(self.learner.plan)
        self.loss_config = cfg.loss_config()
        self.loss_fn = LOSSES.get(cfg.loss)
        self.callbacks = dict(callbacks or {})
        self.out_dir = Path(cfg.out_dir)
        self.out_dir.mkdir(parents=True, exist_ok=True)
        self.run_config = {**cfg.to_dict(), "estimator_config": _public(self.est_config), "plan": self.learner.plan}
        # before the (slow) policy is built: refuses a run directory that holds a different run
        self._resuming = resume_decision(self.out_dir, self.run_config, resume=cfg.resume)
        self.checkpoint_iteration: int | None = None
        _seed_everything(cfg.seed)

        self.train_source, self.eval_list = self._tasks(train_tasks, eval_tasks)
        self.eval_prompts = {normalize_prompt(t.prompt) for t in self.eval_list}
        self.train_eval_list = self._train_eval_tasks(cfg.n_train_eval)
        self.env = env_info(cfg.env_id, cfg.env_kwargs)
        self.roles = list(self.env.roles)
        if policy is None:
            policy = build_policy(cfg.backend, cfg.model)
        self.slots = build_slots(policy, self.roles, cfg.policy_mode)
        self.models = unique_models(self.slots)
        # optimiser steps per trainable model (a policy trained before keeps counting from its version)
        first_slot = {id(sl.model): sl for sl in reversed(list(self.slots.values()))}
        self.versions = [int(first_slot[id(m)].generator.version) for m in self.models]
        if generator is None and cfg.generator != "policy":
            self._check_separate_generator(policy)
            generator = build_generator(cfg.generator, policy, self.out_dir / "generator_init", **cfg.generator_kwargs)
        elif generator is not None:
            self._check_separate_generator(policy)
            require_generator(generator)
        self.generator = generator
        self.optimizers = [torch.optim.AdamW(m.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay) for m in self.models]
        self.references = [_frozen_copy(m) for m in self.models] if cfg.kl_coef > 0 else None
        self.critic_kind = critic_kind(self.estimator, self.est_config)
        self.critic = self.critic_opt = None
        if self.critic_kind is not None:
            first = next(iter(self.slots.values()))
            tokenizers = {id(s.generator.tokenizer) for s in self.slots.values()}
            own = first.generator.tokenizer if len(tokenizers) > 1 else None  # P15
            self.critic = TextCritic(first.model, self.critic_kind, pad_id=first.pad_id, tokenizer=own)
            self.critic.to(_device(first.model))
            self.critic_opt = torch.optim.AdamW(self.critic.parameters(), lr=cfg.critic_lr)
        # no fixed request seed: the runner derives one per generate call from the per-iteration seed
        # we pass (a fixed params.seed would reuse the same random stream for every call)
        self.sampling = SamplingParams(temperature=cfg.temperature, top_p=cfg.top_p, top_k=cfg.top_k,
                                       max_tokens=cfg.max_tokens)
        self.runner = make_runner(cfg.env_id, self.generator if self.generator is not None else generators(self.slots),
                                  self.sampling, cfg.env_kwargs, info=self.env, executor=cfg.executor,
                                  workers=cfg.workers, ray_address=cfg.ray_address)

        self.iteration = 0
        self.estimator_state: dict[str, Any] = {}
        self.history: list[dict[str, Any]] = []
        self.spent = {"evaluator_calls": 0, "generated_tokens": 0, "wall_s": 0.0}
        self.metrics = MetricsLogger(self.out_dir, tensorboard=cfg.tensorboard)
        self.signal_watch = NoSignalWatch()
        if self._resuming:
            self.load_checkpoint()  # also syncs the restored weights into a separate generator
            _say(cfg, f"resuming {self.out_dir} at iteration {self.iteration}/{cfg.iterations} "
                      f"(checkpoint {self.checkpoint_path})")
        else:  # a fresh run: no stale checkpoint of an earlier run may stay behind
            self.checkpoint_path.unlink(missing_ok=True)
            self.metrics.rewrite([])
            (self.out_dir / "config.json").write_text(json.dumps(self.run_config, indent=2, default=repr))

    def _check_separate_generator(self, policy: Any) -> None:
        if isinstance(policy, Mapping) or self.cfg.policy_mode != "shared" or len(self.models) != 1:
            raise ValueError(f"generator {self.cfg.generator!r}: a separate generator serves one shared policy "
                             f"(policy_mode 'shared', one model); got policy_mode {self.cfg.policy_mode!r} with "
                             f"{len(self.models)} model(s)")

    @property
    def policy_version(self) -> int:
        """Optimiser steps taken by the (first) trained model: the ``version`` its rollouts carry."""
        return self.versions[0]

    def sync_generators(self) -> None:
        """Stamp every generator with its model's ``version`` and load the trained weights into a
        separate generator (:func:`~algorithms.policies.sync_weights`)."""
        by_model = {id(m): v for m, v in zip(self.models, self.versions, strict=True)}
        for slot in self.slots.values():
            slot.generator.version = by_model[id(slot.model)]
        if self.generator is not None:
            sync_weights(self.generator, self.models[0])
            self.generator.version = self.versions[0]

    @property
    def checkpoint_path(self) -> Path:
        """``out_dir/checkpoint/state.pt``: the one (latest) checkpoint of this run."""
        return self.out_dir / "checkpoint" / "state.pt"

    def close(self) -> None:
        """Release the rollout runner's workers (Ray env actors hold CPUs until released)."""
        self.runner.close()

    def __enter__(self) -> Trainer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ------------------------------------------------------------------ the loop
    def train(self) -> TrainResult:
        """Run the remaining iterations (all of them, or those after a resumed checkpoint)."""
        cfg = self.cfg
        if self.iteration >= cfg.iterations:
            _say(cfg, f"{self.out_dir}: already trained {self.iteration}/{cfg.iterations} iterations; "
                      "raise --iterations to continue")
        bar = _progress(cfg, self.iteration)
        try:
            if self.iteration == 0 and not self.history and self.eval_list:
                _phase(bar, "evaluating iteration 0")
                self._log({"iteration": 0, **self.spent, "train_reward_mean": None, **self.evaluate(0, progress=bar is not None)})
            while self.iteration < cfg.iterations:
                _phase(bar, "rollouts and update")
                record = self.step(self.iteration + 1)
                if self._eval_due(self.iteration):
                    _phase(bar, "evaluating")
                    record.update(self.evaluate(self.iteration, progress=bar is not None))
                self._log(record)
                warning = self.signal_watch.update(record)
                if warning:
                    _say(cfg, warning, always=True)
                if (cfg.save_every and self.iteration % cfg.save_every == 0) or self.iteration == cfg.iterations:
                    _phase(bar, "saving checkpoint")
                    self.save_checkpoint()
                if bar is not None:
                    bar.update(1)
                    bar.set_postfix(reward=f"{record['train_reward_mean']:.3f}")
                if "on_iteration_end" in self.callbacks:
                    self.callbacks["on_iteration_end"](self, record)
        finally:
            if bar is not None:
                bar.close()
            self.metrics.flush()
        return TrainResult(history=list(self.history), out_dir=self.out_dir, config=self.cfg.to_dict())

    def step(self, iteration: int) -> dict[str, Any]:
        """One iteration: rollouts, credits, critic and policy updates. Returns the log record."""
        t0 = time.perf_counter()
        tasks = self.sample_tasks(iteration)
        settings = PlanSettings(budget=self.cfg.budget, fanout=self.cfg.fanout,
                                seed=_iteration_seed(self.cfg.seed, iteration), env=self.env)
        restart_counters(self.runner)
        batch = self.plan(self.runner, tasks, settings)
        t_rollout = time.perf_counter() - t0
        if self.critic is not None:
            batch = batch.with_values(self.critic.predict(batch))
        credits = self.estimator.fn(batch, self.est_config, self.estimator_state)
        self.estimator_state = credits.state
        write_credit_log(self.out_dir, batch, credits, iteration)  # the credits trained on, for the diagnostics
        stats: dict[str, Any] = {f"estimator/{k}": v for k, v in credits.stats.items()}
        if self.critic is not None:
            targets = critic_targets(self.critic_kind, batch, credits.returns)
            stats.update(fit_critic(self.critic, self.critic_opt, batch, targets, steps=self.cfg.critic_steps,
                                    micro_batch_size=self.cfg.micro_batch_size, max_grad_norm=self.cfg.max_grad_norm))
        stats.update(self.update_policy(batch, credits.advantages, credits.trainable))
        self.iteration = iteration
        wall = time.perf_counter() - t0
        self.spent["evaluator_calls"] += batch.evaluator_calls
        self.spent["generated_tokens"] += batch.generated_tokens
        self.spent["wall_s"] += wall
        joint = batch.column("kind") == "joint"
        trainable = credits.trainable
        return {
            "iteration": iteration,
            **self.spent,
            "train_reward_mean": batch.episode_reward_mean("joint"),
            "rollout_s": t_rollout,
            "decisions": len(batch),
            "trained_decisions": int(trainable.sum()),
            "adv_mean": float(credits.advantages[trainable].mean()) if trainable.any() else 0.0,
            "adv_abs_mean": float(np.abs(credits.advantages[trainable]).mean()) if trainable.any() else 0.0,
            "raw_credit_abs_mean": float(np.abs(credits.raw[joint]).mean()) if joint.any() else 0.0,
            "upstream_answer_leak_rate": leak_rate(batch, self.roles[:-1]),
            **stats,
        }

    def update_policy(self, batch: RolloutBatch, advantages: np.ndarray, trainable: np.ndarray) -> dict[str, float]:
        """PPO update of every trainable model on the ``trainable`` decisions (one step per epoch)."""
        cfg = self.cfg
        rows = [i for i in range(len(batch)) if trainable[i] and batch.decisions[i].token_ids]
        out: dict[str, float] = {}
        for m_index, model in enumerate(self.models):
            # micro-batches of one role each (a role's adapter is activated for its forward pass)
            mine = [i for i in rows if self.slots[batch.decisions[i].role].model is model]
            if not mine:
                continue
            chunks = _micro_batches(batch, mine, cfg.micro_batch_size)
            # "recompute": the first epoch's forward pass runs under the pre-update weights, so its
            # detached log-probs ARE the old log-probs (no extra pass; the first ratio is exactly 1)
            old = self._behaviour_logprobs(batch, chunks) if cfg.old_logprobs == "behaviour" else [None] * len(chunks)
            ref = self._ref_logprobs(m_index, batch, chunks) if self.references is not None else None
            # the whole batch's normaliser (tokens or messages), so accumulation equals one big batch
            normalizer = loss_normalizer(self.loss_config, [len(batch.decisions[i].token_ids) for i in mine])
            opt = self.optimizers[m_index]
            for _ in range(cfg.ppo_epochs):
                opt.zero_grad(set_to_none=True)
                total = 0.0
                for k, chunk in enumerate(chunks):
                    logp, mask = self._logprobs(batch, chunk, grad=True)
                    if old[k] is None:
                        old[k] = logp.detach()
                    adv = torch.as_tensor(advantages[chunk], dtype=torch.float32, device=logp.device)
                    res = self.loss_fn(logp, old[k].to(logp.device), adv, mask, self.loss_config,
                                       ref_logp=None if ref is None else ref[k].to(logp.device), normalizer=normalizer)
                    res.loss.backward()
                    total += float(res.loss.detach())
                    for key, v in res.stats.items():
                        out[key] = v
                if cfg.max_grad_norm > 0:
                    out["grad_norm"] = float(torch.nn.utils.clip_grad_norm_(model.parameters(), cfg.max_grad_norm))
                opt.step()
                self.versions[m_index] += 1
                out["loss/policy"] = total
        if out:
            self.sync_generators()
            out["policy_version"] = max(self.versions)
        return out

    def _logprobs(self, batch: RolloutBatch, chunk: list[int], *, grad: bool) -> tuple[torch.Tensor, torch.Tensor]:
        slot = self.slots[batch.decisions[chunk[0]].role]
        with slot.activate(), torch.set_grad_enabled(grad):
            return completion_logprobs(
                slot.model,
                [batch.decisions[i].prompt_token_ids for i in chunk],
                [batch.decisions[i].token_ids for i in chunk],
                pad_id=slot.pad_id,
                temperature=self.cfg.temperature,
            )

    def _behaviour_logprobs(self, batch: RolloutBatch, chunks: list[list[int]]) -> list[torch.Tensor]:
        out = []
        for c in chunks:
            T = max(len(batch.decisions[i].token_ids) for i in c)
            t = torch.zeros(len(c), T)
            for b, i in enumerate(c):
                lp = batch.decisions[i].logprobs
                if lp is None:
                    raise ValueError("old_logprobs='behaviour' needs a backend that returns log-probs")
                t[b, : len(lp)] = torch.tensor(lp)
            out.append(t)
        return out

    def _ref_logprobs(self, m_index: int, batch: RolloutBatch, chunks: list[list[int]]) -> list[torch.Tensor]:
        ref_model = self.references[m_index]
        out = []
        for c in chunks:
            slot = self.slots[batch.decisions[c[0]].role]
            if slot.adapter is not None:  # the frozen copy carries the same named adapters
                ref_model.set_adapter(slot.adapter)
            with torch.no_grad():
                lp, _ = completion_logprobs(ref_model, [batch.decisions[i].prompt_token_ids for i in c],
                                            [batch.decisions[i].token_ids for i in c], pad_id=slot.pad_id,
                                            temperature=self.cfg.temperature)
            out.append(lp)
        return out

    # ------------------------------------------------------------------ tasks and evaluation
    def _tasks(self, train_tasks: Any, eval_tasks: Any) -> tuple[Any, list[Any]]:
        cfg = self.cfg
        source = load_tasks(train_tasks if train_tasks is not None else cfg.tasks,
                            **({} if train_tasks is not None else cfg.task_kwargs))
        if eval_tasks is not None:
            ev = list(load_tasks(eval_tasks))[: cfg.n_eval]
        elif cfg.eval_tasks is not None:
            ev = list(load_tasks(cfg.eval_tasks, **cfg.eval_task_kwargs))[: cfg.n_eval]
        else:  # hold out the last n_eval tasks of the training source; training never samples them
            n = len(source)
            if n <= cfg.n_eval:
                raise ValueError(f"task source has {n} tasks: too few to hold out n_eval={cfg.n_eval}")
            ev = [source[i] for i in range(n - cfg.n_eval, n)]
            self._train_limit = n - cfg.n_eval
        return source, ev

    def sample_tasks(self, iteration: int) -> list[Any]:
        """``tasks_per_iter`` training tasks for ``iteration`` (deterministic; never a held-out prompt)."""
        n = getattr(self, "_train_limit", len(self.train_source))
        rng = np.random.default_rng([self.cfg.seed, iteration, 17])
        picked, seen = [], set()
        for _ in range(100 * self.cfg.tasks_per_iter):
            if len(picked) == self.cfg.tasks_per_iter:
                break
            i = int(rng.integers(n))
            task = self.train_source[i]
            key = normalize_prompt(task.prompt)
            if key in self.eval_prompts or (key in seen and n > self.cfg.tasks_per_iter):
                continue
            seen.add(key)
            picked.append(task)
        if not picked:
            raise ValueError("no training task left that is disjoint from the held-out set")
        return picked

    def _train_eval_tasks(self, n: int) -> list[Any]:
        """The first ``n`` distinct tasks (by id) that the iterations sample, in the order they are drawn."""
        if n <= 0:
            return []
        picked: dict[str, Any] = {}
        for i in range(1, self.cfg.iterations + 1):
            for task in self.sample_tasks(i):
                picked.setdefault(task.id, task)
            if len(picked) >= n:
                break
        return list(picked.values())[:n]

    def evaluate(self, iteration: int, *, progress: bool = False) -> dict[str, Any]:
        """Greedy team accuracy and pass@k / pass@1 on the held-out tasks (``eval/*`` keys; its
        evaluator calls and wall time are reported apart from the training budget), and the same on
        the training tasks of ``n_train_eval`` (``train_eval/*``)."""
        t0 = time.perf_counter()
        seed = _iteration_seed(self.cfg.seed, iteration) + 1
        res = evaluate(self.runner, self.eval_list, k=self.cfg.eval_k, sampling=self.sampling, seed=seed,
                       progress=progress)
        if self.train_eval_list:
            fit = evaluate(self.runner, self.train_eval_list, k=self.cfg.eval_k, sampling=self.sampling, seed=seed,
                           progress=progress)
            res.update({"train_eval/" + key.split("/", 1)[1]: v for key, v in fit.items()})
        res["eval/wall_s"] = time.perf_counter() - t0
        if "on_eval" in self.callbacks:
            self.callbacks["on_eval"](self, res)
        return res

    def _eval_due(self, iteration: int) -> bool:
        every = self.cfg.eval_every
        return bool(self.eval_list) and ((every > 0 and iteration % every == 0) or iteration == self.cfg.iterations)

    # ------------------------------------------------------------------ logging and checkpoints
    def _log(self, record: dict[str, Any]) -> None:
        record = {k: _jsonable(v) for k, v in record.items()}
        self.history.append(record)
        self.metrics.log(record)

    def save_checkpoint(self) -> Path:
        """Write ``out_dir/checkpoint/state.pt`` atomically (models, optimisers, critic, RNG, counters)."""
        path = save_state(self.checkpoint_path, {
            "config": comparable_config(self.run_config),
            "iteration": self.iteration,
            "models": [m.state_dict() for m in self.models],
            "optimizers": [o.state_dict() for o in self.optimizers],
            "critic": None if self.critic is None else self.critic.state_dict(),
            "critic_opt": None if self.critic_opt is None else self.critic_opt.state_dict(),
            "estimator_state": self.estimator_state,
            "history": self.history,
            "spent": self.spent,
            "rng": rng_state(),
            "versions": list(self.versions),
        })
        self.checkpoint_iteration = self.iteration
        return path

    def load_checkpoint(self) -> None:
        """Restore everything :meth:`save_checkpoint` wrote, and truncate metrics.jsonl to match."""
        state = load_state(self.checkpoint_path)
        if "config" in state:  # the checkpoint's own record of its run (config.json may be newer)
            differences = config_differences(state["config"], self.run_config)
            if differences:
                raise ConfigMismatchError(mismatch_message(self.out_dir, differences))
        for m, sd in zip(self.models, state["models"], strict=True):
            m.load_state_dict(sd)
        for o, sd in zip(self.optimizers, state["optimizers"], strict=True):
            o.load_state_dict(sd)
        if self.critic is not None and state["critic"] is not None:
            self.critic.load_state_dict(state["critic"])
            self.critic_opt.load_state_dict(state["critic_opt"])
        self.iteration = state["iteration"]
        self.estimator_state = state["estimator_state"]
        self.history = state["history"]
        self.spent = state["spent"]
        # checkpoints from before versions were kept: one optimiser step per epoch and iteration
        self.versions = list(state.get("versions", [self.iteration * self.cfg.ppo_epochs] * len(self.models)))
        set_rng_state(state["rng"])
        self.sync_generators()
        self.metrics.rewrite(self.history)
        self.checkpoint_iteration = self.iteration


# ---------------------------------------------------------------------- helpers
def _apply_learner_defaults(cfg: TrainConfig, loss_kwargs: Mapping[str, Any]) -> TrainConfig:
    """The learner's loss defaults first, then every field the user set on top (an explicit value
    wins even when it equals the dataclass default: ``TrainConfig.explicit_fields``)."""
    changes = {k: v for k, v in loss_kwargs.items() if k not in cfg.explicit_fields()}
    return cfg.with_overrides(changes) if changes else cfg


def _say(cfg: TrainConfig, line: str, *, always: bool = False) -> None:
    """One status line on stderr (above the progress bar), when progress output is on (or ``always``)."""
    if not (cfg.progress or always):
        return
    import sys

    from tqdm.auto import tqdm

    tqdm.write(line, file=sys.stderr)


def _seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed % (2**32))
    torch.manual_seed(seed)


def _iteration_seed(seed: int, iteration: int) -> int:
    return (seed * 1_000_003 + iteration * 7919) % (2**31)


def _micro_batches(batch: RolloutBatch, rows: Sequence[int], size: int) -> list[list[int]]:
    by_role: dict[str, list[int]] = {}
    for i in rows:
        by_role.setdefault(batch.decisions[i].role, []).append(i)
    return [r[k : k + size] for r in by_role.values() for k in range(0, len(r), max(size, 1))]


def _frozen_copy(model: torch.nn.Module) -> torch.nn.Module:
    ref = copy.deepcopy(model)
    ref.requires_grad_(False)
    return ref


def _device(model: torch.nn.Module) -> torch.device:
    return next(model.parameters()).device


def _public(obj: Any) -> dict[str, Any]:
    return {f.name: _jsonable(getattr(obj, f.name)) for f in fields(obj)}


def _jsonable(v: Any) -> Any:
    if isinstance(v, (np.floating, np.integer)):
        return v.item()
    if isinstance(v, tuple):
        return list(v)
    if isinstance(v, float) and not np.isfinite(v):
        return None
    return v


def _phase(bar: Any, text: str) -> None:
    """Show what the current iteration is doing beside the progress bar."""
    if bar is not None:
        bar.set_postfix_str(text, refresh=True)


def _progress(cfg: TrainConfig, start: int) -> Any:
    if not cfg.progress:
        return None
    from tqdm.auto import tqdm

    return tqdm(total=cfg.iterations, initial=start, desc=f"train {cfg.learner}", unit="it")
