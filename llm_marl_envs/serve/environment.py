"""``CollabOpenEnv``: our PettingZoo AEC envs behind OpenEnv's ``Environment`` interface.

One instance is one session: it holds one env per env id it was reset with (the id is chosen at
``reset(env_id=...)``, default the first served id) and plays one episode at a time. ``step``
takes a ``CollabAction`` naming its agent, which must be the env's ``agent_selection``. Bad
requests raise the ``errors`` classes (each names its HTTP status); nothing a client sends makes it
raise anything else. The wire types and the mapping are described in ``models``.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from typing import Any

from openenv.core.env_server.interfaces import Environment
from openenv.core.env_server.types import EnvironmentMetadata

from .. import __version__
from ..envs.registration import env_spec, make_raw, registered_envs
from .errors import BadRequest, Conflict, Gone, NotFound
from .models import CollabAction, CollabObservation, CollabState, parse_action, parse_reset

#: the env's reset errors that a client's bad option values raise (answered 422)
_OPTION_ERRORS = (TypeError, ValueError, KeyError, IndexError)


def resolve_env_ids(env_ids: Sequence[str] | None) -> list[str]:
    """The canonical ids of ``env_ids`` (bare names allowed; ``None`` or empty: every registered id)."""
    if not env_ids:
        return registered_envs()
    out: list[str] = []
    for env_id in env_ids:
        try:
            canonical = env_spec(env_id).id
        except KeyError:
            raise KeyError(f"unknown env id {env_id!r}; registered: {', '.join(registered_envs())}") from None
        if canonical not in out:
            out.append(canonical)
    return out


def _message(e: BaseException) -> str:
    return str(e.args[0]) if isinstance(e, KeyError) and e.args else str(e)


class CollabOpenEnv(Environment[CollabAction, CollabObservation, CollabState]):
    """One session of a served multi-agent env (see the module docstring)."""

    SUPPORTS_CONCURRENT_SESSIONS = True  # sessions share no mutable state (one env object each)

    def __init__(self, env_ids: Sequence[str] | None = None) -> None:
        super().__init__()
        self.env_ids = resolve_env_ids(env_ids)
        self._envs: dict[str, Any] = {}
        self._env: Any = None
        self._env_id: str | None = None
        self._episode_id: str | None = None
        self._step_count = 0
        self._done = False
        self._finished = 0
        self._closed: str | None = None  # why this session can no longer be used

    # ------------------------------------------------------------------ OpenEnv interface
    def reset(self, seed: int | None = None, episode_id: str | None = None, **kwargs: Any) -> CollabObservation:
        """Start an episode: ``env_id``, ``task``, ``prefix``, ``ablate`` (or ``options={...}``)."""
        self._check_open()
        params = parse_reset({"seed": seed, "episode_id": episode_id, **kwargs})
        env_id = self._served(params.env_id)
        options = params.env_options()
        env = self._envs.get(env_id)
        if env is None:
            env = self._envs[env_id] = make_raw(env_id)
        self._env = None  # a reset that fails leaves no episode (the env's own contract)
        try:
            env.reset(seed=params.seed, options=options)
        except _OPTION_ERRORS as e:
            raise BadRequest(f"reset: {_message(e)}") from None
        self._env, self._env_id = env, env_id
        self._episode_id = params.episode_id or uuid.uuid4().hex
        self._step_count, self._done = 0, False
        self._finished = len(env.engine.finished)
        return self._observation(acted=None, task_ended=False)

    def step(self, action: CollabAction | dict, timeout_s: float | None = None, **kwargs: Any) -> CollabObservation:
        """Apply ``action.agent``'s message (``timeout_s`` is unused: an env step does not block)."""
        self._check_open()
        action = parse_action(action)
        env = self._env
        if env is None:
            raise Conflict("step before reset: call reset first")
        if self._done:
            raise Conflict(f"episode {self._episode_id} is over; call reset to start another")
        if action.agent not in env.possible_agents:
            raise BadRequest(f"unknown agent {action.agent!r}; {self._env_id} has {', '.join(env.possible_agents)}")
        if action.agent != env.agent_selection:
            raise Conflict(f"out of turn: it is {env.agent_selection}'s turn, not {action.agent}'s")
        env.step(action.content)
        self._step_count += 1
        self._done = all(env.terminations.get(a) or env.truncations.get(a) for a in env.agents)
        finished = len(env.engine.finished)
        ended, self._finished = finished > self._finished, finished
        return self._observation(acted=action.agent, task_ended=ended)

    @property
    def state(self) -> CollabState:
        env = self._env
        return CollabState(
            episode_id=self._episode_id,
            step_count=self._step_count,
            env_id=self._env_id,
            agent_selection=env.agent_selection if env is not None else None,
            agents=list(env.agents) if env is not None else [],
            done=self._done,
            transcript_text=env.state() if env is not None else "",
        )

    def get_metadata(self) -> EnvironmentMetadata:
        return EnvironmentMetadata(
            name="llm-marl-envs",
            description="LLM multi-agent envs (PettingZoo AEC over OpenEnv); served: " + ", ".join(self.env_ids),
            version=__version__,
        )

    def close(self) -> None:
        if self._closed is None:
            self._closed = "was closed"
        self._envs.clear()
        self._env = None

    # ------------------------------------------------------------------ session life
    def expire(self, reason: str) -> None:
        """Mark the session dead (the reaper's; later calls answer 410 ``reason``)."""
        self._closed = reason

    @property
    def closed(self) -> str | None:
        """Why the session is dead, or ``None`` while it is usable."""
        return self._closed

    def _check_open(self) -> None:
        if self._closed is not None:
            raise Gone(f"session {self._closed}; open a new one")

    def _served(self, env_id: str | None) -> str:
        if env_id is None:
            return self.env_ids[0]
        try:
            canonical = env_spec(env_id).id
        except KeyError:
            canonical = None
        if canonical not in self.env_ids:
            raise NotFound(f"unknown env {env_id!r}; served: {', '.join(self.env_ids)}")
        return canonical

    def _observation(self, acted: str | None, task_ended: bool) -> CollabObservation:
        env = self._env
        selection = env.agent_selection
        fields = env.observe(selection)
        rewards = {a: float(r) for a, r in env.rewards.items()}
        extra: dict[str, Any] = {"task_id": str(env.engine.task.id) if env.engine.task is not None else ""}
        if task_ended:
            shared = {k: v for k, v in env.infos[env.agents[0]].items() if k != "agent_messages"}
            extra = {
                "task_id": str(shared.pop("task_id")),
                "verdict": shared.pop("verdict"),
                "transcript": shared.pop("transcript"),
                "info": shared,
            }
        return CollabObservation(
            env_id=self._env_id,
            episode_id=self._episode_id,
            agent_selection=selection,
            agents=list(env.agents),
            **{k: str(fields.get(k, "")) for k in ("prompt", "system", "user", "role", "turn", "status")},
            rewards=rewards,
            terminations={a: bool(v) for a, v in env.terminations.items()},
            truncations={a: bool(v) for a, v in env.truncations.items()},
            done=self._done,
            reward=rewards.get(acted) if acted is not None else None,
            **extra,
        )


def infos_of(observation: CollabObservation | dict) -> dict[str, dict[str, Any]]:
    """The env's ``infos`` ({agent: info dict}) at this observation, rebuilt from its fields.

    Exact on every step that ends a task and on every step of a one-task episode; inside a
    ``max_cycles`` session the env keeps the last task's infos until the next stage closes, the
    observation carries them only on the step that ended the task.
    """
    obs = observation if isinstance(observation, dict) else observation.model_dump()
    agents = obs.get("agents") or []
    if obs.get("verdict") is None:
        return {a: {"task_id": obs["task_id"]} for a in agents}
    info = dict(obs.get("info") or {})
    messages = info.get("messages") or {}
    return {
        a: {"task_id": obs["task_id"], "verdict": obs["verdict"], "transcript": obs["transcript"], **info,
            "agent_messages": messages.get(a, [])}
        for a in agents
    }


__all__ = ["CollabOpenEnv", "infos_of", "resolve_env_ids"]
