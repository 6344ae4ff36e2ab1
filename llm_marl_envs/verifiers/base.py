"""The verifier interface and registry.

A verifier scores a response to a task: ``verify(response, task) -> Verdict``. It is total: any
string (a model's output is untrusted) gives a ``Verdict``, never an exception or a hang.
``verify_many`` scores a batch at once (worker pools run the batch in parallel); the default
implementation loops.

A task is scored by the verifier registered under its kind, unless it names another one in
``metadata["verifier"]`` (reasoning-gym tasks name ``"reasoning_gym"``): :func:`verifier_for_task`.
Built-in verifiers hand such tasks on (:func:`delegated`, :func:`verify_many_by_task`), so a caller
that resolves verifiers by kind alone still scores them right.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Protocol, runtime_checkable

from ..registry import Registry
from ..types import Task, Verdict


@runtime_checkable
class Verifier(Protocol):
    """Scores responses for one task kind (``"math"`` or ``"code"``)."""

    kind: str

    def verify(self, response: str, task: Task) -> Verdict: ...

    def verify_many(self, responses: Sequence[str], tasks: Sequence[Task]) -> list[Verdict]: ...

    def answer_key(self, response: str) -> str | None:
        """A canonical key of the answer in ``response`` (``None`` when there is none): two responses
        with equal keys give the same answer. Topologies vote on these keys."""
        ...


VERIFIERS: Registry[Verifier] = Registry("verifier")


def get_verifier(name: str) -> Verifier:
    """The registered verifier ``name`` (``"math"`` or ``"code"`` built in)."""
    return VERIFIERS.get(name)


def verifier_for_task(task: Task) -> Verifier:
    """The verifier for ``task``: the one named by ``task.metadata["verifier"]``, else by ``task.kind``."""
    name = task.metadata.get("verifier") if isinstance(task.metadata, dict) else None
    return VERIFIERS.get(name if isinstance(name, str) and name else task.kind)


def delegated(task: Task, me: Verifier) -> Verifier | None:
    """The verifier ``task`` names in ``metadata["verifier"]`` when it is not ``me``, else ``None``
    (``KeyError`` when the name is not registered)."""
    name = task.metadata.get("verifier") if isinstance(task.metadata, dict) else None
    if not isinstance(name, str) or not name:
        return None
    other = VERIFIERS.get(name)
    return None if other is me else other


def verify_many_by_task(
    me: Verifier, responses: Sequence[str], tasks: Sequence[Task],
    own: Callable[[Sequence[str], Sequence[Task]], list[Verdict]],
) -> list[Verdict]:
    """``verify_many`` for ``me``: tasks that name another verifier go to it (batched per verifier),
    the rest to ``own``; verdicts come back in input order."""
    if len(responses) != len(tasks):
        raise ValueError(f"{len(responses)} responses for {len(tasks)} tasks")
    groups: dict[int, tuple[Verifier | None, list[int]]] = {}
    out: list[Verdict | None] = [None] * len(tasks)
    for i, task in enumerate(tasks):
        try:
            other = delegated(task, me)
        except KeyError as e:  # the task names a verifier nobody registered
            out[i] = Verdict(False, 0.0, "error", None, str(e).strip('"')[:300])
            continue
        groups.setdefault(id(other), (other, []))[1].append(i)
    for other, idx in groups.values():
        rs, ts = [responses[i] for i in idx], [tasks[i] for i in idx]
        verdicts = own(rs, ts) if other is None else other.verify_many(rs, ts)
        for i, v in zip(idx, verdicts, strict=True):
            out[i] = v
    return [v if v is not None else Verdict(False, 0.0, "error", None, "not scored") for v in out]
