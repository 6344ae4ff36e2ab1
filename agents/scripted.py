"""Scripted policies: oracle, fixed, replay, random text, and any Python callable.

They implement the same ``generate(prompts, params) -> list[Generation]`` protocol as the model
backends, with no model: tests and env benchmarks use them, and :class:`FunctionAgent` is the
three-line way to plug your own agent into an env loop::

    from agents.scripted import FunctionAgent
    agent = FunctionAgent(lambda user_message: "The answer is \\\\boxed{42}")
    action = agent.act(observation)          # or agent.generate([conversation], params)[0].text

Conventions shared by every scripted policy:

- results are prompt-major (all ``params.n`` samples of prompt 0 first);
- ``params.stop`` truncates at the first stop string (``finish_reason="stop"``), ``params.max_tokens``
  counts *characters* (truncation gives ``finish_reason="length"``), except for :class:`OracleAgent`,
  which ignores the length limit: it is the ceiling a perfect team reaches, and a gold program cut
  at a model's token budget (HumanEval's longest are thousands of characters) would measure the
  limit, not the env (so the oracle scores 1.0 on every env and task source with any settings);
- ``token_ids`` is empty and ``logprobs`` is ``None`` (no tokenizer, no distribution);
- ``calls`` counts ``generate`` calls, ``prompts_seen`` counts conversations received and
  ``batch_sizes`` lists the size of every call, so tests can prove that a runner batches;
- ``generate(..., prompt_offset=k)``: prompt ``i`` of the call is prompt ``k + i`` of the whole batch
  (the ``index`` that ``respond`` gets, hence :class:`RandomAgent`'s per-request seeds); default 0.
"""

from __future__ import annotations

import inspect
import random
from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

from llm_marl_envs.policy import Conversation, Generation, SamplingParams
from llm_marl_envs.types import Message, Task

from .chat import ActMixin

__all__ = [
    "FixedAgent",
    "FunctionAgent",
    "OracleAgent",
    "RandomAgent",
    "ReplayAgent",
    "ScriptedPolicy",
    "apply_stop_and_length",
    "conversation_text",
    "gold_response",
    "user_message",
]


def user_message(conversation: Conversation | str) -> str:
    """The content of the last ``user`` message (the whole text if there is none)."""
    if isinstance(conversation, str):
        return conversation
    for message in reversed(conversation):
        if message.get("role") == "user":
            return str(message.get("content", ""))
    return conversation_text(conversation)


def conversation_text(conversation: Conversation | str) -> str:
    """All message contents joined by blank lines (a plain-text view of the conversation)."""
    if isinstance(conversation, str):
        return conversation
    return "\n\n".join(str(m.get("content", "")) for m in conversation)


def apply_stop_and_length(text: str, stop: Sequence[str], max_chars: int) -> tuple[str, str]:
    """Cut ``text`` at the first stop string, then to ``max_chars``; return (text, finish_reason)."""
    cut = len(text)
    for s in stop:
        if s:
            k = text.find(s)
            if 0 <= k < cut:
                cut = k
    reason = "stop"
    text = text[:cut]
    if len(text) > max_chars:
        text, reason = text[:max_chars], "length"
    return text, reason


class ScriptedPolicy(ActMixin):
    """Base class: subclasses implement ``respond(conversation, index, sample, params) -> str``."""

    limits_length = True
    """Whether ``params.max_tokens`` (counted in characters) truncates the text."""

    def __init__(self) -> None:
        self.calls = 0
        self.prompts_seen = 0
        self.batch_sizes: list[int] = []

    def respond(self, conversation: Conversation, index: int, sample: int, params: SamplingParams) -> str:
        raise NotImplementedError

    def generate(self, prompts: list[Conversation], params: SamplingParams | None = None, *,
                 prompt_offset: int = 0) -> list[Generation]:
        """One generation per (prompt, sample), prompt-major; see the module docstring."""
        params = params or SamplingParams()
        self.calls += 1
        self.prompts_seen += len(prompts)
        self.batch_sizes.append(len(prompts))
        raw = self._respond_batch(prompts, params, prompt_offset)
        out = []
        for text in raw:
            text = str(text)
            limit = params.max_tokens if self.limits_length else len(text)
            text, reason = apply_stop_and_length(text, params.stop, limit)
            out.append(Generation(text=text, token_ids=[], logprobs=None, finish_reason=reason))
        return out

    def _respond_batch(self, prompts: list[Conversation], params: SamplingParams, prompt_offset: int = 0) -> list[str]:
        return [self.respond(conv, prompt_offset + i, j, params)
                for i, conv in enumerate(prompts) for j in range(params.n)]


