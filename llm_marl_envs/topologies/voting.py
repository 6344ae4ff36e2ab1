"""``voting``: N solvers answer simultaneously; the team answer is the majority vote.

| | |
|---|---|
| Agents | ``solver_0`` ... ``solver_{N-1}`` |
| Stages | one stage, all solvers at once (nobody sees another's answer) |
| Sees | the task only |
| Team answer | majority over the verifier's ``answer_key``; ties go to the earliest-submitted key (solver order); an answer always beats no answer (``base.majority_vote``) |
| Ablation | an ablated solver does not vote: the vote is over the others |
| Counterfactuals | ``infos[a]["counterfactual_rewards"][k]``: the team reward had solver ``k``'s vote been removed (re-aggregation, no generation; with two remaining voters who disagree, the earlier wins) |
"""

from __future__ import annotations

from typing import ClassVar

from .base import TOPOLOGIES, Topology


@TOPOLOGIES.register("voting")
class Voting(Topology):
    """``n_agents`` independent solvers and a majority vote."""

    name = "voting"
    description = "N solvers answer at once; majority vote (ties: earliest answer)"
    vote_stage: ClassVar[int | None] = 0

    def __init__(self, n_agents: int = 3) -> None:
        if n_agents < 1:
            raise ValueError(f"voting needs n_agents >= 1, got {n_agents}")
        self.n_agents = n_agents

    def agents(self) -> tuple[str, ...]:
        return tuple(f"solver_{i}" for i in range(self.n_agents))

    def schedule(self) -> tuple[tuple[str, ...], ...]:
        return (self.agents(),)
