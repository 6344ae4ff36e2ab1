"""Core value types shared by every package (contract: see DESIGN.md section 2).

All are frozen dataclasses so that they can be hashed, cached and compared; ``metadata`` and
``context`` are plain data so that episodes round-trip through JSON.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any, Literal

TaskKind = Literal["math", "code"]
VerdictStatus = Literal["ok", "no_answer", "timeout", "error"]
VERDICT_STATUSES: tuple[str, ...] = ("ok", "no_answer", "timeout", "error")


@dataclass(frozen=True)
class Task:
    """One problem.

    Math tasks carry a gold ``answer`` string; code tasks carry ``tests`` (a list of assert lines or
    one test program as a string) and optionally an ``entry_point`` (the function under test).
    """

    id: str
    kind: TaskKind
    prompt: str
    answer: str | None = None
    tests: tuple[str, ...] | str | None = None
    entry_point: str | None = None
    metadata: dict[str, Any] = field(default_factory=dict, hash=False, compare=False)

    def __post_init__(self) -> None:
        if self.kind not in ("math", "code"):
            raise ValueError(f"Task.kind must be 'math' or 'code', got {self.kind!r}")
        if self.kind == "math" and self.answer is None:
            raise ValueError(f"math task {self.id!r} needs a gold answer")
        if self.kind == "code" and not self.tests:
            raise ValueError(f"code task {self.id!r} needs tests")
        if isinstance(self.tests, list):
            object.__setattr__(self, "tests", tuple(self.tests))

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        if isinstance(self.tests, tuple):
            d["tests"] = list(self.tests)
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Task:
        tests = d.get("tests")
        return cls(
            id=str(d["id"]),
            kind=d["kind"],
            prompt=d["prompt"],
            answer=d.get("answer"),
            tests=tuple(tests) if isinstance(tests, list) else tests,
            entry_point=d.get("entry_point"),
            metadata=dict(d.get("metadata") or {}),
        )


@dataclass(frozen=True)
class Message:
    """One message written by one agent.

    ``agent`` is the agent name (``"thinker_0"``), ``role`` its role (``"thinker"``), ``turn`` the
    global decision index within the episode, and ``context`` the exact text the agent saw when it
    wrote ``content`` (the frozen, transcript-derived context that C3 replays from).
    """

    agent: str
    role: str
    content: str
    turn: int
    context: str = ""

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Message:
        return cls(agent=d["agent"], role=d["role"], content=d["content"], turn=int(d["turn"]), context=d.get("context", ""))


@dataclass(frozen=True)
class Verdict:
    """A verifier's judgement of one response; verifiers never raise, they return one of these.

    ``score`` is in [0, 1] (code: fraction of tests passed); ``status`` is one of ``"ok"``,
    ``"no_answer"``, ``"timeout"``, ``"error"``; ``extracted`` is the answer the verifier read.
    """

    correct: bool
    score: float
    status: VerdictStatus
    extracted: str | None = None
    detail: str = ""

    def __post_init__(self) -> None:
        if self.status not in VERDICT_STATUSES:
            raise ValueError(f"Verdict.status must be one of {VERDICT_STATUSES}, got {self.status!r}")
        if not 0.0 <= self.score <= 1.0:
            raise ValueError(f"Verdict.score must be in [0, 1], got {self.score}")

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Verdict:
        return cls(**d)
