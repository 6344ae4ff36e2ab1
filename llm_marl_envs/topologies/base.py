"""The ``Topology`` base class: who acts when, who sees what, how the team answer is formed.

A topology is pure, stateless logic over a transcript; the env engine (``CollabEnv``) owns the
state, renders contexts from the prompt templates and calls the verifier. To add a topology,
subclass ``Topology`` in one file and register it (see ``tests/test_custom_topology.py``)::

    @TOPOLOGIES.register("star")
    class Star(Topology):
        ...

The pieces a subclass provides or overrides:

- ``agents()``: the agent names, ``<role>_<i>``, in acting order;
- ``schedule()``: the stages, each a tuple of agents acting **simultaneously** (an agent never
  sees a message of its own stage); sequential turns are one agent per stage;
- ``visible(agent, stage, history)``: the earlier messages the agent sees (default: all of them);
- ``team_answer(history, answer_key)``: which message is the team's answer (default: the last);
- ``vote_stage``: the stage whose messages are votes (``None`` when the team answer is not a vote);
  voting topologies get counterfactual rewards (each vote removed) for free.

**Ablation** (``reset(options={"ablate": [...]})``) is uniform: an ablated agent never acts, so
its message exists nowhere: not in anyone's context, not in the vote. What that means per built-in
topology is documented in each topology's docstring.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import ClassVar

from ..registry import Registry
from ..types import Message

AnswerKey = Callable[[str], "str | None"]


@dataclass(frozen=True)
class Turn:
    """A message together with the stage of the schedule in which it was written."""

    stage: int
    message: Message


@dataclass(frozen=True)
class TeamAnswer:
    """The team's answer: the message chosen (``None`` when nobody spoke) and how it was chosen."""

    message: Message | None
    key: str | None = None
    rule: str = "last"
    votes: tuple[tuple[str, int], ...] = ()

    @property
    def text(self) -> str:
        return "" if self.message is None else self.message.content

    def to_dict(self) -> dict:
        return {
            "agent": None if self.message is None else self.message.agent,
            "text": self.text,
            "key": self.key,
            "rule": self.rule,
            "votes": [list(v) for v in self.votes],
        }


def majority_vote(messages: Sequence[Message], answer_key: AnswerKey) -> TeamAnswer:
    """Majority vote over the answer keys of ``messages`` (in submission order).

    Tie rule: among the keys with the most votes, the one submitted earliest wins (the key of the
    first message, in submission order, that carries a tied key). A message without an answer
    (key ``None``) never wins over a message with one; when no message has an answer, the team
    answer is the first message (or ``None`` when there are no messages). With two voters who
    disagree, the earlier one's answer is the team answer.
    """
    keys = [answer_key(m.content) for m in messages]
    counts = Counter(k for k in keys if k is not None)
    if not counts:
        return TeamAnswer(messages[0] if messages else None, None, "vote:no_answer")
    best = max(counts.values())
    for message, key in zip(messages, keys, strict=False):
        if key is not None and counts[key] == best:
            rule = "vote:majority" if list(counts.values()).count(best) == 1 else "vote:tie_earliest"
            return TeamAnswer(message, key, rule, tuple(counts.most_common()))
    raise AssertionError("unreachable")  # pragma: no cover


class Topology:
    """Base class of collaboration topologies (see the module docstring)."""

    #: registry name; also the ``"<topology>.<role>"`` prefix of prompt-template keys
    name: ClassVar[str] = "topology"
    #: one-line description for ``llm-marl envs``
    description: ClassVar[str] = ""

    def agents(self) -> tuple[str, ...]:
        """All agent names, ``<role>_<i>``, in acting order (PettingZoo's ``possible_agents``)."""
        raise NotImplementedError

    def schedule(self) -> tuple[tuple[str, ...], ...]:
        """The stages of one task; each stage is a tuple of agents acting simultaneously."""
        raise NotImplementedError

    def role(self, agent: str) -> str:
        """The role of ``agent`` (its name without the ``_<i>`` suffix)."""
        return agent.rsplit("_", 1)[0]

    def label(self, viewer: str, author: str) -> str:
        """How ``author`` is named in ``viewer``'s context: the role when it is unique, else the agent."""
        role = self.role(author)
        if sum(self.role(a) == role for a in self.agents()) == 1:
            return role
        return author

    def visible(self, agent: str, stage: int, history: Sequence[Turn]) -> list[Message]:
        """The messages ``agent`` sees when acting in ``stage``; ``history`` holds earlier stages only."""
        return [t.message for t in history if t.stage < stage]

    #: index (into the un-ablated schedule) of the stage whose messages are the votes, or None
    vote_stage: ClassVar[int | None] = None

    def team_answer(self, history: Sequence[Turn], answer_key: AnswerKey) -> TeamAnswer:
        """The team's answer: by default the last message written."""
        if self.vote_stage is not None:
            return majority_vote(self.votes(history), answer_key)
        return TeamAnswer(history[-1].message if history else None, None, "last")

    def votes(self, history: Sequence[Turn]) -> list[Message]:
        """The vote messages (those of ``vote_stage``), in submission order."""
        stage = self.vote_stage if self.vote_stage is not None else -1
        if stage < 0:
            stage += len(self.schedule())
        return [t.message for t in history if t.stage == stage]

    def active_schedule(self, ablate: frozenset[str]) -> tuple[tuple[int, tuple[str, ...]], ...]:
        """``(stage index, acting agents)`` pairs with ablated agents removed (empty stages dropped).

        Stage indices keep their original numbering, so ``visible`` and ``vote_stage`` stay valid.
        """
        out = []
        for i, stage in enumerate(self.schedule()):
            acting = tuple(a for a in stage if a not in ablate)
            if acting:
                out.append((i, acting))
        return tuple(out)

    def validate(self) -> None:
        """Check the declarations: agent names, and every agent scheduled at least once."""
        agents = self.agents()
        if len(set(agents)) != len(agents) or not agents:
            raise ValueError(f"{type(self).__name__}: agent names must be unique and non-empty, got {agents}")
        scheduled = [a for stage in self.schedule() for a in stage]
        unknown = set(scheduled) - set(agents)
        if unknown:
            raise ValueError(f"{type(self).__name__}: schedule names unknown agents {sorted(unknown)}")
        missing = set(agents) - set(scheduled)
        if missing:
            raise ValueError(f"{type(self).__name__}: agents never scheduled: {sorted(missing)}")
        for stage in self.schedule():
            if len(set(stage)) != len(stage):
                raise ValueError(f"{type(self).__name__}: an agent appears twice in stage {stage}")

    def __repr__(self) -> str:
        return f"{type(self).__name__}(agents={list(self.agents())})"


TopologyFactory = Callable[..., Topology]
#: Topology classes (or factories) by name: ``TOPOLOGIES.get("dyad")(**options)``.
TOPOLOGIES: Registry[TopologyFactory] = Registry("topology")


def make_topology(spec: str | Topology, **options) -> Topology:
    """A topology instance from a registered name (with its options) or an instance (returned as is)."""
    if isinstance(spec, Topology):
        if options:
            raise TypeError(f"options {sorted(options)} given with a Topology instance")
        topology = spec
    else:
        topology = TOPOLOGIES.get(spec)(**options)
    topology.validate()
    return topology
