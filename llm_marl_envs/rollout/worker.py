"""``EnvWorker``: many envs of one env id behind the engine's decision interface, plain data in and out.

The rollout runner never touches an env: it asks an executor (``rollout.executor``) to ``open``
episodes (``EpisodeSpec``: task, seed, ablation, frozen prefix), reads the ``pending`` decisions
(``PendingDecision``: the exact context of each), sends back one stage of texts per episode with
``submit`` and gets ``Finished`` results, then ``close``s the episodes. An executor runs one
``EnvWorker`` in process (``LocalExecutor``) or several as Ray actors; everything crossing that
boundary is a picklable dataclass of ``str``/``int``/``float``/``Message``/``Turn``/``Verdict``/``Task``.

Verification is batched: ``submit`` collects every response text the episodes that end in this
call will verify (team answers and counterfactual re-votes), verifies them in one ``verify_many``
per task kind through the worker's own ``CachingVerifier`` (its own sandbox and math pools when the
worker lives in its own process), and the engines score with those verdicts.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from ..envs.engine import PendingDecision
from ..topologies.base import Turn
from ..types import Message, Task, Verdict

EnvFactory = Callable[[], Any]

__all__ = [
    "CachingVerifier",
    "EnvInfo",
    "EnvWorker",
    "EpisodeSpec",
    "Finished",
    "Opened",
    "PendingDecision",
    "WorkerStats",
]


@dataclass(frozen=True)
class EpisodeSpec:
    """One episode to open: ``key`` names it (unique among the open ones), ``task`` is played from
    ``seed`` (the env seed; ``None``: unseeded) with ``ablate``d agents, after replaying ``prefix``
    verbatim (the env then stands at the next decision with exactly the recorded context)."""

    key: str
    task: Task
    seed: int | None = None
    ablate: tuple[str, ...] = ()
    prefix: tuple[Message, ...] = ()


@dataclass(frozen=True)
class Opened:
    """An opened episode: the replayed prefix as the env committed it (its own contexts and stages,
    schedule order within a stage)."""

    key: str
    turns: tuple[Turn, ...]


@dataclass(frozen=True)
class Finished:
    """An episode whose task ended in a ``submit``: the team answer's verdict and reward and the
    counterfactual rewards (voting topologies). No transcript: the driver already holds every
    message it submitted (sending it back doubled the bytes crossing a Ray executor per step)."""

    key: str
    reward: float
    verdict: Verdict
    team_answer: dict[str, Any]
    counterfactual_rewards: dict[str, float] | None


@dataclass(frozen=True)
class EnvInfo:
    """What a driver needs to know about the env: its name, agents (acting order) and their roles."""

    name: str
    agents: tuple[str, ...]
    roles: dict[str, str]
    n_tasks: int


@dataclass
class WorkerStats:
    """What a worker's verifiers spent: responses actually verified and seconds in ``verify_many``."""

    verifier_calls: int = 0
    verify_s: float = 0.0

    def add(self, other: WorkerStats) -> WorkerStats:
        return WorkerStats(self.verifier_calls + other.verifier_calls, self.verify_s + other.verify_s)


class CachingVerifier:
    """Wraps a verifier: remembers verdicts by ``(task, response)`` and verifies batches at once.

    ``prefetch`` sends everything not yet known in one ``verify_many`` call; ``verify`` /
    ``verify_many`` answer from the cache and verify the rest. ``calls`` counts responses actually
    verified by the wrapped verifier.
    """

    def __init__(self, inner: Any, max_entries: int = 200_000) -> None:
        self.inner = inner
        self.max_entries = max_entries
        self.kind = getattr(inner, "kind", "")
        self._cache: dict[tuple[Task, str], Verdict] = {}
        self.calls = 0
        self.seconds = 0.0

    def answer_key(self, response: str) -> str | None:
        return self.inner.answer_key(response)

    def prefetch(self, responses: Sequence[str], tasks: Sequence[Task]) -> None:
        todo: dict[tuple[Task, str], None] = {}
        for r, t in zip(responses, tasks, strict=False):
            if (t, r) not in self._cache:
                todo[(t, r)] = None
        if not todo:
            return
        keys = list(todo)
        if len(self._cache) + len(keys) > self.max_entries:
            self._cache.clear()
        start = time.perf_counter()
        verdicts = self.inner.verify_many([r for _, r in keys], [t for t, _ in keys])
        self.seconds += time.perf_counter() - start
        self.calls += len(keys)
        self._cache.update(zip(keys, verdicts, strict=False))

    def verify_many(self, responses: Sequence[str], tasks: Sequence[Task]) -> list[Verdict]:
        self.prefetch(responses, tasks)
        return [self._cache[(t, r)] for r, t in zip(responses, tasks, strict=False)]

    def verify(self, response: str, task: Task) -> Verdict:
        return self.verify_many([response], [task])[0]

    def cached(self, response: str, task: Task) -> Verdict | None:
        """The remembered verdict of ``response`` on ``task`` (``None`` if not verified yet)."""
        return self._cache.get((task, response))

    def clear(self) -> None:
        self._cache.clear()