def gold_response(task: Task) -> str:
    """The gold answer written as a model would: math -> ``The answer is \\boxed{..}``, code -> a fence.

    Code tasks use ``task.metadata["reference"]`` (a complete program). When the reference does not
    define ``entry_point`` itself (HumanEval stores only the function body), the prompt is prepended.
    """
    if task.kind == "math":
        return f"The answer is \\boxed{{{task.answer}}}"
    reference = str(task.metadata.get("reference") or task.metadata.get("canonical_solution") or "")
    if task.entry_point and f"def {task.entry_point}" not in reference:
        reference = task.prompt.rstrip("\n") + "\n" + reference
    return f"```python\n{reference.rstrip()}\n```"


class OracleAgent(ScriptedPolicy):
    """Answers every prompt with the gold answer of the task it quotes.

    ``tasks`` is any sequence of :class:`Task` (a list or a task source). A task is found by an exact
    dict lookup of the user message (or of any of its paragraphs), falling back to a substring
    search of every task prompt in the user message, then in the whole conversation (longest
    prompt first, so that a prompt that is a prefix of another does not win). Unknown prompts get
    ``unknown`` (default: empty text). ``params.max_tokens`` does not truncate the gold answer
    (see the module docstring); stop strings still apply.
    """

    MAX_TASKS = 200_000
    limits_length = False

    def __init__(self, tasks: Iterable[Task], *, unknown: str = "") -> None:
        super().__init__()
        if isinstance(tasks, Sequence) and len(tasks) > self.MAX_TASKS:
            raise ValueError(
                f"OracleAgent indexes every task; {len(tasks)} is too many (pass a slice, e.g. tasks[:1000])"
            )
        self.tasks: list[Task] = list(tasks)
        self.unknown = unknown
        self._by_prompt: dict[str, Task] = {}
        for task in self.tasks:
            self._by_prompt.setdefault(task.prompt.strip(), task)
        self._longest_first = sorted(self._by_prompt.items(), key=lambda kv: -len(kv[0]))
        self._cache: dict[str, Task | None] = {}

    def find_task(self, conversation: Conversation | str) -> Task | None:
        """The task whose prompt the conversation quotes, or ``None``."""
        user = user_message(conversation)
        if user in self._cache:
            return self._cache[user]
        task = self._by_prompt.get(user.strip())
        if task is None:
            for paragraph in user.split("\n\n"):
                task = self._by_prompt.get(paragraph.strip())
                if task is not None:
                    break
        if task is None:
            task = self._search(user) or self._search(conversation_text(conversation))
        self._cache[user] = task
        return task

    def _search(self, text: str) -> Task | None:
        for prompt, task in self._longest_first:
            if prompt and prompt in text:
                return task
        return None

    def respond(self, conversation: Conversation, index: int, sample: int, params: SamplingParams) -> str:
        task = self.find_task(conversation)
        return self.unknown if task is None else gold_response(task)


class FixedAgent(ScriptedPolicy):
    """Always answers ``text``."""

    def __init__(self, text: str) -> None:
        super().__init__()
        self.text = text

    def respond(self, conversation: Conversation, index: int, sample: int, params: SamplingParams) -> str:
        return self.text


def _message_pairs(episodes: Iterable[Any]) -> list[tuple[str, str]]:
    """(context, content) pairs from recorded episodes: objects or dicts with ``messages``, or messages."""
    pairs: list[tuple[str, str]] = []
    for item in episodes:
        if isinstance(item, Message):
            pairs.append((item.context, item.content))
            continue
        if isinstance(item, Mapping) and "content" in item and "messages" not in item:
            pairs.append((str(item.get("context", "")), str(item["content"])))
            continue
        messages = item.get("messages", []) if isinstance(item, Mapping) else getattr(item, "messages", [])
        for m in messages:
            if isinstance(m, Mapping):
                m = Message.from_dict({"turn": 0, "agent": "", "role": "", **m})
            pairs.append((m.context, m.content))
    return pairs


class ReplayAgent(ScriptedPolicy):
    """Replays recorded texts.

    - ``ReplayAgent(["a", "b"])``: answers ``"a"``, then ``"b"``, in call order (cycling when
      ``cycle=True``, else ``default`` once exhausted).
    - ``ReplayAgent(by_context={context: text_or_texts})`` or ``ReplayAgent(episodes=[...])`` (episodes
      with ``messages`` carrying ``context``/``content``, or bare :class:`Message` objects): answers the
      text recorded at the same context. A conversation matches a context equal to its user message,
      its full text, or its system + user text; several texts at one context are replayed in order.
    Context lookups take precedence; unmatched prompts fall back to the ordered texts.
    """

    def __init__(
        self,
        texts: Sequence[str] | None = None,
        *,
        by_context: Mapping[str, str | Sequence[str]] | None = None,
        episodes: Iterable[Any] | None = None,
        cycle: bool = True,
        default: str = "",
    ) -> None:
        super().__init__()
        self.texts = list(texts or [])
        self.cycle = cycle
        self.default = default
        self._next = 0
        self._by_context: dict[str, list[str]] = defaultdict(list)
        for context, value in (by_context or {}).items():
            self._by_context[context.strip()].extend([value] if isinstance(value, str) else list(value))
        for context, content in _message_pairs(episodes or []):
            self._by_context[context.strip()].append(content)
        self._cursor: dict[str, int] = defaultdict(int)

    def _lookup(self, conversation: Conversation) -> str | None:
        if not self._by_context:
            return None
        keys = [user_message(conversation), conversation_text(conversation)]
        if not isinstance(conversation, str):
            keys.append("\n\n".join(str(m.get("content", "")) for m in conversation if m.get("role") != "assistant"))
        for key in keys:
            texts = self._by_context.get(key.strip())
            if texts:
                k = self._cursor[key.strip()]
                self._cursor[key.strip()] = k + 1
                return texts[k % len(texts)]
        return None

    def respond(self, conversation: Conversation, index: int, sample: int, params: SamplingParams) -> str:
        found = self._lookup(conversation)
        if found is not None:
            return found
        if not self.texts or (not self.cycle and self._next >= len(self.texts)):
            return self.default
        text = self.texts[self._next % len(self.texts)]
        self._next += 1
        return text


