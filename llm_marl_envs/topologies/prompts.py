"""Every role prompt template of every topology, in one place.

An agent's context is a two-message chat, ``[system, user]``:

- ``system`` = the role's instruction (``PromptTemplates.system[role]``, where ``{answer_format}``
  is replaced by the task kind's answer instruction);
- ``user`` = the task block (``task``) followed, when the agent sees upstream messages, by
  ``messages_header`` and one ``message`` block per visible message (``{label}`` and ``{content}``).

``render_prompt(system, user)`` = ``system + "\n\n" + user`` is the single deterministic text
rendering of that chat (this exact string is ``Message.context`` and the observation's
``"prompt"``): two contexts are byte-identical exactly when their chats are identical (``system``
never contains a blank line; checked).

Styles (``prompt_style=`` of every env):

- ``"default"``: full instructions for real instruct models (answer in ``\\boxed{}`` / one Python
  code block);
- ``"compact"``: minimal text for tiny models: system = the role name, user = the task prompt
  plus ``"\\n<label>: <message>"`` per visible message. A dyad context at arith difficulty 1 stays
  well under 200 characters.

A custom style is a ``PromptTemplates`` or a dict of fields overriding the ``"default"`` style
(``{"system": {"reasoner": "..."}}`` replaces just the reasoner's instruction; a ``"base"`` key
picks another base style).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, fields, replace
from types import MappingProxyType
from typing import Any

from ..registry import Registry

#: Separates the system part from the user part in a rendered prompt (never inside a system part).
PROMPT_SEPARATOR = "\n\n"


def _frozen(d: Mapping[str, str]) -> Mapping[str, str]:
    return MappingProxyType(dict(d))


@dataclass(frozen=True)
class PromptTemplates:
    """The text templates of one prompt style.

    Attributes:
        system: role (or ``"<topology>.<role>"``) -> system instruction; may contain
            ``{answer_format}`` and ``{role}``.
        answer_format: task kind (``"math"``/``"code"``) -> the answer instruction.
        task: the task block; ``{prompt}`` is the task's prompt.
        messages_header: put before the visible messages (only when there is at least one).
        message: one visible message; ``{label}`` names its author, ``{content}`` is its text.
        self_suffix: appended to ``{label}`` when the author is the viewing agent itself.
        fallback_system: the instruction for a role missing from ``system``.
    """

    system: Mapping[str, str]
    answer_format: Mapping[str, str]
    task: str = "{prompt}"
    messages_header: str = ""
    message: str = "\n{label}: {content}"
    self_suffix: str = " (you)"
    fallback_system: str = "{role}"

    def __post_init__(self) -> None:
        object.__setattr__(self, "system", _frozen(self.system))
        object.__setattr__(self, "answer_format", _frozen(self.answer_format))

    def system_text(self, role: str, kind: str, topology: str = "") -> str:
        """The system instruction of ``role`` for a task of ``kind``.

        A key ``"<topology>.<role>"`` (e.g. ``"pipeline.solver"``) takes precedence over ``"<role>"``.
        """
        template = self.system.get(f"{topology}.{role}", self.system.get(role, self.fallback_system))
        text = template.replace("{answer_format}", self.answer_format.get(kind, "")).replace("{role}", role)
        text = text.strip()
        if PROMPT_SEPARATOR in text:
            raise ValueError(f"a system prompt must not contain a blank line {PROMPT_SEPARATOR!r} (role {role!r})")
        return text

    def user_text(self, task_prompt: str, messages: Sequence[tuple[str, str]]) -> str:
        """The user part: the task block then the visible ``(label, content)`` messages."""
        parts = [self.task.replace("{prompt}", task_prompt)]
        if messages:
            parts.append(self.messages_header)
            for label, content in messages:
                # Replace {content} last so that braces in model text are never interpreted.
                parts.append(self.message.replace("{label}", label).replace("{content}", content))
        return "".join(parts)


def render_prompt(system: str, user: str) -> str:
    """The canonical text of the chat ``[system, user]``: ``system + "\\n\\n" + user``.

    Injective because a system part never contains a blank line nor ends with a newline (checked
    in ``PromptTemplates.system_text``); it is also what ``"\\n\\n".join`` of the chat's contents
    gives, the key scripted replay agents look contexts up by.
    """
    return f"{system}{PROMPT_SEPARATOR}{user}"


def split_prompt(prompt: str) -> tuple[str, str]:
    """Inverse of ``render_prompt``: ``(system, user)`` (``("", prompt)`` for a foreign string)."""
    if PROMPT_SEPARATOR in prompt:
        system, user = prompt.split(PROMPT_SEPARATOR, 1)
        return system, user
    return "", prompt


def to_conversation(system: str, user: str) -> list[dict[str, str]]:
    """The chat a policy receives for a decision."""
    return [{"role": "system", "content": system}, {"role": "user", "content": user}]


_MATH_ANSWER = "Put the final answer in \\boxed{}."
_CODE_ANSWER = (
    "Write the complete Python solution (the requested function, with any imports it needs) in one "
    "```python code block; do not read input or print."
)

DEFAULT = PromptTemplates(
    system={
        # dyad (Think-Reason)
        "thinker": (
            "You are the Thinker in a two-agent team. Read the problem and write a short, high-level plan "
            "for the Reasoner: the key idea and the steps to take. Do not carry out the full solution and "
            "do not state the final answer."
        ),
        "reasoner": (
            "You are the Reasoner in a two-agent team. Solve the problem step by step, following the "
            "Thinker's plan when it helps. {answer_format}"
        ),
        # voting
        "solver": (
            "You are one of several solvers who answer independently; the team answer is the majority "
            "vote. Solve the problem step by step. {answer_format}"
        ),
        # pipeline (planner -> coder/solver -> checker)
        "planner": (
            "You are the Planner, the first agent of a pipeline. Write a concise plan for the next agent: "
            "the approach, the edge cases, the steps. Do not write the final answer."
        ),
        "pipeline.solver": (
            "You are the Solver in a pipeline. Carry out the plan you are given and solve the problem. "
            "{answer_format}"
        ),
        "checker": (
            "You are the Checker, the last agent of a pipeline. Check the previous solution carefully. If "
            "it is correct, restate its final answer; if it is wrong, write a corrected solution. "
            "{answer_format}"
        ),
        # debate
        "debater": (
            "You are one of several debaters. Solve the problem. From the second round on you also see "
            "every debater's answer from the previous round: weigh them, fix mistakes, and give your best "
            "answer. {answer_format}"
        ),
    },
    answer_format={"math": _MATH_ANSWER, "code": _CODE_ANSWER},
    task="Problem:\n{prompt}",
    messages_header="\n\nMessages from your team:",
    message="\n\n[{label}]\n{content}",
    fallback_system="You are the {role} of a team solving the problem below. {answer_format}",
)

COMPACT = PromptTemplates(
    system={},
    answer_format={},
    task="{prompt}",
    messages_header="",
    message="\n{label}: {content}",
    self_suffix="*",
    fallback_system="{role}",
)

#: Prompt styles by name (``prompt_style=`` of every env).
PROMPT_STYLES: Registry[PromptTemplates] = Registry("prompt style")
PROMPT_STYLES.register("default", DEFAULT)
PROMPT_STYLES.register("compact", COMPACT)

_FIELDS = {f.name for f in fields(PromptTemplates)}


def resolve_templates(style: str | PromptTemplates | Mapping[str, Any] | None) -> PromptTemplates:
    """Turn ``prompt_style=`` into templates.

    ``style`` is a registered style name, a ``PromptTemplates``, or a dict of overrides applied on top
    of the ``"default"`` style (``"base"`` picks another base; ``system``/``answer_format`` dicts are
    merged key by key). Unknown keys raise ``ValueError``.
    """
    if style is None:
        return DEFAULT
    if isinstance(style, PromptTemplates):
        return style
    if isinstance(style, str):
        return PROMPT_STYLES.get(style)
    if isinstance(style, Mapping):
        overrides = dict(style)
        base = resolve_templates(overrides.pop("base", "default"))
        unknown = set(overrides) - _FIELDS
        if unknown:
            raise ValueError(f"unknown prompt template fields {sorted(unknown)}; valid: {sorted(_FIELDS)}")
        for name in ("system", "answer_format"):
            if name in overrides:
                overrides[name] = {**getattr(base, name), **overrides[name]}
        return replace(base, **overrides)
    raise TypeError(f"prompt_style must be a name, a PromptTemplates or a dict, got {type(style).__name__}")


__all__ = [
    "COMPACT",
    "DEFAULT",
    "PROMPT_SEPARATOR",
    "PROMPT_STYLES",
    "PromptTemplates",
    "render_prompt",
    "resolve_templates",
    "split_prompt",
    "to_conversation",
]
