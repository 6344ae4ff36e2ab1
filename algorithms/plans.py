"""Rollout plans: how each learner spends the matched budget B (terminal-evaluator calls per task).

=================  =========================================================================
``flat``           B joint episodes per task (GRPO, MAPPO).
``joint_ablated``  CCPO. Dyad-like topologies: B/2 joint + B/2 ablated episodes (the first agent,
                   e.g. the thinker, removed; the reasoner answers alone), paired by index.
                   Chains of more than two roles are refused (ablating the first agent alone
                   would hand every later role the first agent's Delta).
                   Voting topologies: B joint episodes; each agent's counterfactual is the re-vote
                   without it (no generation, no extra evaluator call).
``tree``           C3. A rollout tree per task with per-decision fan-out whose leaves number B
                   (default: every decision has >= 2 siblings, ``[2, B/2]`` for two decisions,
                   ``[2, 2, 2]`` for three at B = 8; refused when B is too small, see
                   :func:`default_fanout`).
=================  =========================================================================

Each plan returns a :class:`~algorithms.batch.RolloutBatch` that records what it spent.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from llm_marl_envs.policy import SamplingParams
from llm_marl_envs.registry import Registry

from .batch import RolloutBatch, from_episodes, from_trees


@dataclass(frozen=True)
class EnvInfo:
    """What the plans need to know about an env: roles, agents in acting order, decisions per
    episode, and whether the team answer is a vote (free counterfactuals)."""

    roles: tuple[str, ...]
    agents: tuple[str, ...]
    decisions: int
    has_vote: bool
    env_id: str = ""


@dataclass(frozen=True)
class PlanSettings:
    """Per-iteration plan inputs."""

    budget: int
    """B: terminal-evaluator calls per task."""
    fanout: tuple[int, ...] | None
    """C3 tree fan-out (None: :func:`default_fanout`)."""
    seed: int
    """Seed of this iteration's rollouts."""
    env: EnvInfo | None = None
    """The env's :class:`EnvInfo` (None: ``runner.plan_env_info``)."""


Plan = Callable[[Any, Sequence[Any], PlanSettings], RolloutBatch]
PLANS: Registry[Plan] = Registry("rollout plan")


def env_info(env_id: str, env_kwargs: Mapping[str, Any] | None = None) -> EnvInfo:
    """Probe one env instance for :class:`EnvInfo`."""
    from llm_marl_envs import make

    env = make(env_id, **dict(env_kwargs or {}))
    topo = env.unwrapped.topology
    agents = tuple(topo.agents())
    roles = tuple(dict.fromkeys(topo.role(a) for a in agents))
    decisions = sum(len(stage) for stage in topo.schedule())
    env.close()
    return EnvInfo(roles=roles, agents=agents, decisions=decisions, has_vote=topo.vote_stage is not None,
                   env_id=env_id)


def make_runner(env_id: str, policies: Any, sampling: SamplingParams, env_kwargs: Mapping[str, Any] | None = None,
                *, info: EnvInfo | None = None, executor: str = "local", workers: int = 1,
                ray_address: str | None = None) -> Any:
    """A ``RolloutRunner`` for ``env_id`` driving ``policies`` with ``sampling`` (progress bar off) on
    ``executor`` (``"local"``, or ``"ray"`` with ``workers`` env actors on the cluster at
    ``ray_address``); ``runner.plan_env_info`` holds the env's :class:`EnvInfo`."""
    from llm_marl_envs.rollout.runner import RolloutRunner

    runner = RolloutRunner(env_id, policies, sampling, env_kwargs=dict(env_kwargs or {}), progress=False,
                           executor=executor, workers=workers, ray_address=ray_address)
    runner.plan_env_info = info or env_info(env_id, env_kwargs)
    return runner


def restart_counters(runner: Any) -> None:
    """Make the runner's per-call seeds depend only on the seeds we pass, not on how many calls it
    served before (exact resume: a fresh process must draw the same samples); called at each iteration."""
    runner.reset_counters()


