"""``RayVerifierPool``: a verifier whose batches run on N Ray actors (each with its own sandbox pool).

It is a verifier like the registered ones (``kind``, ``verify``, ``verify_many``, ``answer_key``),
so it goes wherever a verifier goes: ``make(env_id, verifier=pool)``, ``RolloutRunner(...,
env_kwargs={"verifier": pool})`` or ``RayExecutor(env_id, {"verifier": pool}, workers=N)`` (the
pool pickles as its actor handles, so env workers on other machines share the same actors).
``verify_many`` splits a batch into one contiguous chunk per actor, sends all chunks at once and
returns the verdicts in input order; a chunk whose actor died is re-verified on a fresh actor
(verification is a pure function of response and task). ``answer_key`` (parsing only) runs in
the caller's process.

    pool = RayVerifierPool("code", actors=4)                 # ray.init() here, or address=HEAD:6379
    env = make("llm-marl/CodeVote-v0", verifier=pool)
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import Any

from ..types import Task, Verdict
from .ray_cluster import DEFAULT_TIMEOUT_S, connect
from .ray_cluster import cpus_per_actor as default_cpus


class VerifierActor:
    """What one pool actor runs: the registered verifier of ``kind`` in its own process (the code
    verifier with its own sandbox pool of ``sandbox_workers``, default two per CPU of the node)."""

    def __init__(self, kind: str, sandbox_workers: int | None = None) -> None:
        from ..verifiers import get_verifier

        self.verifier = get_verifier(kind)
        if sandbox_workers is not None and kind == "code":
            from ..sandbox import Sandbox
            from ..verifiers.code import CodeVerifier

            self.verifier = CodeVerifier(sandbox=Sandbox(workers=sandbox_workers))

    def verify_many(self, responses: Sequence[str], tasks: Sequence[Task]) -> list[Verdict]:
        return list(self.verifier.verify_many(responses, tasks))

    def where(self) -> tuple[str, int]:
        """``(node id, process id)`` of this actor."""
        import ray

        return ray.get_runtime_context().get_node_id(), os.getpid()


_REMOTE: list[Any] = []


def _remote_class() -> Any:
    """``VerifierActor`` as a Ray actor class (made once per process)."""
    if not _REMOTE:
        import ray

        _REMOTE.append(ray.remote(VerifierActor))
    return _REMOTE[0]


class RayVerifierPool:
    """The registered verifier of ``kind`` on ``actors`` Ray actors (see the module docstring).

    Args:
        kind: a registered verifier name (``"code"``, ``"math"``, ``"reasoning_gym"``).
        actors: number of actors a batch is split over.
        address: the Ray cluster (``None``: the one this process is connected to, or a new local one).
        cpus_per_actor: CPUs each actor reserves (default 1, less when the cluster has fewer).
        sandbox_workers: sandbox workers per actor for ``code`` (default: two per CPU of its node).
    """

    def __init__(
        self,
        kind: str = "code",
        actors: int = 2,
        *,
        address: str | None = None,
        cpus_per_actor: float | None = None,
        sandbox_workers: int | None = None,
        timeout_s: float = DEFAULT_TIMEOUT_S,
    ) -> None:
        from ..verifiers import get_verifier

        get_verifier(kind)  # an unknown kind is a KeyError naming the registered ones, here
        if isinstance(actors, bool) or not isinstance(actors, int) or actors < 1:
            raise ValueError(f"actors must be an integer >= 1, got {actors!r}")
        ray = connect(address, timeout_s=timeout_s)
        self.kind = kind
        if cpus_per_actor is None:
            cpus_per_actor = default_cpus(ray, actors)
        self._options = {"num_cpus": cpus_per_actor, "max_restarts": 0, "scheduling_strategy": "SPREAD"}
        self._args = (kind, sandbox_workers)
        self._actors = [self._new_actor() for _ in range(actors)]
        self.replacements = 0
        self._local: Any = None

    def _new_actor(self) -> Any:
        return _remote_class().options(**self._options).remote(*self._args)

    # the pool crosses to other processes as its actor handles and options
    def __getstate__(self) -> dict[str, Any]:
        return {k: v for k, v in self.__dict__.items() if k != "_local"} | {"_local": None}

    # ------------------------------------------------------------------ the verifier interface
    def verify_many(self, responses: Sequence[str], tasks: Sequence[Task]) -> list[Verdict]:
        """Verdicts of ``responses`` on ``tasks`` (input order), the batch split over the actors."""
        import ray
        from ray.exceptions import RayActorError, RayTaskError

        if len(responses) != len(tasks):
            raise ValueError(f"{len(responses)} responses for {len(tasks)} tasks")
        responses, tasks = list(responses), list(tasks)
        n = len(self._actors)
        bounds = [(i * len(responses) // n, (i + 1) * len(responses) // n) for i in range(n)]
        bounds = [(a, b) for a, b in bounds if b > a]
        refs = [self._actors[i].verify_many.remote(responses[a:b], tasks[a:b]) for i, (a, b) in enumerate(bounds)]
        out: list[Verdict] = []
        for i, ((a, b), ref) in enumerate(zip(bounds, refs, strict=True)):
            for _attempt in range(4):
                try:
                    out.extend(ray.get(ref))
                    break
                except RayActorError:
                    self.replacements += 1
                    self._actors[i] = self._new_actor()
                    ref = self._actors[i].verify_many.remote(responses[a:b], tasks[a:b])
                except RayTaskError as e:  # a verifier bug: verdicts are total, so say it per response
                    out.extend([Verdict(False, 0.0, "error", None, f"verifier actor raised: {str(e).splitlines()[0][:300]}")] * (b - a))
                    break
            else:
                raise RuntimeError(f"ray verifier pool: the actor for responses {a}..{b - 1} died 4 times")
        return out

    def verify(self, response: str, task: Task) -> Verdict:
        return self.verify_many([response], [task])[0]

    def answer_key(self, response: str) -> str | None:
        if self._local is None:
            from ..verifiers import get_verifier

            self._local = get_verifier(self.kind)
        return self._local.answer_key(response)

    # ------------------------------------------------------------------ management
    @property
    def size(self) -> int:
        return len(self._actors)

    def actors(self) -> list[Any]:
        """The actor handles (e.g. for ``ray.kill`` in fault tests)."""
        return list(self._actors)

    def where(self) -> list[tuple[str, int]]:
        """``(node id, pid)`` of every actor."""
        import ray

        return ray.get([a.where.remote() for a in self._actors])

    def shutdown(self) -> None:
        """Kill the actors."""
        import ray

        for actor in self._actors:
            try:
                ray.kill(actor, no_restart=True)
            except Exception:  # noqa: BLE001 - already gone
                pass
        self._actors = []

    def __repr__(self) -> str:
        return f"RayVerifierPool({self.kind!r}, actors={len(self._actors)})"


__all__ = ["RayVerifierPool", "VerifierActor"]
