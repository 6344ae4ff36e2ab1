"""A scripted teacher that plays every role of a real env, and the SFT examples it leaves behind.

The teacher is driven through the environment's own AEC loop, so each recorded example holds the
exact conversation the env renders for that role at that point (what the policy sees in RL). Targets
follow the two-stage structure of ``arith`` tasks (``metadata["intermediate"]`` and the worked
``metadata["solution"]``):

- upstream roles (dyad ``thinker``, pipeline roles before the last): stage one, ``"17 + 25 = 42."``;
  with probability ``noise`` the result is deliberately wrong (off by a small amount);
- the downstream role (dyad ``reasoner``, pipeline's last role) continues from the value the upstream
  message actually states (right or wrong): ``"42 * 3 = 126. \\boxed{126}"``; when the upstream
  message is ablated it answers directly, ``"\\boxed{126}"`` (the harder, solo case);
- independent solvers (voting, debate) write the whole solution, with the same stage-one noise.
"""

from __future__ import annotations

import random
import re
from fractions import Fraction
from typing import Any

from llm_marl_envs.tasks.arith import apply_op, format_number
from llm_marl_envs.types import Task

from .sft import SFTExample

_STEP = re.compile(r"^\s*(\(?-?\d+(?:/\d+)?\)?)\s*([-+*/])\s*(\(?-?\d+(?:/\d+)?\)?)\s*=\s*(-?\d+(?:/\d+)?)\s*\.?\s*$")
_NUMBER = re.compile(r"-?\d+(?:/\d+)?")


def _frac(text: str) -> Fraction:
    return Fraction(text.strip("()"))


def _apply(a: Fraction, op: str, b: Fraction) -> Fraction | None:
    try:
        return apply_op(a, op, b)
    except ZeroDivisionError:
        return None


def solution_steps(task: Task) -> list[tuple[str, str, str, str]]:
    """The worked solution as ``(left, op, right, result)`` steps; empty when it does not parse."""
    sentences = [s for s in re.split(r"(?<=\.)\s+", str(task.metadata.get("solution", "")).strip()) if s]
    steps = []
    for sentence in sentences:
        m = _STEP.match(sentence)
        if not m:
            return []
        steps.append(m.groups())
    return steps


def stage_one(task: Task, rng: random.Random, noise: float) -> tuple[str, str]:
    """The upstream message and the intermediate value it states (wrong with probability ``noise``)."""
    steps = solution_steps(task)
    inter = str(task.metadata.get("intermediate", ""))
    stated = inter
    if inter and rng.random() < noise:
        delta = rng.choice([-10, -2, -1, 1, 2, 10])
        stated = format_number(_frac(inter) + delta)
    if steps:
        a, op, b, _ = steps[0]
        return f"{a} {op} {b} = {stated}.", stated
    return f"{stated}.", stated


def stage_two(task: Task, stated: str | None) -> str:
    """The downstream message continuing from the stated intermediate (``None``: answer directly)."""
    steps = solution_steps(task)
    if stated is None or not steps:
        return f"\\boxed{{{task.answer}}}"
    try:
        acc = _frac(stated)
    except (ValueError, ZeroDivisionError):
        return f"\\boxed{{{task.answer}}}"
    parts = []
    for _, op, right, _ in steps[1:]:
        new = _apply(acc, op, _frac(right))
        if new is None:
            return f"\\boxed{{{task.answer}}}"
        parts.append(f"{format_number(acc)} {op} {right.strip('()')} = {format_number(new)}.")
        acc = new
    return " ".join(parts + [f"\\boxed{{{format_number(acc)}}}"])


def full_solution(task: Task, rng: random.Random, noise: float) -> str:
    """An independent solver's message: stage one (maybe wrong) then stage two from it."""
    first, stated = stage_one(task, rng, noise)
    return f"{first} {stage_two(task, stated)}"


def _stated_value(message: str) -> str | None:
    numbers = _NUMBER.findall(message.split("=")[-1]) if "=" in message else _NUMBER.findall(message)
    return numbers[-1] if numbers else None


def is_independent(env_id: str) -> bool:
    """Voting and debate teams answer independently; dyads and pipelines form a chain."""
    return any(word in env_id for word in ("Vote", "Debate"))


def teacher_action(task: Task, upstream: list[str], rng: random.Random, noise: float, *,
                   independent: bool, position: int, n_positions: int) -> str:
    """What the teacher writes at ``position`` (0-based) of a chain of ``n_positions`` roles.

    Independent solvers write the whole solution; in a chain, the first role states stage one,
    middle roles restate the upstream value, and the last role finishes from what it was told.
    """
    if independent:
        return full_solution(task, rng, noise)
    if position < n_positions - 1:
        if position == 0 or not upstream:
            return stage_one(task, rng, noise)[0]
        stated = _stated_value(upstream[-1])
        return f"{stated}." if stated is not None else stage_one(task, rng, noise)[0]
    stated = _stated_value(upstream[-1]) if upstream else None
    return stage_two(task, stated)


def collect_examples(env_id: str, tasks: list[Task], *, rng: random.Random, noise: float,
                     solo_fraction: float, env_kwargs: dict[str, Any] | None = None) -> list[SFTExample]:
    """Play every task once through the real AEC env and record (conversation, target) per decision.

    In chains, a ``solo_fraction`` of episodes run with every upstream agent ablated (the env's
    ``"ablate"`` reset option), so the last role also learns the solo context.
    """
    import llm_marl_envs

    independent = is_independent(env_id)
    env = llm_marl_envs.make(env_id, tasks=tasks, **(env_kwargs or {}))
    examples: list[SFTExample] = []
    try:
        for index, task in enumerate(tasks):
            options: dict[str, Any] = {"task": index}
            env.reset(seed=index, options=options)
            agents = list(env.possible_agents)
            if not independent and len(agents) > 1 and rng.random() < solo_fraction:
                options["ablate"] = agents[:-1]
                env.reset(seed=index, options=options)
            upstream: list[str] = []
            for agent in env.agent_iter():
                obs, _, term, trunc, _ = env.last()
                if term or trunc:
                    env.step(None)
                    continue
                position = agents.index(agent)
                if agent in options.get("ablate", ()):
                    env.step("")
                    continue
                action = teacher_action(task, upstream, rng, noise, independent=independent,
                                        position=position, n_positions=len(agents))
                if independent and position > 0:  # identical context: one example per task is enough
                    env.step(full_solution(task, rng, noise))
                    continue
                role = str(obs.get("role", agent)).split("_")[0]
                conversation = env.unwrapped.engine.conversation(agent)  # exactly what the runner sends
                examples.append(SFTExample.make(conversation, action, role=role))
                upstream.append(action)
                env.step(action)
    finally:
        env.close()
    return examples
