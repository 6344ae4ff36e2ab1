"""Collaboration topologies. Importing this package registers the built-ins in ``TOPOLOGIES``:

| name | agents | team answer |
|---|---|---|
| ``dyad`` | thinker_0 -> reasoner_0 | the reasoner's message |
| ``voting`` | solver_0..N-1 at once | majority vote (ties: earliest answer) |
| ``pipeline`` | planner_0 -> solver_0 -> checker_0 (any chain) | last message with an answer |
| ``debate`` | debater_0..N-1, R rounds | vote over the final round |

All role prompts live in ``prompts.py``.
"""

from . import debate, dyad, pipeline, voting  # noqa: F401  (registration side effects)
from .base import TOPOLOGIES, TeamAnswer, Topology, Turn, majority_vote, make_topology
from .debate import Debate
from .dyad import Dyad
from .pipeline import Pipeline
from .prompts import PROMPT_STYLES, PromptTemplates, render_prompt, resolve_templates
from .voting import Voting

__all__ = [
    "PROMPT_STYLES",
    "TOPOLOGIES",
    "Debate",
    "Dyad",
    "Pipeline",
    "PromptTemplates",
    "TeamAnswer",
    "Topology",
    "Turn",
    "Voting",
    "majority_vote",
    "make_topology",
    "render_prompt",
    "resolve_templates",
]
