"""The registered math verifier (``"math"``): ``MathVerifier`` over the shared pipeline."""

from __future__ import annotations

from collections.abc import Sequence

from ...types import Task, Verdict
from ..base import VERIFIERS, delegated, verify_many_by_task
from .keys import answer_key
from .pipeline import verify_batch, verify_math

__all__ = ["MATH_VERIFIER", "MathVerifier"]


class MathVerifier:
    """Verifier for ``kind="math"`` tasks (registered as ``"math"``): scores ``task.answer``.

    A task that names another registered verifier in ``metadata["verifier"]`` (e.g. reasoning-gym
    tasks: ``"reasoning_gym"``) is scored by that verifier (see :func:`..base.verifier_for_task`)."""

    kind = "math"

    def __init__(self, timeout_s: float = 5.0) -> None:
        self.timeout_s = timeout_s

    def verify(self, response: str, task: Task) -> Verdict:
        try:
            other = delegated(task, self)
        except KeyError as e:  # the task names a verifier nobody registered
            return Verdict(False, 0.0, "error", None, str(e).strip('"')[:300])
        if other is not None:
            return other.verify(response, task)
        return verify_math(response, task.answer or "", timeout_s=self.timeout_s)

    def verify_many(self, responses: Sequence[str], tasks: Sequence[Task]) -> list[Verdict]:
        """Score a batch: fast paths inline, symbolic checks fanned out to the worker pool in parallel."""
        return verify_many_by_task(self, responses, tasks, self._verify_own)

    def _verify_own(self, responses: Sequence[str], tasks: Sequence[Task]) -> list[Verdict]:
        return verify_batch(responses, [t.answer or "" for t in tasks], timeout_s=self.timeout_s)

    def answer_key(self, response: str) -> str | None:
        return answer_key(response)


MATH_VERIFIER = MathVerifier()
VERIFIERS.register("math", MATH_VERIFIER)
