"""Core value types shared by every package (contract: see DESIGN.md section 2).

All are frozen dataclasses so that they can be hashed, cached and compared; ``metadata`` and
``context`` are plain data so that episodes round-trip through JSON.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields
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
        """Build a task from a dict (one line of a task JSONL file; the format is in the README).

        Required: ``id`` (str or int), ``kind`` (``"math"`` or ``"code"``), ``prompt`` (str); math
        tasks need ``answer`` (str, or a number), code tasks ``tests`` (a list of assert lines or one
        test program). Optional: ``entry_point`` (str), ``metadata`` (an object). Any problem raises
        ``ValueError`` naming the field; unknown fields are an error (a typo never drops a field).
        """
        if not isinstance(d, dict):
            raise ValueError(f"a task must be a JSON object with fields {', '.join(TASK_FIELDS)}, got {type(d).__name__}")
        unknown = [k for k in d if k not in TASK_FIELDS]
        if unknown:
            raise ValueError(
                f"unknown task field(s) {', '.join(map(repr, unknown))}; fields: {', '.join(TASK_FIELDS)} "
                "(put anything else under 'metadata')"
            )
        missing = [k for k in ("id", "kind", "prompt") if k not in d or d[k] is None]
        if missing:
            raise ValueError(f"task is missing required field(s) {', '.join(map(repr, missing))} (required: id, kind, prompt)")
        ident = d["id"]
        if not isinstance(ident, (str, int)) or isinstance(ident, bool):
            raise ValueError(f"task field 'id' must be a string or an integer, got {type(ident).__name__}")
        if d["kind"] not in ("math", "code"):
            raise ValueError(f"task {ident!r}: field 'kind' must be 'math' or 'code', got {d['kind']!r}")
        if not isinstance(d["prompt"], str):
            raise ValueError(f"task {ident!r}: field 'prompt' must be a string, got {type(d['prompt']).__name__}")
        answer = d.get("answer")
        if isinstance(answer, (int, float)) and not isinstance(answer, bool):
            answer = str(answer)
        if answer is not None and not isinstance(answer, str):
            raise ValueError(f"task {ident!r}: field 'answer' must be a string, got {type(answer).__name__}")
        if d["kind"] == "math" and answer is None:
            raise ValueError(f"task {ident!r}: a math task needs field 'answer' (the gold answer)")
        tests = d.get("tests")
        if d["kind"] == "code" and not tests:
            raise ValueError(f"task {ident!r}: a code task needs field 'tests' (a list of assert lines or a test program)")
        if tests is not None and not (isinstance(tests, str) or (isinstance(tests, (list, tuple)) and all(isinstance(t, str) for t in tests))):
            raise ValueError(f"task {ident!r}: field 'tests' must be a list of strings or one string")
        entry_point = d.get("entry_point")
        if entry_point is not None and not isinstance(entry_point, str):
            raise ValueError(f"task {ident!r}: field 'entry_point' must be a string, got {type(entry_point).__name__}")
        metadata = d.get("metadata") or {}
        if not isinstance(metadata, dict):
            raise ValueError(f"task {ident!r}: field 'metadata' must be an object, got {type(metadata).__name__}")
        return cls(
            id=str(ident),
            kind=d["kind"],
            prompt=d["prompt"],
            answer=answer,
            tests=tuple(tests) if isinstance(tests, (list, tuple)) else tests,
            entry_point=entry_point,
            metadata=dict(metadata),
        )


TASK_FIELDS: tuple[str, ...] = tuple(f.name for f in fields(Task))  # what a task dict may hold


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
