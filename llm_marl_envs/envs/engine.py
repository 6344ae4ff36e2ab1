"""The episode engine behind ``CollabEnv`` and ``CollabParallelEnv`` (no PettingZoo code here).

It owns one episode's state: the task (or the session of tasks), the messages written so far, the
position in the topology's schedule, and the scoring at the end of each task. The AEC and parallel
envs are thin adapters over it, so both APIs behave identically by construction.

Lifecycle of one task: for each stage of the (ablation-filtered) schedule, every acting agent
``submit``s a message; ``close_stage`` commits the stage (so simultaneous agents never see each
other) and, after the last stage, scores the team answer with the verifier and returns a
``TaskResult``.

**The decision interface** (what the rollout workers use; the AEC/parallel envs use the same
primitives one agent at a time):

- ``pending(key)``: the decisions to make now, as ``PendingDecision``s (agent, role, turn, stage,
  the exact context, the chat, and whether submitting it alone ends the task);
- ``scoring_requests(actions)``: the response texts that submitting ``actions`` will verify
  (empty unless they end the task), so a caller can verify many envs in one batch;
- ``submit_all(actions, verdicts)``: apply a stage's messages (a subset of the acting agents is
  allowed: the stage closes when complete), scoring with the prefetched ``verdicts`` where given;
  returns the ``TaskResult`` when the task ended; every finished task is in ``finished``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..tasks.base import TaskSource
from ..topologies.base import TeamAnswer, Topology, Turn, majority_vote
from ..topologies.prompts import PromptTemplates, render_prompt, to_conversation
from ..types import Message, Task, Verdict

#: Observation fields (each an ``AnyText``), in the order of the ``Dict`` space.
OBS_FIELDS = ("prompt", "system", "user", "role", "turn", "status")


def as_text(action: Any, max_chars: int) -> str:
    """Any action as message text: ``None`` -> ``""``, bytes decoded, others ``str()``-ed; lone
    surrogates become ``"?"`` (so transcripts always encode as UTF-8); cut at ``max_chars``."""
    if action is None:
        text = ""
    elif isinstance(action, str):
        text = action
    elif isinstance(action, (bytes, bytearray)):
        text = bytes(action).decode("utf-8", "replace")
    else:
        try:
            text = str(action)
        except Exception:  # noqa: BLE001 - a hostile __str__ must not crash the env
            text = ""
    if len(text) > max_chars:
        text = text[:max_chars]
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        text = text.encode("utf-8", "replace").decode("utf-8")
    return text


@dataclass(frozen=True)
class PendingDecision:
    """One decision to make now: ``agent`` writes the next message of its episode.

    Plain, picklable data (it crosses process boundaries to rollout workers). ``context`` is the
    exact rendered prompt (``Message.context`` of the message it becomes), ``system``/``user`` the
    chat a policy receives (``conversation``); ``ends_task``: submitting this decision alone ends
    the task (it is the last one of the last stage); ``key`` names the episode (set by workers).
    """

    agent: str
    role: str
    turn: int
    stage: int
    context: str
    system: str
    user: str
    ends_task: bool = False
    max_chars: int = 100_000
    key: str = ""

    @property
    def conversation(self) -> list[dict[str, str]]:
        """The chat ``[system, user]`` for this decision (what a policy receives)."""
        return to_conversation(self.system, self.user)

    def message(self, action: Any) -> Message:
        """The ``Message`` that submitting ``action`` records (the one definition of it)."""
        return Message(self.agent, self.role, as_text(action, self.max_chars), self.turn, self.context)


@dataclass
class TaskResult:
    """What finishing one task produced: the verdict of the team answer and the reward per agent."""

    task: Task
    team_answer: TeamAnswer
    verdict: Verdict
    reward: float
    counterfactual_rewards: dict[str, float] | None
    history: list[Turn]


@dataclass
class _Stage:
    index: int  # index into the un-ablated schedule (what topologies see)
    agents: tuple[str, ...]
    submitted: dict[str, Message] = field(default_factory=dict)


class EpisodeEngine:
    """State and rules of one episode (see the module docstring)."""

    def __init__(
        self,
        topology: Topology,
        source: TaskSource,
        verifier_for: Callable[[str], Any],
        templates: PromptTemplates,
        *,
        counterfactuals: bool = True,
        max_message_chars: int = 100_000,
    ) -> None:
        self.topology = topology
        self.source = source
        self._verifier_for = verifier_for
        self.templates = templates
        self.counterfactuals = counterfactuals
        self.max_message_chars = max_message_chars
        self.possible_agents = list(topology.agents())
        self._roles = {a: topology.role(a) for a in self.possible_agents}
        # per-episode state (set by reset)
        self.ablate: frozenset[str] = frozenset()
        self.live: list[str] = list(self.possible_agents)
        self.task: Task | None = None
        self.history: list[Turn] = []
        self.finished: list[TaskResult] = []
        self.cycles = 0
        self.tasks_done = 0
        self._plan: tuple[tuple[int, tuple[str, ...]], ...] = ()
        self._stage_pos = 0
        self._stage: _Stage | None = None
        self._obs_cache: dict[str, dict[str, str]] = {}
        self._key_cache: dict[str, str | None] = {}
        self.verifier_calls = 0
        self._prefetched: Mapping[str, Verdict] = {}
        self._shared_for: TaskResult | None = None
        self._shared_info: dict[str, Any] = {}
        self.task_over = False
        self.status = "running"
        self.rng = np.random.default_rng()
        self.max_cycles: int | None = None
        self.tasks_per_episode = 1

    # ------------------------------------------------------------------ episode set-up
    def reset(
        self,
        rng: np.random.Generator,
        *,
        task: Any = None,
        ablate: Sequence[str] = (),
        prefix: Sequence[Message] = (),
        max_cycles: int | None = None,
        tasks_per_episode: int | None = None,
    ) -> None:
        """Begin an episode: ``task`` (a ``Task``, an index or ``None`` = drawn from ``rng``), the
        ablated agents, a prefix of messages to replay verbatim, and the episode's length limits.

        ``tasks_per_episode=None`` means one task, or, when ``max_cycles`` is set, a session of
        tasks that goes on until ``max_cycles`` stages have been played (then it is truncated).
        """
        self.rng = rng
        self.max_cycles = max_cycles
        if tasks_per_episode is None:
            tasks_per_episode = 1 if max_cycles is None else 0
        if tasks_per_episode < 0 or (tasks_per_episode == 0 and max_cycles is None):
            raise ValueError(
                f"tasks_per_episode must be >= 1, or 0 (unlimited) together with max_cycles; got {tasks_per_episode}"
            )
        self.tasks_per_episode = tasks_per_episode  # 0: unlimited
        self.finished = []
        self.cycles = 0
        self.tasks_done = 0
        self.status = "running"
        self.start(choose_task(self.source, rng, task), ablate)
        self.replay(prefix)

    def replay(self, prefix: Sequence[Message]) -> None:
        """Write ``prefix`` verbatim; afterwards the env stands at the next decision with exactly the
        context the recorded episode had there. Each message must come from the agent whose turn it
        is, and a non-empty ``Message.context`` must equal the context the env renders for it
        (``ValueError`` otherwise: the prefix does not belong to this task/topology/prompt style)."""
        for i, m in enumerate(prefix):
            if isinstance(m, dict):
                m = Message.from_dict(m)
            acting = self.acting()
            if m.agent not in acting:
                raise ValueError(f"prefix message {i} is by {m.agent!r}, but the agents to act are {acting}")
            if m.context and m.context != self.observation(m.agent)["prompt"]:
                raise ValueError(
                    f"prefix message {i} ({m.agent}) was written in another context than the one this env "
                    "renders (different task, ablation, topology or prompt style?)"
                )
            if len(self.acting()) == 1 and self.is_last_stage():
                raise ValueError("a prefix must leave at least one decision of the task to play")
            self.submit(m.agent, m.content)
            if self.stage_complete():
                self.close_stage()

    def start(self, task: Task, ablate: Sequence[str] = ()) -> None:
        """Begin the task ``task`` (the first one of an episode, or the next one of a session)."""
        ablate = frozenset(ablate)
        unknown = ablate - set(self.possible_agents)
        if unknown:
            raise ValueError(f"cannot ablate unknown agents {sorted(unknown)}; agents: {self.possible_agents}")
        plan = self.topology.active_schedule(ablate)
        if not plan:
            raise ValueError(f"ablating {sorted(ablate)} leaves no agent to act")
        self.ablate = ablate
        self.live = [a for a in self.possible_agents if a not in ablate]
        self._plan = plan
        self.task = task
        self.history = []
        self._key_cache = {}
        self._stage_pos = 0
        self.task_over = False
        self._open_stage()

    def _open_stage(self) -> None:
        index, agents = self._plan[self._stage_pos]
        self._stage = _Stage(index, agents)
        self._obs_cache = {}

    @property
    def stage(self) -> _Stage:
        assert self._stage is not None, "the episode has not started"
        return self._stage

    @property
    def decisions_made(self) -> int:
        """Messages written in the current task so far (the next message's ``turn``)."""
        return len(self.history) + len(self.stage.submitted)

    def committed_turns(self) -> list[Turn]:
        """Every message written in this task so far: committed stages, then the current stage's."""
        stage = self.stage
        return [*self.history, *(Turn(stage.index, stage.submitted[a]) for a in stage.agents if a in stage.submitted)]

    def acting(self) -> list[str]:
        """Agents of the current stage that have not written their message yet (schedule order)."""
        stage = self.stage
        return [a for a in stage.agents if a not in stage.submitted]

    # ------------------------------------------------------------------ observations
    def context(self, agent: str) -> tuple[str, str, int]:
        """``(system, user, stage)`` of ``agent``'s next decision in this task, given what is
        committed so far (the last stage of the task when the agent does not act again)."""
        assert self.task is not None
        stage_index = None
        for index, agents in ([] if self.task_over else self._plan[self._stage_pos :]):
            if agent in agents and not (index == self.stage.index and agent in self.stage.submitted):
                stage_index = index
                break
        if stage_index is None:
            stage_index = len(self.topology.schedule())
        visible = self.topology.visible(agent, stage_index, self.history)
        labelled = []
        for m in visible:
            label = self.topology.label(agent, m.agent)
            if m.agent == agent:
                label += self.templates.self_suffix
            labelled.append((label, m.content))
        system = self.templates.system_text(self._roles[agent], self.task.kind, self.topology.name)
        user = self.templates.user_text(self.task.prompt, labelled)
        return system, user, stage_index

    def observation(self, agent: str) -> dict[str, str]:
        """The observation dict of ``agent`` (fields ``OBS_FIELDS``)."""
        cached = self._obs_cache.get(agent)
        if cached is not None:
            return cached
        system, user, stage_index = self.context(agent)
        if agent in self.acting():
            status = "act"
        elif stage_index < len(self.topology.schedule()):
            status = "wait"
        else:
            status = "done"
        obs = {
            "prompt": render_prompt(system, user),
            "system": system,
            "user": user,
            "role": self._roles[agent],
            "turn": str(stage_index),
            "status": status,
        }
        self._obs_cache[agent] = obs
        return obs

    def conversation(self, agent: str) -> list[dict[str, str]]:
        """The chat ``[system, user]`` for ``agent``'s next decision (what a policy receives)."""
        obs = self.observation(agent)
        return to_conversation(obs["system"], obs["user"])

    # ------------------------------------------------------------------ the decision interface
    def decision(self, agent: str, key: str = "") -> PendingDecision:
        """``agent``'s decision in the current stage (it must be acting); ``turn`` assumes the stage's
        agents submit in schedule order (as the envs and ``submit_all`` do)."""
        acting = self.acting()
        if agent not in acting:
            raise ValueError(f"{agent} does not act now (acting: {acting})")
        obs = self.observation(agent)
        return PendingDecision(
            agent=agent,
            role=obs["role"],
            turn=self.decisions_made + acting.index(agent),
            stage=self.stage.index,
            context=obs["prompt"],
            system=obs["system"],
            user=obs["user"],
            ends_task=len(acting) == 1 and self.is_last_stage(),
            max_chars=self.max_message_chars,
            key=key,
        )

    def pending(self, key: str = "") -> list[PendingDecision]:
        """The decisions to make now (the current stage's agents still to act, schedule order);
        empty once the episode is over."""
        if self.status != "running":
            return []
        return [self.decision(agent, key) for agent in self.acting()]

    def scoring_requests(self, actions: Mapping[str, Any]) -> list[str]:
        """The distinct response texts that ``submit_all(actions)`` will verify: empty unless the
        actions complete the task's last stage (for verifying many envs in one batch)."""
        acting = self.acting()
        if self.status != "running" or not self.is_last_stage() or not set(acting) <= set(actions):
            return []
        stage = self.stage
        turns = list(self.history)
        for agent in stage.agents:
            message = stage.submitted.get(agent)
            if message is None:
                message = Message(agent, self._roles[agent], as_text(actions[agent], self.max_message_chars), 0)
            turns.append(Turn(stage.index, message))
        return self._answers(turns)[3]

    def submit_all(self, actions: Mapping[str, Any], verdicts: Mapping[str, Verdict] | None = None) -> TaskResult | None:
        """Submit the acting agents' ``actions`` (schedule order; agents not in ``actions`` wait), close
        the stage once complete, and return the ``TaskResult`` when the task ended. ``verdicts``
        (response text -> ``Verdict``, e.g. from a batched prefetch of ``scoring_requests``) are
        used instead of calling the verifier for those texts."""
        unknown = set(actions) - set(self.acting())
        if unknown:
            raise ValueError(f"{sorted(unknown)} do not act now (acting: {self.acting()})")
        for agent in self.acting():
            if agent in actions:
                self.submit(agent, actions[agent])
        if not self.stage_complete():
            return None
        self._prefetched = verdicts or {}
        try:
            return self.close_stage()
        finally:
            self._prefetched = {}

    # ------------------------------------------------------------------ acting
    def submit(self, agent: str, action: Any) -> Message:
        """Record ``agent``'s message for the current stage (its context is frozen now)."""
        if agent not in self.acting():
            raise ValueError(f"{agent} does not act now (acting: {self.acting()})")
        message = self.decision(agent).message(action)
        self.stage.submitted[agent] = message
        self._obs_cache.pop(agent, None)
        return message

    def stage_complete(self) -> bool:
        return not self.acting()

    def is_last_stage(self) -> bool:
        return self._stage_pos == len(self._plan) - 1

    def close_stage(self) -> TaskResult | None:
        """Commit the current stage; after the task's last stage, score it and return its result.

        Also advances the episode: ``status`` becomes ``"terminated"`` when the session's tasks are
        done, ``"truncated"`` when ``max_cycles`` stages have been played first; otherwise, after a
        finished task, the session's next task (drawn from the RNG) starts.
        """
        stage = self.stage
        assert not self.acting(), f"stage {stage.index} still waits for {self.acting()}"
        for agent in stage.agents:  # schedule order: deterministic whatever the submission order
            self.history.append(Turn(stage.index, stage.submitted[agent]))
        self.cycles += 1
        result = None
        if self._stage_pos + 1 < len(self._plan):
            self._stage_pos += 1
            self._open_stage()
        else:
            result = self._score_task()
            self.finished.append(result)
            self.tasks_done += 1
            self.task_over = True
            self._stage = _Stage(len(self.topology.schedule()), ())  # past the end: nobody acts
            self._obs_cache = {}
        if self.task_over and self.tasks_per_episode and self.tasks_done >= self.tasks_per_episode:
            self.status = "terminated"
        elif self.max_cycles is not None and self.cycles >= self.max_cycles:
            self.status = "truncated"
        elif self.task_over:
            self.start(choose_task(self.source, self.rng, None), self.ablate)
        return result

    # ------------------------------------------------------------------ scoring
    def answer_key(self, text: str) -> str | None:
        """The verifier's canonical answer key of ``text`` (cached per task; never raises)."""
        if text in self._key_cache:
            return self._key_cache[text]
        try:
            key = self._verifier_for(self.task.kind).answer_key(text)
            key = None if key is None else str(key)
        except Exception:  # noqa: BLE001 - a verifier bug must not crash an episode
            key = None
        self._key_cache[text] = key
        return key

    def team_answer(self, history: Sequence[Turn]) -> TeamAnswer:
        return self.topology.team_answer(history, self.answer_key)

    def counterfactual_answers(self, history: Sequence[Turn]) -> dict[str, TeamAnswer]:
        """For voting topologies: the team answer with each voter's vote removed."""
        if not self.counterfactuals or self.topology.vote_stage is None:
            return {}
        votes = self.topology.votes(history)
        return {
            m.agent: majority_vote([v for v in votes if v is not m], self.answer_key) for m in votes
        }

    def _answers(self, history: Sequence[Turn]) -> tuple[TeamAnswer, dict[str, TeamAnswer], dict[str, str], list[str]]:
        """Team and counterfactual answers, and the distinct texts to verify. Equal answer keys
        give equal verdicts (the verifier's ``answer_key`` contract), so one text per key."""
        team = self.team_answer(history)
        counterfactual = self.counterfactual_answers(history)
        by_key: dict[str, str] = {}
        texts: list[str] = []
        for answer in (team, *counterfactual.values()):
            text = by_key.setdefault(answer.key, answer.text) if answer.key is not None else answer.text
            if text not in texts:
                texts.append(text)
        return team, counterfactual, by_key, texts

    def _verify(self, texts: list[str]) -> dict[str, Verdict]:
        known = {t: self._prefetched[t] for t in texts if t in self._prefetched}
        texts = [t for t in texts if t not in known]
        if not texts:
            return known
        verifier = self._verifier_for(self.task.kind)
        self.verifier_calls += len(texts)
        try:
            verdicts = list(verifier.verify_many(texts, [self.task] * len(texts)))
            if len(verdicts) != len(texts):
                raise ValueError(f"verify_many returned {len(verdicts)} verdicts for {len(texts)} responses")
        except Exception as e:  # noqa: BLE001 - a verifier bug scores 0 with status "error"
            verdicts = [Verdict(False, 0.0, "error", None, f"verifier raised {type(e).__name__}: {e}")] * len(texts)
        return {**known, **dict(zip(texts, verdicts, strict=False))}

    def verifier_for(self, kind: str) -> Any:
        """The verifier of tasks of ``kind`` (what ``scoring_requests`` texts are verified with)."""
        return self._verifier_for(kind)

    def _score_task(self) -> TaskResult:
        history = list(self.history)
        team, counterfactual, by_key, texts = self._answers(history)
        verdicts = self._verify(texts)

        def verdict_of(answer: TeamAnswer) -> Verdict:
            return verdicts[by_key[answer.key] if answer.key is not None else answer.text]

        verdict = verdict_of(team)
        cf_rewards = {a: float(verdict_of(ans).score) for a, ans in counterfactual.items()} if counterfactual else None
        if self.counterfactuals and self.topology.vote_stage is not None and cf_rewards is None:
            cf_rewards = {}
        return TaskResult(self.task, team, verdict, float(verdict.score), cf_rewards, history)

    # ------------------------------------------------------------------ text views
    def task_info(self, result: TaskResult, agent: str) -> dict[str, Any]:
        """The ``infos[agent]`` dict at the end of a task (the transcript lists are shared by agents)."""
        shared = self._shared_info if self._shared_for is result else None
        if shared is None:
            transcript = [
                {"agent": m.agent, "role": m.role, "content": m.content, "turn": m.turn, "context": m.context}
                for m in (t.message for t in result.history)
            ]
            by_agent = {a: [m for m in transcript if m["agent"] == a] for a in self.live}
            shared = {
                "task_id": result.task.id,
                "task_index": len(self.finished) - 1,
                "verdict": result.verdict.to_dict(),
                "reward": result.reward,
                "team_answer": result.team_answer.to_dict(),
                "transcript": transcript,
                "messages": by_agent,
                "ablated": sorted(self.ablate),
            }
            if result.counterfactual_rewards is not None:
                shared["counterfactual_rewards"] = dict(result.counterfactual_rewards)
            self._shared_for, self._shared_info = result, shared
        return {**shared, "agent_messages": shared["messages"].get(agent, [])}

    def transcript_text(self) -> str:
        """Every task of the episode so far with its messages and verdicts, as readable text."""
        blocks = []
        tasks = [(r.task, r.history, r) for r in self.finished]
        if self.task is not None and not self.task_over:
            tasks.append((self.task, self.history, None))
        for task, history, result in tasks:
            lines = [f"=== task {task.id} ({task.kind}) ===", task.prompt]
            if self.ablate:
                lines.append(f"(ablated: {', '.join(sorted(self.ablate))})")
            for turn in history:
                m = turn.message
                lines.append(f"--- [{turn.stage}] {m.agent} ---")
                lines.append(m.content)
            if result is not None:
                v = result.verdict
                lines.append(
                    f"=== team answer by {result.team_answer.to_dict()['agent']}: "
                    f"{v.status}, score {v.score:g}, extracted {v.extracted!r} ==="
                )
            blocks.append("\n".join(lines))
        return "\n\n".join(blocks)


def choose_task(source: TaskSource, rng: np.random.Generator, spec: Any = None) -> Task:
    """``spec`` (a ``Task``, an index, or ``None`` for a random draw from ``rng``) as a task."""
    if isinstance(spec, Task):
        return spec
    if spec is None:
        return source[int(rng.integers(len(source)))]
    if isinstance(spec, (int, np.integer)):
        return source[int(spec)]
    if isinstance(spec, dict):
        return Task.from_dict(spec)
    raise TypeError(f'options["task"] must be a Task, a task dict or an index, got {type(spec).__name__}')
