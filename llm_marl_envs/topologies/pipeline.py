"""``pipeline``: a chain of K roles (default planner -> solver -> checker); the checker may revise.

| | |
|---|---|
| Agents | ``<role>_0`` for each role, e.g. ``planner_0``, ``solver_0``, ``checker_0`` |
| Stages | one role per stage, in chain order |
| Sees | the task and every upstream message |
| Team answer | the last message that contains an answer (``answer_key`` not None), searching from the end: the checker's if it gives one, else the solver's, ...; the last message when none does |
| Ablation | an ablated role never acts: downstream roles never see it (if the last role is ablated, the team answer comes from the one before) |
"""

from __future__ import annotations

from collections.abc import Sequence

from .base import TOPOLOGIES, AnswerKey, TeamAnswer, Topology, Turn


@TOPOLOGIES.register("pipeline")
class Pipeline(Topology):
    """A sequential chain of distinct roles."""

    name = "pipeline"
    description = "planner -> solver -> checker chain; the last message with an answer is the team answer"

    def __init__(self, roles: Sequence[str] = ("planner", "solver", "checker")) -> None:
        roles = tuple(roles)
        if not roles or len(set(roles)) != len(roles):
            raise ValueError(f"pipeline roles must be distinct and non-empty, got {roles}")
        bad = [r for r in roles if not r or not r.replace("_", "").isalnum()]
        if bad:
            raise ValueError(f"pipeline role names must be identifiers, got {bad}")
        self.roles = roles

    def agents(self) -> tuple[str, ...]:
        return tuple(f"{r}_0" for r in self.roles)

    def schedule(self) -> tuple[tuple[str, ...], ...]:
        return tuple((a,) for a in self.agents())

    def team_answer(self, history: Sequence[Turn], answer_key: AnswerKey) -> TeamAnswer:
        for turn in reversed(history):
            key = answer_key(turn.message.content)
            if key is not None:
                rule = "last" if turn is history[-1] else "last_with_answer"
                return TeamAnswer(turn.message, key, rule)
        return TeamAnswer(history[-1].message if history else None, None, "last:no_answer")
