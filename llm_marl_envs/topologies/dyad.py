"""``dyad``: the Think-Reason dyad (thinker -> reasoner), as in CCPO and C3's Reasoner -> Actor.

| | |
|---|---|
| Agents | ``thinker_0``, ``reasoner_0`` |
| Stages | ``[thinker_0]``, then ``[reasoner_0]`` |
| Sees | the thinker sees the task; the reasoner sees the task and the thinker's message |
| Team answer | the reasoner's message |
| Ablation | ``thinker_0`` ablated: the reasoner answers from the task alone (CCPO's solo counterfactual); ``reasoner_0`` ablated: the thinker's message is the team answer |
"""

from __future__ import annotations

from .base import TOPOLOGIES, Topology


@TOPOLOGIES.register("dyad")
class Dyad(Topology):
    """Thinker -> reasoner; the team answer is the last message (the reasoner's)."""

    name = "dyad"
    description = "thinker -> reasoner; the reasoner's message is the team answer"

    def agents(self) -> tuple[str, ...]:
        return ("thinker_0", "reasoner_0")

    def schedule(self) -> tuple[tuple[str, ...], ...]:
        return (("thinker_0",), ("reasoner_0",))
