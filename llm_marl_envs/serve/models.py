"""The wire types: OpenEnv ``Action`` / ``Observation`` / ``State`` subclasses for our multi-agent envs.

OpenEnv is single-agent; our envs are PettingZoo AEC envs. The mapping loses nothing:

* ``CollabAction(agent, content)``: the message of ``agent``, who must be the env's
  ``agent_selection`` (anyone else is out of turn).
* ``CollabObservation``: ``agent_selection`` (who acts next), that agent's observation fields
  (``prompt``, ``system``, ``user``, ``role``, ``turn``, ``status``: the env's observation dict),
  this step's per-agent ``rewards``, ``terminations``, ``truncations``, the live ``agents``,
  ``task_id``; on the step that ends a task also the ``verdict``, the ``transcript`` (every message
  with its context) and ``info`` (the rest of the env's end-of-task infos: ``task_index``,
  ``reward``, ``team_answer``, ``messages``, ``ablated`` and, for voting topologies,
  ``counterfactual_rewards``). ``infos_of(obs)`` rebuilds the env's ``infos[agent]`` dicts exactly.
  OpenEnv's scalar ``reward`` is the acting agent's reward of the step; ``done`` is the end of the
  episode (every agent terminated or truncated).
* ``CollabState``: ``episode_id``, ``step_count``, ``env_id``, ``agent_selection``, ``agents``,
  ``done`` and ``transcript_text`` (the env's ``state()``: the readable transcript).
* ``ResetParams``: what ``reset`` takes besides OpenEnv's ``seed`` and ``episode_id``: ``env_id``
  and our reset options ``task`` (an index into the env's task source or a task dict), ``prefix``
  (message dicts replayed verbatim: C3's frozen context) and ``ablate`` (agents removed: CCPO's
  counterfactual), at the top level or under ``options`` as in PettingZoo.
"""

from __future__ import annotations

from typing import Any

from openenv.core.env_server.types import Action, Observation, State
from pydantic import BaseModel, ConfigDict, Field, StrictInt, ValidationError

from .errors import BadRequest

MAX_ID_CHARS = 255


class CollabAction(Action):
    """One agent's whole message."""

    agent: str = Field(..., max_length=MAX_ID_CHARS, description="the acting agent, e.g. 'thinker_0' (must be agent_selection)")
    content: str = Field(..., description="the agent's message (any text; the env cuts it at its max_message_chars)")


class CollabObservation(Observation):
    """The env after a reset or a step, seen by the agent that acts next (see the module docstring)."""

    env_id: str = Field(..., description="the served env id, e.g. 'llm-marl/MathDyad-v0'")
    episode_id: str | None = Field(default=None, description="the episode's id (given at reset, or generated)")
    agent_selection: str = Field(..., description="the agent to act next (PettingZoo's agent_selection)")
    agents: list[str] = Field(default_factory=list, description="the live agents")
    prompt: str = Field("", description="agent_selection's rendered chat (= Message.context of its next message)")
    system: str = Field("", description="agent_selection's system message")
    user: str = Field("", description="agent_selection's user message")
    role: str = Field("", description="agent_selection's role")
    turn: str = Field("", description="the stage of agent_selection's next decision")
    status: str = Field("", description="'act', 'wait' or 'done'")
    rewards: dict[str, float] = Field(default_factory=dict, description="this step's reward of every agent")
    terminations: dict[str, bool] = Field(default_factory=dict)
    truncations: dict[str, bool] = Field(default_factory=dict)
    task_id: str = Field("", description="the current (or just finished) task's id")
    verdict: dict[str, Any] | None = Field(default=None, description="on the step that ends a task: the Verdict dict")
    transcript: list[dict[str, Any]] | None = Field(
        default=None, description="on the step that ends a task: every message (agent, role, content, turn, context)"
    )
    info: dict[str, Any] = Field(
        default_factory=dict,
        description="on the step that ends a task: task_index, reward, team_answer, messages, ablated, counterfactual_rewards",
    )


class CollabState(State):
    """The session's episode (OpenEnv's ``episode_id`` and ``step_count`` plus ours)."""

    env_id: str | None = None
    agent_selection: str | None = None
    agents: list[str] = Field(default_factory=list)
    done: bool = False
    transcript_text: str = Field("", description="the env's state(): the readable transcript so far")


class PrefixMessage(BaseModel):
    """One message of a reset prefix (``Message.to_dict()``'s fields)."""

    model_config = ConfigDict(extra="forbid")

    agent: str
    role: str
    content: str
    turn: int
    context: str = ""


class ResetOptions(BaseModel):
    """Our env's ``reset(options=...)`` keys."""

    model_config = ConfigDict(extra="forbid")

    task: StrictInt | dict[str, Any] | None = Field(default=None, description="an index into the task source (>= 0) or a task dict")
    prefix: list[PrefixMessage] | None = None
    ablate: list[str] | str | None = None


class ResetParams(ResetOptions):
    """Every ``reset`` parameter (OpenEnv's ``seed``/``episode_id``, ours, or ours under ``options``)."""

    seed: int | None = Field(default=None, ge=0, lt=2**63)
    episode_id: str | None = Field(default=None, max_length=MAX_ID_CHARS)
    env_id: str | None = Field(default=None, max_length=MAX_ID_CHARS)
    options: ResetOptions | None = None

    def env_options(self) -> dict[str, Any]:
        """The options dict for the env's ``reset`` (top-level keys and ``options`` merged; both: an error)."""
        top = self.model_dump(include={"task", "prefix", "ablate"}, exclude_none=True)
        nested = self.options.model_dump(exclude_none=True) if self.options else {}
        both = sorted(set(top) & set(nested))
        if both:
            raise BadRequest(f"reset: {both[0]!r} given both at the top level and under 'options'")
        merged = {**top, **nested}
        task = merged.get("task")
        if isinstance(task, int) and task < 0:
            raise BadRequest(f"reset: task index must be >= 0, got {task}")
        return merged


def one_line(error: ValidationError, what: str) -> str:
    """A pydantic error as one line: ``what: field.path: message`` (+ how many more)."""
    errors = error.errors()
    if not errors:
        return f"{what}: invalid"
    first = errors[0]
    loc = ".".join(str(p) for p in first.get("loc", ())) or "body"
    msg = first.get("msg", "invalid")
    if first.get("type") == "extra_forbidden":
        msg = "unknown field"
    more = f" (and {len(errors) - 1} more)" if len(errors) > 1 else ""
    return f"{what}: {loc}: {msg}{more}"


def parse_reset(kwargs: dict[str, Any]) -> ResetParams:
    """``kwargs`` as ``ResetParams``; a bad field raises ``BadRequest`` (one line)."""
    try:
        return ResetParams.model_validate(kwargs)
    except ValidationError as e:
        raise BadRequest(one_line(e, "reset")) from None


def parse_action(data: Any) -> CollabAction:
    """``data`` (a dict or a ``CollabAction``) as ``CollabAction``; bad: ``BadRequest`` (one line)."""
    if isinstance(data, CollabAction):
        return data
    try:
        return CollabAction.model_validate(data)
    except ValidationError as e:
        raise BadRequest(one_line(e, "action")) from None


__all__ = [
    "CollabAction",
    "CollabObservation",
    "CollabState",
    "PrefixMessage",
    "ResetOptions",
    "ResetParams",
    "one_line",
    "parse_action",
    "parse_reset",
]
