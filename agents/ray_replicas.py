"""Policy replicas as Ray actors: one batch of prompts split over N copies of one backend.

    policy = make_policy("replicas", replica_backend="hf", replicas=4, model="path/to/model")
    policy.generate(conversations, SamplingParams(n=4, max_tokens=256, seed=0))

The intended layout is **one replica per GPU**: each actor reserves ``num_gpus`` GPUs (default 1
when the Ray cluster has GPUs, else 0) and ``num_cpus`` CPUs (default: the project's
:func:`llm_marl_envs.rollout.ray_cluster.cpus_per_actor` rule: 1, or less when the cluster has
fewer CPUs than replicas), and builds its own policy with
``agents.make_policy(replica_backend, **backend_kwargs)`` (``"hf"``, ``"tiny"``, ``"vllm"``, a
scripted agent...). On a GPU node Ray sets ``CUDA_VISIBLE_DEVICES`` per actor, so an ``hf`` replica
finds "its" GPU as ``cuda:0``.

How ``generate(prompts, params)`` works:

- **Chunks**: the prompts are cut into at most ``replicas`` contiguous chunks, balanced by count
  (``balance="count"``, default) or by prompt length in characters (``balance="length"``); all
  chunks are sent at once (chunk ``k`` to replica ``k``) and awaited together; the results are
  concatenated in prompt order (prompt-major, ``params.n`` per prompt), exactly as the replica's
  backend returns them (text, token ids, log-probs, finish reason, metadata).
- **Seeds**: chunk ``k`` starting at prompt ``s`` is generated with ``prompt_offset=s`` (every
  backend of :mod:`agents` takes it), so a backend that derives per-request seeds from the prompt's
  index (``request_seed(seed, i, j)``) draws for each prompt exactly what one local policy would
  draw for the whole batch: same seeds, same samples, whatever the number of replicas. A backend
  whose ``generate`` has no ``prompt_offset`` is refused for seeded, split batches (its samples
  would depend on the split). Bit-equal results also need logits that do not depend on the batch
  a prompt is in: transformers on CPU in float32 give the same texts and token ids, but the
  log-probs can differ in the last bits (~1e-7) when the batch size or the number of torch threads
  changes (Ray gives an actor ``OMP_NUM_THREADS`` = its CPUs, at least 1), as they do for one local
  ``HFPolicy`` given another batch; GPU kernels in bfloat16 may differ more, even in tokens at
  near-ties.
- **Faults**: a replica that dies (``ray.kill``, a crashed worker, a lost node) is replaced by a
  fresh actor built the same way (with the last weights sent by :meth:`update_weights`) and its
  chunk is sent again; with a request seed the repeat is exact. At most ``max_restarts``
  replacements per call, then :class:`ReplicaError`. An exception raised by the backend itself
  (a bad prompt) is re-raised as is: it would fail anywhere.
- **Weights**: :meth:`update_weights` (the trainer's ``algorithms.policies.WeightSyncGenerator``)
  puts a ``state_dict`` once into Ray's object store and loads it into every replica
  (``update_weights`` of the backend when it has one, e.g. vLLM, else ``model.load_state_dict``).

Ray is an optional extra, imported when a ``RayReplicaPolicy`` is built: without it the error is
one line naming ``pip install 'llm-marl-envs[ray]'``. Ray is started here (``ray.init()`` with this
machine's CPUs) unless this process is connected already or ``address`` names a cluster.
"""

from __future__ import annotations

import inspect
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from llm_marl_envs.policy import Conversation, Generation, SamplingParams

from .chat import ActMixin

__all__ = ["RayReplicaPolicy", "ReplicaError", "split_batch"]

BALANCE = ("count", "length")


class ReplicaError(RuntimeError):
    """Replicas kept dying during one ``generate`` call (more than ``max_restarts`` replacements)."""


def _prompt_chars(conversation: Conversation) -> int:
    return sum(len(str(m.get("content", ""))) for m in conversation)


