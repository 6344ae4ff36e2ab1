"""``CollabEnvClient``: OpenEnv's ``EnvClient`` (one WebSocket session) for our served envs.

Async by default, like every OpenEnv client; ``.sync()`` gives OpenEnv's synchronous wrapper::

    from llm_marl_envs.serve.client import CollabAction, CollabEnvClient

    with CollabEnvClient(base_url="http://127.0.0.1:8000").sync() as env:
        result = env.reset(env_id="llm-marl/MathDyad-v0", seed=0)
        while not result.done:
            obs = result.observation                   # obs.agent_selection acts next
            reply = my_llm(obs.system, obs.user)
            result = env.step(CollabAction(agent=obs.agent_selection, content=reply))
        print(result.observation.verdict, result.observation.rewards)

``reset`` takes OpenEnv's ``seed`` and ``episode_id`` and ours: ``env_id``, ``task``, ``prefix``,
``ablate`` (see ``llm_marl_envs.serve.models``). A refused request raises OpenEnv's
``RuntimeError("Server error: <one line> (code: ...)")`` and the session stays usable.
"""

from __future__ import annotations

from typing import Any

from openenv.core.client_types import StepResult
from openenv.core.env_client import EnvClient

from .environment import infos_of
from .models import CollabAction, CollabObservation, CollabState


class CollabEnvClient(EnvClient[CollabAction, CollabObservation, CollabState]):
    """One session of an ``llm-marl serve`` server over OpenEnv's WebSocket protocol."""

    def _step_payload(self, action: CollabAction | dict[str, Any]) -> dict[str, Any]:
        if isinstance(action, CollabAction):
            return action.model_dump()
        return dict(action)

    def _parse_result(self, payload: dict[str, Any]) -> StepResult[CollabObservation]:
        observation = CollabObservation(
            **payload.get("observation", {}), done=payload.get("done", False), reward=payload.get("reward")
        )
        return StepResult(observation=observation, reward=payload.get("reward"), done=payload.get("done", False))

    def _parse_state(self, payload: dict[str, Any]) -> CollabState:
        return CollabState(**payload)


__all__ = ["CollabAction", "CollabEnvClient", "CollabObservation", "CollabState", "infos_of"]