def env_factory(env: str | EnvFactory, env_kwargs: Mapping[str, Any] | None = None) -> EnvFactory:
    """A zero-argument env factory from an env id (+ kwargs) or a factory (kwargs then not allowed)."""
    if isinstance(env, str):
        from ..envs.registration import make

        env_id, kwargs = env, dict(env_kwargs or {})
        return lambda: make(env_id, **kwargs)
    if env_kwargs:
        raise TypeError("env_kwargs only apply when env is an env id")
    if not callable(env):
        raise TypeError(f"env must be a registered env id or a zero-argument factory, got {type(env).__name__}")
    return env


class _Open:
    """One open episode of a worker: its env, engine and spec."""

    __slots__ = ("env", "engine", "spec")

    def __init__(self, env: Any, spec: EpisodeSpec) -> None:
        self.env = env
        self.engine = env.unwrapped.engine
        self.spec = spec


class EnvWorker:
    """Many envs of one env (see the module docstring). Plain Python: a Ray actor wraps it as is.

    Args:
        env: a registered env id (``"llm-marl/MathDyad-v0"``) or a zero-argument factory returning a
            (possibly wrapped) non-lockstep AEC ``CollabEnv``; a factory only works in process.
        env_kwargs: keyword arguments of ``make(env, ...)`` when ``env`` is an id.
        sandbox_workers: the size of this worker's OWN sandbox pool for code tasks (its envs get
            ``verifier={"code": CodeVerifier(sandbox=Sandbox(workers=sandbox_workers))}``; env ids
            only, not with a ``verifier`` in ``env_kwargs``). ``None`` (default): the code verifier
            uses the process's shared pool (two sandbox workers per CPU, ``sandbox.shared_sandbox``).
            What a worker holds is then explicit: scaling out adds workers with pools of this size.
    """

    def __init__(self, env: str | EnvFactory, env_kwargs: Mapping[str, Any] | None = None, *,
                 sandbox_workers: int | None = None) -> None:
        self.sandbox: Any = None  # the worker's own sandbox pool (``sandbox_workers``), else None
        if sandbox_workers is not None:
            env_kwargs = self._own_sandbox(env, env_kwargs, sandbox_workers)
        self._factory = env_factory(env, env_kwargs)
        self._free: list[Any] = []
        self._open: dict[str, _Open] = {}
        self._verifiers: dict[str, CachingVerifier] = {}
        probe = self._new_env()
        raw = probe.unwrapped
        self._probe = raw
        self.info = EnvInfo(
            name=raw.metadata.get("name", "env"),
            agents=tuple(raw.possible_agents),
            roles={a: raw.topology.role(a) for a in raw.possible_agents},
            n_tasks=len(raw.task_source),
        )
        self._free.append(probe)

    def _own_sandbox(self, env: str | EnvFactory, env_kwargs: Mapping[str, Any] | None,
                     workers: int) -> dict[str, Any]:
        """``env_kwargs`` with a code verifier on a new sandbox pool of ``workers`` (``self.sandbox``)."""
        if isinstance(workers, bool) or not isinstance(workers, int) or workers < 1:
            raise ValueError(f"sandbox_workers must be an integer >= 1, got {workers!r}")
        if not isinstance(env, str):
            raise TypeError("sandbox_workers applies when env is an env id (a factory builds its own verifier)")
        kwargs = dict(env_kwargs or {})
        if kwargs.get("verifier") is not None:
            raise ValueError("give either sandbox_workers or a verifier in env_kwargs, not both")
        from ..sandbox import Sandbox
        from ..verifiers.code import CodeVerifier

        self.sandbox = Sandbox(workers=workers)
        kwargs["verifier"] = {"code": CodeVerifier(sandbox=self.sandbox)}
        return kwargs

    def shutdown(self) -> None:
        """Stop the worker's own sandbox pool, if it has one (its envs stay usable for non-code tasks)."""
        if self.sandbox is not None:
            self.sandbox.close()

    # ------------------------------------------------------------------ env pool
    def _new_env(self) -> Any:
        env = self._factory()
        raw = getattr(env, "unwrapped", None)
        if not hasattr(raw, "engine") or not hasattr(env, "agent_iter"):
            raise TypeError(f"rollout workers drive AEC CollabEnv instances, got {type(raw or env).__name__}")
        if getattr(raw, "is_lockstep", False):
            raise ValueError("rollout workers need a non-lockstep AEC env (do not set max_cycles/lockstep)")
        return env

    def _verifier(self, engine: Any, kind: str) -> CachingVerifier:
        verifier = self._verifiers.get(kind)
        if verifier is None:
            inner = engine.verifier_for(kind)
            verifier = self._verifiers[kind] = inner if isinstance(inner, CachingVerifier) else CachingVerifier(inner)
        return verifier

    # ------------------------------------------------------------------ the worker interface
    def describe(self) -> EnvInfo:
        """The env's name, agents and roles."""
        return self.info

    def resolve(self, tasks: Sequence[Task | int]) -> list[Task]:
        """``tasks`` as ``Task``s (an int is an index into the env's task source)."""
        source = self._probe.task_source
        return [t if isinstance(t, Task) else source[int(t)] for t in tasks]

    def open(self, specs: Sequence[EpisodeSpec]) -> list[Opened]:
        """Reset one env per spec (task, seed, ablation, prefix replayed); returns the replayed prefixes.

        A spec whose prefix does not fit its task raises ``ValueError``; the specs opened before it
        in this call stay open."""
        out = []
        for spec in specs:
            if spec.key in self._open:
                raise ValueError(f"episode key {spec.key!r} is already open")
            env = self._free.pop() if self._free else self._new_env()
            try:
                env.reset(seed=spec.seed, options={"task": spec.task, "ablate": list(spec.ablate),
                                                   "prefix": list(spec.prefix)})
            except BaseException:
                self._free.append(env)
                raise
            slot = self._open[spec.key] = _Open(env, spec)
            out.append(Opened(spec.key, tuple(slot.engine.committed_turns())))
        return out

    def pending(self) -> list[PendingDecision]:
        """Every decision to make now, episode by episode in the order they were opened (each
        tagged with its episode ``key``), the agents of one stage in schedule order."""
        return [d for key, slot in self._open.items() for d in slot.engine.pending(key)]

    def submit(self, actions: Mapping[str, Mapping[str, str]]) -> list[Finished]:
        """Step each episode ``key`` one stage with ``actions[key]`` (``{agent: text}``; a subset of the
        acting agents is allowed). Verification of every task that ends here is prefetched in one
        ``verify_many`` per task kind; returns what finished, in ``actions`` order."""
        slots = []
        for key in actions:
            slot = self._open.get(key)
            if slot is None:
                raise KeyError(f"episode key {key!r} is not open")
            slots.append(slot)
        requests = [slot.engine.scoring_requests(acts) for slot, acts in zip(slots, actions.values(), strict=True)]
        todo: dict[str, tuple[list[str], list[Task]]] = {}
        for slot, texts in zip(slots, requests, strict=True):
            if texts:
                bucket = todo.setdefault(slot.spec.task.kind, ([], []))
                bucket[0].extend(texts)
                bucket[1].extend([slot.spec.task] * len(texts))
        for kind, (texts, tasks) in todo.items():
            self._verifier(slots[0].engine, kind).prefetch(texts, tasks)
        finished = []
        for slot, acts, texts in zip(slots, actions.values(), requests, strict=True):
            engine = slot.engine
            verdicts = None
            if texts:
                cache, task = self._verifiers[slot.spec.task.kind], slot.spec.task
                verdicts = {t: v for t in texts if (v := cache.cached(t, task)) is not None}
            result = engine.submit_all(acts, verdicts)
            if result is not None:
                finished.append(Finished(
                    key=slot.spec.key,
                    reward=result.reward,
                    verdict=result.verdict,
                    team_answer=result.team_answer.to_dict(),
                    counterfactual_rewards=None if result.counterfactual_rewards is None else dict(result.counterfactual_rewards),
                ))
        return finished

    def close(self, keys: Sequence[str]) -> None:
        """Free the envs of episodes ``keys`` for reuse (unknown keys are ignored)."""
        for key in keys:
            slot = self._open.pop(key, None)
            if slot is not None:
                self._free.append(slot.env)

    def open_keys(self) -> list[str]:
        """The keys of the open episodes, in the order they were opened."""
        return list(self._open)

    def stats(self) -> WorkerStats:
        """Cumulative verifier spending of this worker (responses verified, seconds)."""
        return WorkerStats(sum(v.calls for v in self._verifiers.values()),
                           sum(v.seconds for v in self._verifiers.values()))
