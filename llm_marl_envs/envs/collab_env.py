"""``CollabEnv`` (PettingZoo AEC) and ``CollabParallelEnv``: a team of LLM agents on one task.

One generic env, assembled from a topology (``llm_marl_envs.topologies``), a task source
(``llm_marl_envs.tasks``) and a verifier (``llm_marl_envs.verifiers``); the registered ids
(``llm-marl/MathDyad-v0``, ...) are presets of it. Both classes share ``EpisodeEngine``.

| | |
|---|---|
| Actions | any string (``AnyText``): the agent's whole message; gibberish is a wrong or empty message, never an error |
| Agents | the topology's ``<role>_<i>`` names, e.g. ``thinker_0``, ``reasoner_0`` |
| Observation | ``Dict`` of text fields: ``prompt`` (the rendered chat, = ``Message.context``), ``system`` and ``user`` (the chat the policy sees), ``role``, ``turn`` (the stage of the agent's next decision), ``status`` (``act``/``wait``/``done``) |
| State | the readable transcript of the episode (``state()``), an ``AnyText`` |
| Rewards | at the end of a task, every (non-ablated) agent gets the verifier score of the team answer, in [0, 1]; 0 otherwise |
| Parallel API | yes: one ``step`` = one stage; agents that do not act in the stage may send anything (ignored) |

**Episode.** The topology's stages in order; inside a stage agents act simultaneously (in AEC
they are visited one by one, but nobody sees a message of its own stage). By default an episode is
one task and ends with ``terminations`` for all. With ``max_cycles=N`` (a cycle = a stage = a
parallel step) an episode is a session of tasks (``tasks_per_episode``; by default as many as fit)
truncated after N cycles; the AEC env then visits every agent every cycle (``lockstep``), idle
agents passing, so AEC and parallel cycles coincide (PettingZoo's ``max_cycles`` convention).

**infos.** ``infos[agent]["task_id"]`` always; at the end of a task also ``verdict`` (a
``Verdict`` dict), ``reward``, ``team_answer`` (agent, text, answer key, rule, vote counts),
``transcript`` (every ``Message`` dict, contexts included), ``agent_messages`` (this agent's),
``messages`` (per agent), ``ablated``, and for voting topologies ``counterfactual_rewards``
({agent: team reward with that agent's vote removed}).

**reset(seed, options).** ``options["task"]``: a ``Task``, a task dict, or an index into the task
source (default: drawn with the seeded RNG). ``options["prefix"]``: ``Message``s (or dicts) replayed
verbatim; the next decision's context is then byte-identical to the one in the recorded episode
(C3's frozen context). ``options["ablate"]``: agents whose contribution is removed (CCPO's
counterfactual; they never act; per-topology meaning in ``llm_marl_envs.topologies``).

**Arguments.** ``topology`` (name or ``Topology``), ``tasks`` (task-source name, path, list of
``Task`` or a ``TaskSource``; ``task_options`` go to its factory), ``verifier`` (``None``: the
registered verifier of each task's kind; a name, an object, or a ``{kind: verifier}`` dict),
``prompt_style`` (``"default"``, ``"compact"``, a dict of template overrides or a
``PromptTemplates``), ``render_mode`` (``"ansi"`` or ``"human"``), ``max_cycles``,
``tasks_per_episode``, ``lockstep``, ``counterfactuals`` (compute voting counterfactual rewards),
``max_message_chars`` (longer actions are cut), and the topology's own options
(``n_agents=``, ``rounds=``, ``roles=``).
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from typing import Any

import gymnasium
from gymnasium.spaces import Dict as DictSpace
from gymnasium.utils import seeding
from pettingzoo import AECEnv, ParallelEnv

from ..tasks.base import TaskSource, load_tasks
from ..topologies import make_topology
from ..topologies.base import Topology
from ..topologies.prompts import PromptTemplates, resolve_templates
from ..types import Message
from .engine import OBS_FIELDS, EpisodeEngine
from .spaces import AnyText

RENDER_MODES = ["ansi", "human"]


@functools.lru_cache(maxsize=32)
def _cached_source(name: str, options: tuple[tuple[str, Any], ...]) -> TaskSource:
    return load_tasks(name, **dict(options))


def resolve_tasks(tasks: Any, task_options: Mapping[str, Any] | None = None) -> TaskSource:
    """A task source from ``tasks=`` (registered names are loaded once per process and options)."""
    options = dict(task_options or {})
    if isinstance(tasks, str):
        try:
            key = tuple(sorted(options.items()))
            hash(key)
        except TypeError:
            return load_tasks(tasks, **options)
        return _cached_source(tasks, key)
    return load_tasks(tasks, **options)


class _VerifierResolver:
    """``verifier=`` as a function of the task kind (resolved lazily, cached)."""

    def __init__(self, verifier: Any) -> None:
        self.spec = verifier
        self._cache: dict[str, Any] = {}

    def __call__(self, kind: str) -> Any:
        v = self._cache.get(kind)
        if v is None:
            spec = self.spec
            if isinstance(spec, Mapping):
                spec = spec.get(kind)
            if spec is None or isinstance(spec, str):
                from .. import verifiers  # noqa: F401  (registers the built-in verifiers)
                from ..verifiers.base import get_verifier

                spec = get_verifier(spec or kind)
            v = self._cache[kind] = spec
        return v

    def override(self, verifier: Any) -> None:
        """Replace the verifier (e.g. by the rollout runner's batching cache)."""
        self.spec = verifier
        self._cache = {}


RESET_OPTIONS = frozenset({"task", "prefix", "ablate"})  # reset(options=...) keys

class _CollabBase:
    """What the AEC and parallel envs share: construction, spaces, seeding, reset options."""

    # Not "parallelizable" in PettingZoo's sense: aec_to_parallel would take the actions of a whole
    # sequential chain at once; the native parallel env (make_parallel) plays one stage per step.
    metadata: dict[str, Any] = {"name": "llm_marl_collab_v0", "render_modes": RENDER_MODES, "is_parallelizable": False}

    def _setup(
        self,
        topology: str | Topology,
        tasks: Any,
        verifier: Any,
        prompt_style: str | Mapping[str, Any] | PromptTemplates,
        render_mode: str | None,
        max_cycles: int | None,
        tasks_per_episode: int | None,
        counterfactuals: bool,
        max_message_chars: int,
        task_options: Mapping[str, Any] | None,
        topology_options: dict[str, Any],
        name: str | None,
    ) -> None:
        if render_mode is not None and render_mode not in RENDER_MODES:
            raise ValueError(f"render_mode must be one of {RENDER_MODES} or None, got {render_mode!r}")
        if max_cycles is not None and max_cycles < 1:
            raise ValueError(f"max_cycles must be >= 1 or None, got {max_cycles}")
        self.render_mode = render_mode
        self.max_cycles = max_cycles
        self.tasks_per_episode = tasks_per_episode
        self.topology = make_topology(topology, **topology_options)
        self.task_source = resolve_tasks(tasks, task_options)
        self._verifiers = _VerifierResolver(verifier)
        self.templates = resolve_templates(prompt_style)
        self.engine = EpisodeEngine(
            self.topology,
            self.task_source,
            self._verifiers,
            self.templates,
            counterfactuals=counterfactuals,
            max_message_chars=max_message_chars,
        )
        self.metadata = {**type(self).metadata, "name": name or f"llm_marl_{self.topology.name}_v0"}
        self.possible_agents = list(self.engine.possible_agents)
        self.agents = []
        self._obs_space = DictSpace({k: AnyText() for k in OBS_FIELDS})
        self._act_spaces = {a: AnyText() for a in self.possible_agents}
        self.state_space = AnyText()
        self.np_random, _ = seeding.np_random(None)
        self._seeded = False

    @property
    def verifier(self) -> Any:
        """The verifier spec (a name, an object, a {kind: verifier} dict, or None = registered)."""
        return self._verifiers.spec

    @verifier.setter
    def verifier(self, value: Any) -> None:
        self._verifiers.override(value)

    def verifier_for(self, kind: str) -> Any:
        """The verifier used for tasks of ``kind``."""
        return self._verifiers(kind)

    # spaces: one object per agent for the env's life (PettingZoo checks identity)
    def observation_space(self, agent: str) -> DictSpace:
        return self._obs_space

    def action_space(self, agent: str) -> AnyText:
        return self._act_spaces[agent]

    def _reset_engine(self, seed: int | None, options: dict | None) -> None:
        """Start an episode. Bad ``options`` values raise before anything changes (unknown keys only
        warn); a reset that fails later
        (a prefix written in another context) leaves the env needing a reset (no live agents)."""
        options = dict(options or {})
        unknown = set(options) - RESET_OPTIONS
        if unknown:  # PettingZoo's api_test passes options it made up: warn (a typo like "ablation"), go on
            gymnasium.logger.warn(f"reset(): ignoring unknown option(s) {sorted(unknown)}; known: {sorted(RESET_OPTIONS)}")
        task = options.get("task")
        if isinstance(task, bool):
            raise TypeError("options['task'] must be a task index or a Task, not a bool")
        ablate = options.get("ablate") or ()
        ablate = (ablate,) if isinstance(ablate, str) else tuple(ablate)
        prefix = options.get("prefix") or ()
        if isinstance(prefix, (str, bytes)) or not isinstance(prefix, (list, tuple)):
            raise TypeError("options['prefix'] must be a list of Message (or their dicts)")
        prefix = [Message.from_dict(m) if isinstance(m, dict) else m for m in prefix]
        if not all(isinstance(m, Message) for m in prefix):
            raise TypeError("options['prefix'] must be a list of Message (or their dicts)")
        if seed is not None or not self._seeded:
            self.np_random, _ = seeding.np_random(seed)
            self._seeded = seed is not None
        try:
            self.engine.reset(self.np_random, task=task, ablate=ablate, prefix=prefix,
                              max_cycles=self.max_cycles, tasks_per_episode=self.tasks_per_episode)
        except BaseException:
            self.agents = []  # the old episode is gone and no new one started: reset() again
            raise

    def _info(self, agent: str, result: Any) -> dict[str, Any]:
        if result is not None:
            return self.engine.task_info(result, agent)
        return {"task_id": self.engine.task.id}

    def state(self) -> str:
        """The whole transcript of the episode so far (every task, message and verdict)."""
        return self.engine.transcript_text()

    def render(self) -> str | None:
        """``"ansi"``: the readable transcript as a string; ``"human"``: print it."""
        if self.render_mode is None:
            gymnasium.logger.warn("render() called without render_mode; use render_mode='ansi' or 'human'.")
            return None
        text = self.engine.transcript_text()
        if self.render_mode == "human":
            print(text)
            return None
        return text

    def close(self) -> None:
        pass


class CollabEnv(_CollabBase, AECEnv):
    """The AEC collaboration env (see the module docstring for the full env card)."""

    def __init__(
        self,
        topology: str | Topology = "dyad",
        tasks: Any = "arith",
        verifier: Any = None,
        *,
        prompt_style: str | Mapping[str, Any] | PromptTemplates = "default",
        render_mode: str | None = None,
        max_cycles: int | None = None,
        tasks_per_episode: int | None = None,
        lockstep: bool | None = None,
        counterfactuals: bool = True,
        max_message_chars: int = 100_000,
        task_options: Mapping[str, Any] | None = None,
        name: str | None = None,
        **topology_options: Any,
    ) -> None:
        super().__init__()
        self._setup(
            topology, tasks, verifier, prompt_style, render_mode, max_cycles, tasks_per_episode,
            counterfactuals, max_message_chars, task_options, topology_options, name,
        )
        self.lockstep = lockstep
        self.rewards: dict[str, float] = {}
        self._cumulative_rewards: dict[str, float] = {}
        self.terminations: dict[str, bool] = {}
        self.truncations: dict[str, bool] = {}
        self.infos: dict[str, dict[str, Any]] = {}
        self.agent_selection = self.possible_agents[0]
        self._queue: list[str] = []

    @property
    def is_lockstep(self) -> bool:
        """Whether every live agent is visited every cycle (default: only in ``max_cycles`` sessions)."""
        return self.lockstep if self.lockstep is not None else self.max_cycles is not None

    def reset(self, seed: int | None = None, options: dict | None = None) -> None:
        self._reset_engine(seed, options)
        self.agents = list(self.engine.live)
        self.rewards = dict.fromkeys(self.agents, 0.0)
        self._cumulative_rewards = dict.fromkeys(self.agents, 0.0)
        self.terminations = dict.fromkeys(self.agents, False)
        self.truncations = dict.fromkeys(self.agents, False)
        self.infos = {a: self._info(a, None) for a in self.agents}
        self._skip_agent_selection = None
        self._fill_queue()

    def _fill_queue(self) -> None:
        """The agents to visit in the current cycle, then select the first."""
        if self.is_lockstep:
            done = set(self.engine.stage.submitted)
            self._queue = [a for a in self.agents if a not in done]
        else:
            self._queue = self.engine.acting()
        self.agent_selection = self._queue[0]

    def observe(self, agent: str) -> dict[str, str]:
        return self.engine.observation(agent)

    def step(self, action: Any) -> None:
        agent = self.agent_selection
        if self.terminations.get(agent) or self.truncations.get(agent):
            self._was_dead_step(action)
            return
        self._cumulative_rewards[agent] = 0.0
        self._clear_rewards()
        if agent in self.engine.acting():
            self.engine.submit(agent, action)
        self._queue.remove(agent)
        if self._queue:
            self.agent_selection = self._queue[0]
            return
        result = self.engine.close_stage()
        status = self.engine.status
        for a in self.agents:
            if result is not None:
                self.rewards[a] = result.reward
            self.infos[a] = self._info(a, result)
            self.terminations[a] = status == "terminated"
            self.truncations[a] = status == "truncated"
        self._accumulate_rewards()
        if status == "running":
            self._fill_queue()
        else:
            self.agent_selection = self.agents[0]


class CollabParallelEnv(_CollabBase, ParallelEnv):
    """The parallel collaboration env: one ``step(actions)`` plays one stage (cycle).

    Only the actions of the agents that act in the current stage are used (a missing one counts as
    an empty message); the other live agents' actions are ignored. Same arguments as ``CollabEnv``
    (without ``lockstep``).
    """

    def __init__(
        self,
        topology: str | Topology = "dyad",
        tasks: Any = "arith",
        verifier: Any = None,
        *,
        prompt_style: str | Mapping[str, Any] | PromptTemplates = "default",
        render_mode: str | None = None,
        max_cycles: int | None = None,
        tasks_per_episode: int | None = None,
        counterfactuals: bool = True,
        max_message_chars: int = 100_000,
        task_options: Mapping[str, Any] | None = None,
        name: str | None = None,
        **topology_options: Any,
    ) -> None:
        self._setup(
            topology, tasks, verifier, prompt_style, render_mode, max_cycles, tasks_per_episode,
            counterfactuals, max_message_chars, task_options, topology_options, name,
        )

    def reset(
        self, seed: int | None = None, options: dict | None = None
    ) -> tuple[dict[str, dict[str, str]], dict[str, dict[str, Any]]]:
        self._reset_engine(seed, options)
        self.agents = list(self.engine.live)
        observations = {a: self.engine.observation(a) for a in self.agents}
        return observations, {a: self._info(a, None) for a in self.agents}

    def step(self, actions: Mapping[str, Any]) -> tuple[dict, dict, dict, dict, dict]:
        if not self.agents:
            raise RuntimeError("step() called on a finished episode; call reset()")
        actions = actions or {}
        for agent in self.engine.acting():
            self.engine.submit(agent, actions.get(agent, ""))
        result = self.engine.close_stage()
        status = self.engine.status
        observations = {a: self.engine.observation(a) for a in self.agents}
        rewards = {a: (result.reward if result is not None else 0.0) for a in self.agents}
        terminations = {a: status == "terminated" for a in self.agents}
        truncations = {a: status == "truncated" for a in self.agents}
        infos = {a: self._info(a, result) for a in self.agents}
        if status != "running":
            self.agents = []
        return observations, rewards, terminations, truncations, infos


__all__ = ["CollabEnv", "CollabParallelEnv", "resolve_tasks"]