_PRINTABLE_RANGES = ((0x20, 0x7E), (0xA1, 0x24F), (0x370, 0x3FF), (0x400, 0x4FF), (0x2000, 0x206F),
                     (0x2200, 0x22FF), (0x3040, 0x30FF), (0x4E00, 0x4FFF), (0x1F300, 0x1F5FF))


class RandomAgent(ScriptedPolicy):
    """Random printable unicode text of length ``0..max_len`` (with spaces and newlines).

    With ``params.seed`` set, prompt ``i`` sample ``j`` uses a generator seeded from ``(seed, i, j)``
    (reproducible per request); otherwise one generator seeded with ``seed`` at construction.
    """

    def __init__(self, seed: int = 0, max_len: int = 200) -> None:
        super().__init__()
        self.seed = seed
        self.max_len = max_len
        self._rng = random.Random(seed)

    def _text(self, rng: random.Random) -> str:
        chars = []
        for _ in range(rng.randint(0, self.max_len)):
            r = rng.random()
            if r < 0.1:
                chars.append(" ")
            elif r < 0.13:
                chars.append("\n")
            else:
                lo, hi = _PRINTABLE_RANGES[0] if r < 0.6 else rng.choice(_PRINTABLE_RANGES)
                c = chr(rng.randint(lo, hi))
                chars.append(c if c.isprintable() else "?")
        return "".join(chars)

    def respond(self, conversation: Conversation, index: int, sample: int, params: SamplingParams) -> str:
        if params.seed is not None:
            return self._text(random.Random(f"{params.seed}/{index}/{sample}"))
        return self._text(self._rng)


_CONVERSATION_NAMES = {"conversation", "messages", "conv", "chat", "prompt_messages"}


def _wants_conversation(fn: Callable[..., Any]) -> bool:
    try:
        params = [p for p in inspect.signature(fn).parameters.values()
                  if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]
    except (TypeError, ValueError):
        return False
    if not params:
        return False
    first = params[0]
    annotation = first.annotation if isinstance(first.annotation, str) else getattr(first.annotation, "__name__", "")
    return first.name in _CONVERSATION_NAMES or "list" in str(annotation).lower() or "Conversation" in str(annotation)


class FunctionAgent(ScriptedPolicy):
    """Wraps any ``Callable[[str], str]`` as a policy: the three-line "plug in your own agent".

    The callable gets the last user message. It gets the whole conversation (a list of
    ``{"role", "content"}`` dicts) instead when ``conversation=True``, or, by default, when its first
    parameter is named ``conversation``/``messages`` or annotated as a list. With ``batched=True``
    it is called once per ``generate`` with the list of all inputs (``n`` copies each) and must
    return as many strings. Non-string results are converted with ``str``.
    """

    def __init__(self, fn: Callable[[Any], Any], *, conversation: bool | None = None, batched: bool = False) -> None:
        super().__init__()
        if not callable(fn):
            raise TypeError(f"FunctionAgent needs a callable, got {type(fn).__name__}")
        self.fn = fn
        self.batched = batched
        self.pass_conversation = _wants_conversation(fn) if conversation is None else conversation

    def _input(self, conversation: Conversation) -> Any:
        return conversation if self.pass_conversation else user_message(conversation)

    def respond(self, conversation: Conversation, index: int, sample: int, params: SamplingParams) -> str:
        return str(self.fn(self._input(conversation)))

    def _respond_batch(self, prompts: list[Conversation], params: SamplingParams, prompt_offset: int = 0) -> list[str]:
        if not self.batched:
            return super()._respond_batch(prompts, params, prompt_offset)
        inputs = [self._input(conv) for conv in prompts for _ in range(params.n)]
        outputs = list(self.fn(inputs))
        if len(outputs) != len(inputs):
            raise ValueError(f"batched function returned {len(outputs)} texts for {len(inputs)} inputs")
        return [str(o) for o in outputs]

