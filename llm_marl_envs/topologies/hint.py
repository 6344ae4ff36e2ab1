"""``hint_dyad``: the credit lab's HintDyad as a topology, with its verifier and prompt style.

| | |
|---|---|
| Agents | ``thinker_0``, ``reasoner_0`` |
| Stages | ``[thinker_0]``, then ``[reasoner_0]`` |
| Sees | both see the whole task x = (a, b, c); the reasoner also sees the thinker's **hint**: the one symbol parsed from the thinker's message (``tasks.hint.parse_symbol``), shown as ``"0"``..``"9"`` or ``"(no hint)"``, never the raw text |
| Team answer | the reasoner's message, read by the same rule; reward 1 when it is y, else 0 (no digit: 0) |
| Ablation | ``thinker_0`` ablated: the reasoner sees ``"(no hint)"``, byte-identical to a thinker message without a digit (the lab's m = null); ``reasoner_0`` ablated: the thinker's message is the team answer (as in ``dyad``) |

The one-symbol channel is what makes the env the lab's task: the lab's reasoner depends on
(m, c) and a per-task pathway, and its thinker sends one of 11 symbols. Importing this module
registers the topology ``hint_dyad`` (``TOPOLOGIES``), the verifier ``hint`` (``VERIFIERS``) and the
prompt style ``hint`` (``PROMPT_STYLES``: the default style with HintDyad role instructions).
"""

from __future__ import annotations

from collections.abc import Sequence

from ..tasks.hint import NULL_HINT, format_symbol, parse_symbol
from ..types import Message, Task, Verdict
from ..verifiers.base import VERIFIERS
from .base import TOPOLOGIES, Turn
from .dyad import Dyad
from .prompts import PROMPT_STYLES, resolve_templates


@TOPOLOGIES.register("hint_dyad")
class HintDyad(Dyad):
    """Thinker -> reasoner through a one-symbol channel (see the module docstring)."""

    name = "hint_dyad"
    description = "thinker -> reasoner through a one-digit hint; the reasoner's digit is the team answer"

    def visible(self, agent: str, stage: int, history: Sequence[Turn]) -> list[Message]:
        """The thinker sees the full transcript; the reasoner sees only the thinker's parsed hint
        (``"(no hint)"`` when the thinker wrote no digit or was ablated)."""
        if self.role(agent) != "reasoner":
            return super().visible(agent, stage, history)
        sent = [t.message for t in history if t.stage < stage and self.role(t.message.agent) == "thinker"]
        hint = parse_symbol(sent[-1].content) if sent else NULL_HINT
        return [Message("thinker_0", "thinker", format_symbol(hint), 0)]


class HintVerifier:
    """Scores a reasoner message: 1.0 when its symbol (``parse_symbol``) equals ``Task.answer``.

    Total: any string gives a ``Verdict`` (no digit: ``status="no_answer"``, score 0).
    """

    kind = "math"

    def answer_key(self, response: str) -> str | None:
        """The digit the response stands for, or ``None`` (no single digit)."""
        symbol = parse_symbol(response)
        return None if symbol == NULL_HINT else str(symbol)

    def verify(self, response: str, task: Task) -> Verdict:
        key = self.answer_key(response)
        if key is None:
            return Verdict(False, 0.0, "no_answer", None, "no single digit 0-9 in the answer")
        correct = key == task.answer
        return Verdict(correct, float(correct), "ok", key, "")

    def verify_many(self, responses: Sequence[str], tasks: Sequence[Task]) -> list[Verdict]:
        return [self.verify(r, t) for r, t in zip(responses, tasks, strict=True)]

    def __repr__(self) -> str:
        return "HintVerifier()"


#: The registered ``hint`` verifier (stateless; one instance).
HINT_VERIFIER = VERIFIERS.register("hint", HintVerifier())

#: The ``hint`` prompt style: the default style plus the HintDyad role instructions.
HINT_STYLE = PROMPT_STYLES.register(
    "hint",
    resolve_templates(
        {
            "system": {
                "hint_dyad.thinker": (
                    "You are the Thinker in a two-agent team. Send the Reasoner one digit: the hint u. "
                    "Only the first single digit of your message reaches the Reasoner (inside the last "
                    "\\boxed{} if you use one); a message without a digit sends no hint."
                ),
                "hint_dyad.reasoner": (
                    "You are the Reasoner in a two-agent team. You see the task and the Thinker's hint "
                    "(one digit, or (no hint)). Answer with the digit y in \\boxed{}; only the first single "
                    "digit inside the last \\boxed{} counts (without one, the first single digit you write)."
                ),
            }
        }
    ),
)

__all__ = ["HINT_STYLE", "HINT_VERIFIER", "HintDyad", "HintVerifier"]