def split_batch(prompts: Sequence[Conversation], parts: int, balance: str = "count") -> list[tuple[int, int]]:
    """Contiguous ``(start, stop)`` chunks of ``prompts``, at most ``parts`` of them, none empty.

    ``balance="count"``: sizes differ by at most one (the first chunks get the extra prompts).
    ``balance="length"``: cut where the running total of prompt characters crosses ``k/parts`` of
    the whole, each chunk keeping at least one prompt.
    """
    if balance not in BALANCE:
        raise ValueError(f"balance must be one of {BALANCE}, got {balance!r}")
    n = len(prompts)
    parts = max(1, min(int(parts), n))
    if n == 0:
        return []
    if balance == "count":
        size, extra = divmod(n, parts)
        bounds, start = [], 0
        for k in range(parts):
            stop = start + size + (1 if k < extra else 0)
            bounds.append((start, stop))
            start = stop
        return bounds
    weights = [max(1, _prompt_chars(p)) for p in prompts]
    total = sum(weights)
    cuts, running, k = [0], 0, 1
    for i, w in enumerate(weights[:-1]):
        running += w
        remaining_prompts, remaining_parts = n - (i + 1), parts - k
        if k < parts and (running * parts >= k * total or remaining_prompts == remaining_parts):
            cuts.append(i + 1)
            k += 1
    cuts.append(n)
    return [(a, b) for a, b in zip(cuts, cuts[1:], strict=False)]


class _Replica:
    """The actor body: one policy built by the backend registry (see the module docstring)."""

    def __init__(self, spec: tuple[str, dict[str, Any]]) -> None:
        from . import make_policy

        backend, kwargs = spec
        self.error: Exception | None = None
        try:  # a failed build is reported by ready() as the backend's own exception, not as a dead actor
            self.policy = make_policy(backend, **kwargs)
        except Exception as exc:  # noqa: BLE001
            self.error = exc
            return
        try:
            names = inspect.signature(self.policy.generate).parameters
        except (TypeError, ValueError):
            names = {}
        self.takes_offset = "prompt_offset" in names
        self.takes_role = "role" in names

    def ready(self) -> bool:
        """Whether it takes ``prompt_offset``; raises the error that the build raised."""
        if self.error is not None:
            raise self.error
        return self.takes_offset

    def generate(self, prompts: list[Conversation], params: SamplingParams, prompt_offset: int,
                 role: str | None) -> list[Generation]:
        kwargs: dict[str, Any] = {}
        if self.takes_offset:
            kwargs["prompt_offset"] = prompt_offset
        elif prompt_offset and params.seed is not None:
            raise ValueError(f"{type(self.policy).__name__}.generate takes no prompt_offset, so its seeded samples "
                             "would depend on how the batch is split over replicas; use replicas=1")
        if role is not None:
            if not self.takes_role:
                raise ValueError(f"{type(self.policy).__name__}.generate takes no role")
            kwargs["role"] = role
        return list(self.policy.generate(prompts, params, **kwargs))

    def update_weights(self, state: dict[str, Any]) -> int:
        if hasattr(self.policy, "update_weights"):
            return int(self.policy.update_weights(state))
        self.policy.model.load_state_dict(state, strict=True)
        return len(state)

    def pid(self) -> int:
        import os

        return os.getpid()


