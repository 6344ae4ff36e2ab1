"""The verifier interface and registry.

A verifier scores a response to a task: ``verify(response, task) -> Verdict``. It is total: any
string (a model's output is untrusted) gives a ``Verdict``, never an exception or a hang.
``verify_many`` scores a batch at once (worker pools run the batch in parallel); the default
implementation loops.
"""

from __future__ import annotations

from collections.abc import Sequence
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
