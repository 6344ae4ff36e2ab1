"""``debate``: N debaters, R rounds; from round 2 on each sees every answer of the previous round.

| | |
|---|---|
| Agents | ``debater_0`` ... ``debater_{N-1}`` |
| Stages | R stages (rounds), all debaters at once in each |
| Sees | round 1: the task; round r > 1: the task and all messages of round r-1 (its own marked "(you)") |
| Team answer | majority vote over the final round (tie rule of ``base.majority_vote``: earliest answer wins) |
| Ablation | an ablated debater never speaks: no one ever sees it, and it does not vote |
| Counterfactuals | ``counterfactual_rewards[k]``: the team reward with ``k``'s final-round vote removed (its earlier influence on the others stays) |
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import ClassVar

from ..types import Message
from .base import TOPOLOGIES, Topology, Turn


@TOPOLOGIES.register("debate")
class Debate(Topology):
    """``n_agents`` debaters over ``rounds`` simultaneous rounds, then a vote."""

    name = "debate"
    description = "N debaters, R rounds seeing the previous round's answers, then a majority vote"
    vote_stage: ClassVar[int | None] = -1

    def __init__(self, n_agents: int = 3, rounds: int = 2) -> None:
        if n_agents < 1 or rounds < 1:
            raise ValueError(f"debate needs n_agents >= 1 and rounds >= 1, got {n_agents}, {rounds}")
        self.n_agents = n_agents
        self.rounds = rounds

    def agents(self) -> tuple[str, ...]:
        return tuple(f"debater_{i}" for i in range(self.n_agents))

    def schedule(self) -> tuple[tuple[str, ...], ...]:
        return tuple(self.agents() for _ in range(self.rounds))

    def visible(self, agent: str, stage: int, history: Sequence[Turn]) -> list[Message]:
        return [t.message for t in history if t.stage == stage - 1]