class RayReplicaPolicy(ActMixin):
    """One policy backend replicated over Ray actors, one per GPU (see the module docstring).

    Args:
        replica_backend: the backend each replica builds (a name of ``agents.BACKENDS``).
        replicas: how many actors; default: the cluster's GPU count, or 1 without GPUs.
        num_gpus: GPUs each actor reserves; default 1 when the cluster has GPUs, else 0.
        num_cpus: CPUs each actor reserves; default ``cpus_per_actor(ray, replicas)``.
        address: the Ray cluster to join (``None``: the one this process is connected to, or a
            local ``ray.init()``).
        balance: ``"count"`` or ``"length"`` (see :func:`split_batch`).
        max_restarts: replacements of dead replicas allowed in one ``generate`` call.
        start_timeout_s: how long the replicas may take to be scheduled and build their policies
            (:class:`ReplicaError` after that, naming the resources asked for and those free: a
            cluster whose CPUs or GPUs are all reserved by other actors never schedules them).
        **backend_kwargs: the replica backend's constructor arguments (e.g. ``model=`` for ``hf``).
    """

    def __init__(
        self,
        replica_backend: str = "hf",
        replicas: int | None = None,
        *,
        num_gpus: float | None = None,
        num_cpus: float | None = None,
        address: str | None = None,
        balance: str = "count",
        max_restarts: int = 3,
        start_timeout_s: float = 600.0,
        **backend_kwargs: Any,
    ) -> None:
        from llm_marl_envs.rollout.ray_cluster import connect, cpus_per_actor

        if balance not in BALANCE:
            raise ValueError(f"balance must be one of {BALANCE}, got {balance!r}")
        if replica_backend == "replicas":
            raise ValueError("replica_backend cannot be 'replicas' itself")
        ray = connect(address)
        self._ray = ray
        gpus = float(ray.cluster_resources().get("GPU", 0.0))
        if replicas is None:
            replicas = int(gpus) or 1
        if int(replicas) < 1:
            raise ValueError(f"replicas must be >= 1, got {replicas}")
        self.replicas = int(replicas)
        self.replica_backend = replica_backend
        self.balance = balance
        self.max_restarts = max(0, int(max_restarts))
        self.start_timeout_s = float(start_timeout_s)
        self.num_gpus = (1.0 if gpus > 0 else 0.0) if num_gpus is None else float(num_gpus)
        self.num_cpus = cpus_per_actor(ray, self.replicas) if num_cpus is None else float(num_cpus)
        self.version = 0
        self.restarts = 0
        """Dead replicas replaced so far (all calls)."""
        self._remote = ray.remote(_Replica).options(num_cpus=self.num_cpus, num_gpus=self.num_gpus)
        self._spec_ref = ray.put((replica_backend, dict(backend_kwargs)))
        self._state_ref: Any = None
        self._actors: list[Any] = [self._remote.remote(self._spec_ref) for _ in range(self.replicas)]
        try:
            self._ready([a.ready.remote() for a in self._actors])
        except BaseException:
            self.close()
            raise

    # -- public ---------------------------------------------------------------------------
    def generate(self, prompts: Sequence[Conversation], params: SamplingParams | None = None, *,
                 role: str | None = None, prompt_offset: int = 0) -> list[Generation]:
        """``len(prompts) * params.n`` generations, prompt-major, the chunks generated by the
        replicas at once; ``prompt_offset`` numbers the prompts from there (a slice of a larger batch)."""
        params = params or SamplingParams()
        prompts = list(prompts)
        chunks = split_batch(prompts, len(self._actors), self.balance)
        ray = self._ray
        pending: dict[Any, int] = {}
        for k, (start, stop) in enumerate(chunks):
            pending[self._submit(k, prompts[start:stop], params, prompt_offset + start, role)] = k
        results: list[list[Generation] | None] = [None] * len(chunks)
        restarts = 0
        while pending:
            done, _ = ray.wait(list(pending), num_returns=1)
            for ref in done:
                k = pending.pop(ref)
                try:
                    results[k] = ray.get(ref)
                except ray.exceptions.RayActorError as exc:
                    restarts += 1
                    if restarts > self.max_restarts:
                        _cancel(ray, pending)
                        raise ReplicaError(f"replica {k} died and {restarts - 1} replacement(s) died too in one "
                                           f"call (max_restarts={self.max_restarts}): "
                                           f"{str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__}"
                                           ) from None
                    self._replace(k)
                    start, stop = chunks[k]
                    pending[self._submit(k, prompts[start:stop], params, prompt_offset + start, role)] = k
                except Exception as exc:
                    _cancel(ray, pending)
                    raise _cause(ray, exc) from None
        return [g for part in results for g in (part or [])]

    def update_weights(self, state_dict: Mapping[str, Any] | Iterable[tuple[str, Any]]) -> int:
        """Load transformers-named weights into every replica (one ``ray.put``); returns the number
        of tensors. Replicas started later (replacing dead ones) get the same weights."""
        items = state_dict.items() if isinstance(state_dict, Mapping) else state_dict
        state = {str(name): (t.detach().to("cpu") if hasattr(t, "detach") else t) for name, t in items}
        ray = self._ray
        self._state_ref = ray.put(state)
        refs = [actor.update_weights.remote(self._state_ref) for actor in self._actors]
        counts: list[int] = []
        for k, ref in enumerate(refs):
            try:
                counts.append(int(ray.get(ref)))
            except ray.exceptions.RayActorError:
                self._replace(k)  # the new replica loads the new weights as it starts
            except Exception as exc:
                raise _cause(ray, exc) from None
        return counts[0] if counts else len(state)

    def actors(self) -> list[Any]:
        """The replicas' Ray actor handles, in chunk order."""
        return list(self._actors)

    def close(self) -> None:
        """Kill the replicas (idempotent)."""
        for actor in getattr(self, "_actors", []):
            try:
                self._ray.kill(actor, no_restart=True)
            except Exception:  # noqa: BLE001 - already gone
                pass
        self._actors = []

    def __enter__(self) -> RayReplicaPolicy:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def __repr__(self) -> str:
        return (f"RayReplicaPolicy({self.replica_backend!r}, replicas={self.replicas}, num_gpus={self.num_gpus:g}, "
                f"num_cpus={self.num_cpus:g})")

    # -- internals ---------------------------------------------------------------------------
    def _ready(self, refs: list[Any]) -> None:
        ray = self._ray
        try:
            ray.get(refs, timeout=self.start_timeout_s)
        except ray.exceptions.GetTimeoutError:
            free = ray.available_resources()
            raise ReplicaError(
                f"{self.replicas} replica(s) of {self.replica_backend!r} did not start within {self.start_timeout_s:g}s: "
                f"each asks for num_cpus={self.num_cpus:g}, num_gpus={self.num_gpus:g}; the cluster has "
                f"CPU={free.get('CPU', 0.0):g}, GPU={free.get('GPU', 0.0):g} free (close other replicas or actors, "
                "or pass smaller num_cpus/num_gpus)") from None
        except Exception as exc:
            raise _cause(ray, exc) from None

    def _submit(self, k: int, prompts: list[Conversation], params: SamplingParams, offset: int,
                role: str | None) -> Any:
        return self._actors[k].generate.remote(prompts, params, offset, role)

    def _replace(self, k: int) -> None:
        """A fresh replica in slot ``k`` (with the last synced weights), the dead one killed for good."""
        try:
            self._ray.kill(self._actors[k], no_restart=True)
        except Exception:  # noqa: BLE001 - already gone
            pass
        actor = self._remote.remote(self._spec_ref)
        if self._state_ref is not None:
            actor.update_weights.remote(self._state_ref)  # runs before any later call (actor order)
        self._actors[k] = actor
        self.restarts += 1


def _cancel(ray: Any, refs: Iterable[Any]) -> None:
    """Cancel the other chunks of a call that failed (best effort: they may have finished or died)."""
    for ref in list(refs):
        try:
            ray.cancel(ref)
        except Exception:  # noqa: BLE001
            pass


def _cause(ray: Any, exc: BaseException) -> BaseException:
    """The backend's own exception for a failed remote call (``RayTaskError.cause``), else ``exc``."""
    cause = getattr(exc, "cause", None) if isinstance(exc, ray.exceptions.RayTaskError) else None
    return cause if isinstance(cause, BaseException) else exc
