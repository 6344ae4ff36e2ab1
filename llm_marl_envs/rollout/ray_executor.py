"""``RayExecutor``: the rollout runner's episodes spread over N Ray actors, each an ``EnvWorker``.

Each actor holds many envs of one env id and its own verifiers (its own sandbox pool and math
pool: it is its own process). The executor keeps the ``Executor`` contract of
``rollout.executor``: ``pending()`` gathers the decisions of every actor and returns them in the
GLOBAL order the episodes were opened, so the runner makes exactly the same ``generate`` calls,
and the same seeds give byte-identical episodes and trees with the local and the Ray executor.
Calls to the actors go out together and are awaited together (``ray.get`` on all of them). One
round trip per step: ``open`` and ``submit`` bring back each worker's next pending decisions
(``pending()`` answers from them until that worker changes), and ``close`` travels with the
worker's next ``open``/``submit`` (a closed episode's decisions are dropped at once).

Faults: the executor records, per open episode, its spec and every stage of actions submitted to
it. When an actor dies (``ray.kill``, a crashed process or node: ``RayActorError``), a fresh actor
takes its place, re-opens its unfinished episodes from their specs, re-submits their recorded
actions (envs and verifiers are deterministic given seed, prefix and actions, so the state is
the same) and the interrupted call is repeated: no episode is lost and none finishes twice.

    ex = RayExecutor("llm-marl/CodeVote-v0", workers=2)            # ray.init() on this machine
    ex = RayExecutor("llm-marl/CodeVote-v0", workers=8, address="10.0.0.1:6379")
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from typing import Any

from ..types import Task
from .ray_cluster import DEFAULT_TIMEOUT_S, connect, cpus_per_actor
from .worker import EnvInfo, EnvWorker, EpisodeSpec, Finished, Opened, PendingDecision, WorkerStats


class ActorEnvWorker(EnvWorker):
    """The ``EnvWorker`` a Ray actor runs: ``submit`` also returns the worker's cumulative stats
    (so the driver knows them without an extra call, and keeps them when the actor dies)."""

    def submit_with_stats(self, actions: Mapping[str, Mapping[str, str]]) -> tuple[list[Finished], WorkerStats]:
        return self.submit(actions), self.stats()

    def open_and_pending(self, closes: Sequence[str], specs: Sequence[EpisodeSpec]) -> tuple[list[Opened], list[PendingDecision]]:
        """``close(closes)`` (the driver's deferred closes), ``open(specs)``, then ``pending()``: one round trip."""
        self.close(closes)
        return self.open(specs), self.pending()

    def submit_and_pending(self, closes: Sequence[str], actions: Mapping[str, Mapping[str, str]]
                           ) -> tuple[list[Finished], WorkerStats, list[PendingDecision]]:
        """``close(closes)``, ``submit(actions)``, the stats and the next ``pending()``: one round trip."""
        self.close(closes)
        finished = self.submit(actions)
        return finished, self.stats(), self.pending()

    def where(self) -> tuple[str, int]:
        """``(node id, process id)`` of this actor."""
        import ray

        return ray.get_runtime_context().get_node_id(), os.getpid()


class RayExecutor:
    """N Ray actors, each an ``EnvWorker`` of ``env`` (see the module docstring).

    Args:
        env: a registered env id (a factory cannot be shipped to other machines reliably).
        env_kwargs: keyword arguments of ``make(env, ...)`` in every actor.
        workers: number of actors; new episodes go to the least-loaded ones, in contiguous runs
            of specs (the episodes of one task share a worker's verdict cache).
        address: the Ray cluster to join (``"HEAD:6379"``, ``"auto"``); ``None``: join the Ray this
            process is already connected to, or start one on this machine with all its CPUs.
        cpus_per_worker: CPUs each actor reserves (default 1, less when the cluster has fewer CPUs
            than workers, so actors never wait for resources).
        max_replacements: how many dead actors may be replaced in the executor's lifetime before
            the fault is raised.
        timeout_s: how long an ``address`` may take to answer.
        sandbox_workers: each actor's own sandbox pool size for code tasks (``None``: the actor
            process's shared pool, two sandbox workers per CPU of its node; see ``EnvWorker``).
    """

    kind = "ray"

    def __init__(
        self,
        env: str,
        env_kwargs: Mapping[str, Any] | None = None,
        *,
        workers: int = 1,
        address: str | None = None,
        cpus_per_worker: float | None = None,
        max_replacements: int = 16,
        timeout_s: float = DEFAULT_TIMEOUT_S,
        sandbox_workers: int | None = None,
    ) -> None:
        if not isinstance(env, str):
            raise TypeError(f"the Ray executor needs a registered env id, got {type(env).__name__} (a factory runs with executor='local')")
        if isinstance(workers, bool) or not isinstance(workers, int) or workers < 1:
            raise ValueError(f"workers must be an integer >= 1, got {workers!r}")
        ray = connect(address, timeout_s=timeout_s)
        self._ray = ray
        from ray.exceptions import RayActorError, RayTaskError

        self._dead_errors: tuple[type[BaseException], ...] = (RayActorError,)
        self._task_error = RayTaskError
        self.env_id, self.env_kwargs = env, dict(env_kwargs or {})
        self.sandbox_workers = sandbox_workers
        if cpus_per_worker is None:
            cpus_per_worker = cpus_per_actor(ray, workers)
        self._actor_cls = ray.remote(num_cpus=cpus_per_worker, max_restarts=0, max_task_retries=0,
                                     scheduling_strategy="SPREAD")(ActorEnvWorker)
        self._actors: list[Any] = [self._new_actor() for _ in range(workers)]
        self._info: EnvInfo = self._gather([a.describe.remote() for a in self._actors])[0]
        self.max_replacements = max_replacements
        self.replacements = 0  # dead actors replaced so far
        self.replayed_episodes = 0  # episodes re-opened on a replacement
        # per open episode: its worker, spec, the stages of actions submitted, finished or not
        self._where: dict[str, int] = {}  # insertion order = the global open order
        self._specs: dict[str, EpisodeSpec] = {}
        self._actions: dict[str, list[dict[str, str]]] = {}
        self._done: set[str] = set()
        self._stats: list[WorkerStats] = [WorkerStats() for _ in self._actors]
        # one round trip per step: closes wait for the worker's next open/submit, and open/submit
        # bring back the worker's pending decisions, which pending() serves until the next change
        self._to_close: list[list[str]] = [[] for _ in self._actors]
        self._pending: dict[int, list[PendingDecision]] = {}
        self._retired = WorkerStats()  # what replaced actors had spent

    # ------------------------------------------------------------------ plumbing
    def _new_actor(self) -> Any:
        return self._actor_cls.remote(self.env_id, self.env_kwargs, sandbox_workers=self.sandbox_workers)

    def _gather(self, refs: Sequence[Any]) -> list[Any]:
        """``ray.get`` of calls already sent together; a task's exception is raised as itself."""
        try:
            return self._ray.get(list(refs))
        except self._task_error as e:
            raise _cause(e) from None

    def _call_each(self, calls: Mapping[int, tuple[str, tuple[Any, ...]]],
                   errors: dict[int, BaseException] | None = None) -> dict[int, Any]:
        """Send ``{worker: (method, args)}`` to all those workers at once and wait for all; a worker
        found dead is replaced (its recorded episodes restored) and its call repeated. Another
        error is raised once every call has answered, or stored in ``errors`` when given."""
        refs = {w: getattr(self._actors[w], m).remote(*args) for w, (m, args) in calls.items()}
        out: dict[int, Any] = {}
        failed: dict[int, BaseException] = {}
        for w, ref in refs.items():  # all were sent: waiting one by one is still parallel
            while True:
                try:
                    out[w] = self._gather([ref])[0]
                except self._dead_errors:
                    self._replace(w)
                    method, args = calls[w]
                    ref = getattr(self._actors[w], method).remote(*args)
                    continue
                except Exception as e:  # noqa: BLE001 - raised below, after the others answered
                    failed[w] = e
                break
        if errors is not None:
            errors.update(failed)
        elif failed:
            raise next(iter(failed.values()))
        return out

    def _replace(self, w: int) -> None:
        """Start a fresh actor in slot ``w``, re-open its unfinished episodes and re-submit their
        recorded actions stage by stage (retrying while replacements die too)."""
        while True:
            if self.replacements >= self.max_replacements:
                raise RuntimeError(f"ray executor: {self.replacements} worker actors died, the limit is max_replacements={self.max_replacements}")
            self.replacements += 1
            try:
                self._ray.kill(self._actors[w], no_restart=True)
            except Exception:  # noqa: BLE001 - already gone
                pass
            self._retired = self._retired.add(self._stats[w])
            self._stats[w] = WorkerStats()
            self._to_close[w] = []  # the old actor's envs are gone; closed keys are out of _where
            self._pending.pop(w, None)
            self._actors[w] = actor = self._new_actor()
            keys = [k for k, where in self._where.items() if where == w and k not in self._done]
            for k in [k for k, where in self._where.items() if where == w and k in self._done]:
                del self._where[k]  # finished and reported: nothing to restore (close ignores it)
                self._forget(k)
            try:
                self._gather([actor.open.remote([self._specs[k] for k in keys])])
                depth = max((len(self._actions[k]) for k in keys), default=0)
                for i in range(depth):
                    batch = {k: self._actions[k][i] for k in keys if i < len(self._actions[k])}
                    finished, self._stats[w] = self._gather([actor.submit_with_stats.remote(batch)])[0]
                    if finished:  # they had not finished before: the envs are not deterministic
                        raise RuntimeError(f"ray executor: replaying episode {finished[0].key!r} on a new actor finished it early")
            except self._dead_errors:
                continue
            self.replayed_episodes += len(keys)
            return

    def _forget(self, key: str) -> None:
        self._specs.pop(key, None)
        self._actions.pop(key, None)
        self._done.discard(key)

    def _load(self) -> list[int]:
        load = [0] * len(self._actors)
        for k, w in self._where.items():
            if k not in self._done:
                load[w] += 1
        return load

    # ------------------------------------------------------------------ the Executor interface
    @property
    def workers(self) -> int:
        return len(self._actors)

    def describe(self) -> EnvInfo:
        return self._info

    def resolve(self, tasks: Sequence[Task | int]) -> list[Task]:
        """``tasks`` as ``Task``s; only indices need a worker (``Task``s are returned without a round trip)."""
        if all(isinstance(t, Task) for t in tasks):
            return list(tasks)
        return self._call_each({0: ("resolve", (list(tasks),))})[0]

    def open(self, specs: Sequence[EpisodeSpec]) -> list[Opened]:
        keys = [s.key for s in specs]
        repeated = [k for k in keys if k in self._where] or [k for i, k in enumerate(keys) if k in keys[:i]]
        if repeated:
            raise ValueError(f"episode key {repeated[0]!r} is already open")
        per_worker: dict[int, list[EpisodeSpec]] = {}
        start = 0
        for w, count in enumerate(_fill(self._load(), len(specs))):
            if count:
                per_worker[w] = list(specs[start : start + count])
                start += count
        errors: dict[int, BaseException] = {}
        results = self._call_each({w: ("open_and_pending", (self._take_closes(w), group))
                                   for w, group in per_worker.items()}, errors)
        for w in per_worker:
            if w in results:
                results[w], self._pending[w] = results[w]
            else:
                self._pending.pop(w, None)
        assigned = {spec.key: w for w, group in per_worker.items() for spec in group}
        # on a worker that raised, the specs before the bad one stay open (as with one worker)
        really = {w: set(self._gather([self._actors[w].open_keys.remote()])[0]) for w in errors}
        for spec in specs:  # recorded in spec order: the global order of pending()
            w = assigned[spec.key]
            if w not in errors or spec.key in really[w]:
                self._where[spec.key], self._specs[spec.key], self._actions[spec.key] = w, spec, []
        if errors:
            raise next(iter(errors.values()))
        opened = {o.key: o for group in results.values() for o in group}
        return [opened[k] for k in keys]

    def pending(self) -> list[PendingDecision]:
        busy = sorted({w for k, w in self._where.items() if k not in self._done})
        results = self._call_each({w: ("pending", ()) for w in busy if w not in self._pending})
        self._pending.update(results)
        order = {k: i for i, k in enumerate(self._where)}
        decisions = [d for w in busy for d in self._pending[w] if d.key in order]  # closed since: dropped
        decisions.sort(key=lambda d: order[d.key])  # stable: schedule order within an episode stays
        return decisions

    def submit(self, actions: Mapping[str, Mapping[str, str]]) -> list[Finished]:
        per_worker: dict[int, dict[str, dict[str, str]]] = {}
        for key, acts in actions.items():
            w = self._where.get(key)
            if w is None:
                raise KeyError(f"episode key {key!r} is not open")
            per_worker.setdefault(w, {})[key] = dict(acts)
        for w in per_worker:
            self._pending.pop(w, None)  # stale whatever happens below
        results = self._call_each({w: ("submit_and_pending", (self._take_closes(w), batch))
                                   for w, batch in per_worker.items()})
        finished: dict[str, Finished] = {}
        for w, (done, stats, pending) in results.items():
            self._stats[w] = stats
            self._pending[w] = pending
            for batch_key, acts in per_worker[w].items():
                self._actions[batch_key].append(acts)
            for f in done:
                finished[f.key] = f
                self._done.add(f.key)
        return [finished[k] for k in actions if k in finished]

    def close(self, keys: Sequence[str]) -> None:
        """Forget episodes ``keys``; the workers free their envs at their next open or submit (no
        round trip of its own; the cached pending decisions of closed episodes are dropped)."""
        for key in keys:
            w = self._where.pop(key, None)
            if w is not None:
                self._to_close[w].append(key)
                self._forget(key)

    def _take_closes(self, w: int) -> list[str]:
        """The closes deferred for worker ``w`` (sent with its next call)."""
        keys, self._to_close[w] = self._to_close[w], []
        return keys

    def open_keys(self) -> list[str]:
        """The keys of the open episodes, in the global order they were opened."""
        return list(self._where)

    def stats(self) -> WorkerStats:
        total = self._retired
        for s in self._stats:
            total = total.add(s)
        return total

    def where(self) -> list[tuple[str, int]]:
        """``(node id, pid)`` of every actor (which machine and process each runs in)."""
        return self._gather([a.where.remote() for a in self._actors])

    def actors(self) -> list[Any]:
        """The actor handles, one per worker slot (e.g. for ``ray.kill`` in fault tests)."""
        return list(self._actors)

    def shutdown(self) -> None:
        """Stop the actors' own sandbox pools, then kill the actors (Ray itself stays up)."""
        if self.sandbox_workers is not None:
            try:
                self._ray.get([a.shutdown.remote() for a in self._actors], timeout=10)
            except Exception:  # noqa: BLE001 - a dead actor's pool died with it
                pass
        for actor in self._actors:
            try:
                self._ray.kill(actor, no_restart=True)
            except Exception:  # noqa: BLE001
                pass
        self._actors = []


def _fill(load: Sequence[int], n: int) -> list[int]:
    """How many of ``n`` new episodes each worker gets so that loads end up as even as possible
    (water-filling). The runner gives them contiguous runs of specs: episodes of one task (specs
    are task-major) share a worker and its verdict cache."""
    counts = [0] * len(load)
    for _ in range(n):
        w = min(range(len(load)), key=lambda i: load[i] + counts[i])
        counts[w] += 1
    return counts


def _cause(error: BaseException) -> BaseException:
    """The exception a Ray task raised (its message without Ray's remote traceback)."""
    cause = getattr(error, "cause", None)
    return cause if isinstance(cause, BaseException) else error


__all__ = ["ActorEnvWorker", "RayExecutor"]
