"""Executors: where the rollout runner's envs live (in process, or as Ray actors).

An ``Executor`` offers the ``EnvWorker`` interface (``rollout.worker``) over a set of workers:
``open`` episodes from ``EpisodeSpec``s, read ``pending`` decisions in the GLOBAL order the specs
were opened (so the runner makes exactly the same ``generate`` calls whatever the executor),
``submit`` one stage of texts per episode and get the ``Finished`` ones, ``close`` episodes, read
``stats``. ``LocalExecutor`` is one in-process ``EnvWorker`` (today's speed); ``RayExecutor``
(``rollout.ray_executor``, needs the ``ray`` extra) spreads episodes over N actors.

    make_executor("local", "llm-marl/MathDyad-v0")
    make_executor("ray", "llm-marl/CodeVote-v0", workers=2, address=None)
    make_executor("ray", "llm-marl/CodeVote-v0", workers=2, sandbox_workers=1)  # each: 1 sandbox
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Protocol, runtime_checkable

from ..types import Task
from .worker import (
    EnvFactory,
    EnvInfo,
    EnvWorker,
    EpisodeSpec,
    Finished,
    Opened,
    PendingDecision,
    WorkerStats,
)

EXECUTORS: tuple[str, ...] = ("local", "ray")


@runtime_checkable
class Executor(Protocol):
    """Where episodes run; the rollout runner's only way to an env (see the module docstring)."""

    def describe(self) -> EnvInfo:
        """The env's name, agents (acting order) and roles."""
        ...

    def resolve(self, tasks: Sequence[Task | int]) -> list[Task]:
        """``tasks`` as ``Task``s (an int indexes the env's task source)."""
        ...

    def open(self, specs: Sequence[EpisodeSpec]) -> list[Opened]:
        """Open one episode per spec (keys unique among open episodes); replayed prefixes, spec order."""
        ...

    def pending(self) -> list[PendingDecision]:
        """Every decision of every open, unfinished episode, in the global order episodes were opened."""
        ...

    def submit(self, actions: Mapping[str, Mapping[str, str]]) -> list[Finished]:
        """Step episodes one stage (``{key: {agent: text}}``); the ones that finished, in ``actions`` order."""
        ...

    def close(self, keys: Sequence[str]) -> None:
        """Forget episodes ``keys`` (their envs are reused)."""
        ...

    def stats(self) -> WorkerStats:
        """Cumulative verifier spending summed over the workers."""
        ...

    def shutdown(self) -> None:
        """Release the workers (no-op in process)."""
        ...


class LocalExecutor:
    """One in-process ``EnvWorker``: env factories work, nothing is pickled."""

    kind = "local"

    def __init__(self, env: str | EnvFactory, env_kwargs: Mapping[str, Any] | None = None, *,
                 sandbox_workers: int | None = None) -> None:
        self.worker = EnvWorker(env, env_kwargs, sandbox_workers=sandbox_workers)

    def describe(self) -> EnvInfo:
        return self.worker.describe()

    def resolve(self, tasks: Sequence[Task | int]) -> list[Task]:
        return self.worker.resolve(tasks)

    def open(self, specs: Sequence[EpisodeSpec]) -> list[Opened]:
        return self.worker.open(specs)

    def pending(self) -> list[PendingDecision]:
        return self.worker.pending()

    def submit(self, actions: Mapping[str, Mapping[str, str]]) -> list[Finished]:
        return self.worker.submit(actions)

    def close(self, keys: Sequence[str]) -> None:
        self.worker.close(keys)

    def stats(self) -> WorkerStats:
        return self.worker.stats()

    def shutdown(self) -> None:
        self.worker.shutdown()


def make_executor(
    kind: str | Executor,
    env: str | EnvFactory,
    env_kwargs: Mapping[str, Any] | None = None,
    *,
    workers: int = 1,
    address: str | None = None,
    sandbox_workers: int | None = None,
) -> Executor:
    """The executor ``kind`` (``"local"`` or ``"ray"``; an ``Executor`` instance is returned as is)
    for ``env`` (an env id, or a factory: local only) with ``env_kwargs``; ``workers`` Ray actors
    on the cluster at ``address`` (``None``: a local ``ray.init()``); ``sandbox_workers``: each
    worker's own sandbox pool size for code tasks (``None``: the process's shared pool; see ``EnvWorker``)."""
    if not isinstance(kind, str):
        if not isinstance(kind, Executor):
            raise TypeError(f"executor must be one of {EXECUTORS} or an Executor, got {type(kind).__name__}")
        return kind
    if isinstance(workers, bool) or not isinstance(workers, int) or workers < 1:
        raise ValueError(f"workers must be an integer >= 1, got {workers!r}")
    if kind == "local":
        if workers != 1:
            raise ValueError(f"the local executor runs one in-process worker, got workers={workers} (use executor='ray')")
        if address is not None:
            raise ValueError(f"ray_address={address!r} only applies to executor='ray'")
        return LocalExecutor(env, env_kwargs, sandbox_workers=sandbox_workers)
    if kind == "ray":
        from .ray_executor import RayExecutor  # lazy: ray is an optional extra

        return RayExecutor(env, env_kwargs, workers=workers, address=address, sandbox_workers=sandbox_workers)
    raise ValueError(f"unknown executor {kind!r}; executors: {', '.join(EXECUTORS)}")


__all__ = ["EXECUTORS", "Executor", "LocalExecutor", "make_executor"]