def _prime_factors(n: int) -> list[int]:
    out, f = [], 2
    while f * f <= n:
        while n % f == 0:
            out.append(f)
            n //= f
        f += 1
    return out + ([n] if n > 1 else [])


def default_fanout(budget: int, decisions: int) -> tuple[int, ...]:
    """A per-decision fan-out whose product is B and in which every decision has at least two
    siblings, so every decision gets a LOO credit: ``[2, B/2]`` for two decisions (the release's
    ``[2, 4]`` at B = 8), ``[2, 2, 2]`` for three at B = 8; in general the smallest prime factors of B
    for the first ``decisions - 1`` levels and the rest of B for the last.

    Raises ``ValueError`` when no such fan-out exists (B has fewer prime factors than there are
    decisions, e.g. B = 4 with three decisions): a fan-out of 1 at some level would give that
    decision zero credit while its tokens still dilute the loss. Pass an explicit ``fanout`` to
    accept that.
    """
    if decisions <= 1:
        return (budget,)
    primes = _prime_factors(budget)
    if len(primes) < decisions:
        raise ValueError(
            f"C3 cannot cover {decisions} decisions per episode with B={budget} leaves: every decision needs a "
            f"fan-out >= 2 (at least {2 ** decisions} leaves), else its credit is 0; raise the budget or pass a fanout")
    head = primes[: decisions - 1]
    return (*head, budget // math.prod(head))


@PLANS.register("flat")
def flat_plan(runner: Any, tasks: Sequence[Any], s: PlanSettings) -> RolloutBatch:
    """B joint episodes per task."""
    return from_episodes(runner.run_episodes(list(tasks), n_per_task=s.budget, seed=s.seed))


@PLANS.register("joint_ablated")
def joint_ablated_plan(runner: Any, tasks: Sequence[Any], s: PlanSettings) -> RolloutBatch:
    """CCPO: joint episodes plus ablated (first agent removed) ones, or free re-votes for voting."""
    info = s.env or runner.plan_env_info
    if info.has_vote:
        return from_episodes(runner.run_episodes(list(tasks), n_per_task=s.budget, seed=s.seed))
    if len(info.roles) > 2:
        raise ValueError(
            f"CCPO refuses {info.env_id or 'this topology'} (roles {' -> '.join(info.roles)}): its counterfactual "
            f"ablates the first agent only, so every later role would get {info.agents[0]}'s Delta; CCPO supports "
            "dyads (two roles) and voting topologies")
    if s.budget < 2:
        raise ValueError(f"CCPO needs a budget B >= 2 (B/2 joint + B/2 ablated episodes per task), got B={s.budget}")
    n_joint = s.budget // 2
    joint = runner.run_episodes(list(tasks), n_per_task=n_joint, seed=s.seed)
    solo = runner.run_ablated(list(tasks), ablate=[info.agents[0]], n_per_task=s.budget - n_joint, seed=s.seed + 1)
    return from_episodes(joint, solo)


@PLANS.register("tree")
def tree_plan(runner: Any, tasks: Sequence[Any], s: PlanSettings) -> RolloutBatch:
    """C3: one rollout tree per task whose leaves number B."""
    info = s.env or runner.plan_env_info
    fanout = tuple(s.fanout) if s.fanout else default_fanout(s.budget, info.decisions)
    if math.prod(fanout) != s.budget:
        raise ValueError(f"tree fan-out {list(fanout)} has {math.prod(fanout)} leaves; the budget is B={s.budget}")
    if hasattr(runner, "run_trees"):  # all tasks' trees grown level by level together (batched generation)
        trees = runner.run_trees(list(tasks), fanout=list(fanout), seed=s.seed)
    else:
        trees = [runner.run_tree(task, fanout=list(fanout), seed=s.seed + 7 * j) for j, task in enumerate(tasks)]
    return from_trees(trees)
