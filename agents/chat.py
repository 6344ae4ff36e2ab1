"""Role-aware chat formatting: env observations -> conversations -> the model's prompt text.

An env observation is a dict with text fields ``system``, ``user``, ``prompt`` and ``role``
(DESIGN.md section 4). :func:`to_conversation` turns it (or a plain string, or an existing
conversation) into ``[{"role": "system", ...}, {"role": "user", ...}]``. :func:`normalize_roles`
maps team roles that chat templates do not know (``"thinker"``, ``"reasoner"``...) onto the
``system``/``user``/``assistant`` roles every template accepts, and merges consecutive messages of
one role (some templates require alternation). :func:`render_chat` applies the tokenizer's chat
template, falling back to ChatML when the tokenizer has none. No heavy imports here.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from llm_marl_envs.policy import Conversation, SamplingParams

__all__ = ["CHATML_TEMPLATE", "STANDARD_ROLES", "ActMixin", "normalize_roles", "render_chat", "to_conversation"]

STANDARD_ROLES = ("system", "user", "assistant")

CHATML_TEMPLATE = (
    "{% for message in messages %}"
    "{{ '<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>' + '\\n' }}"
    "{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}"
)


def to_conversation(observation: Mapping[str, Any] | Sequence[Mapping[str, str]] | str) -> Conversation:
    """A chat conversation from an env observation dict, a conversation, or a plain user string.

    Observation dicts use ``system`` (optional) and ``user`` (falling back to ``prompt``).
    """
    if isinstance(observation, str):
        return [{"role": "user", "content": observation}]
    if isinstance(observation, Mapping):
        if "role" in observation and "content" in observation and "user" not in observation:
            return [{"role": str(observation["role"]), "content": str(observation["content"])}]
        conv: Conversation = []
        system = observation.get("system")
        if system:
            conv.append({"role": "system", "content": str(system)})
        user = observation.get("user") or observation.get("prompt") or ""
        conv.append({"role": "user", "content": str(user)})
        return conv
    return [{"role": str(m.get("role", "user")), "content": str(m.get("content", ""))} for m in observation]


def normalize_roles(conversation: Conversation, *, self_role: str | None = None, merge: bool = True) -> Conversation:
    """Map non-standard roles onto ``user``/``assistant`` and merge consecutive same-role messages.

    A message whose role is ``self_role`` (the speaking agent's team role) becomes ``assistant``;
    any other non-standard role becomes ``user`` with its content prefixed by ``"[role]: "``, so the
    model still sees who said what. A system message after the first position becomes ``user``.
    """
    out: Conversation = []
    for i, message in enumerate(conversation):
        role = str(message.get("role", "user"))
        content = str(message.get("content", ""))
        if self_role is not None and role == self_role:
            role = "assistant"
        elif role not in STANDARD_ROLES:
            content = f"[{role}]: {content}"
            role = "user"
        elif role == "system" and i > 0:
            role = "user"
        if merge and out and out[-1]["role"] == role:
            out[-1] = {"role": role, "content": out[-1]["content"] + "\n\n" + content}
        else:
            out.append({"role": role, "content": content})
    return out


def render_chat(tokenizer: Any, conversation: Conversation, *, add_generation_prompt: bool = True) -> str:
    """The prompt text for ``conversation`` under the tokenizer's chat template (ChatML if it has none)."""
    conversation = normalize_roles(conversation)
    template = getattr(tokenizer, "chat_template", None) or CHATML_TEMPLATE
    return tokenizer.apply_chat_template(
        conversation, chat_template=template, tokenize=False, add_generation_prompt=add_generation_prompt
    )


class ActMixin:
    """Adds ``act(observation, params) -> str`` to a policy: one env observation in, one action out."""

    def act(self, observation: Mapping[str, Any] | Conversation | str, params: SamplingParams | None = None) -> str:
        """The text of one generation for an env observation dict, a conversation, or a user string."""
        return self.generate([to_conversation(observation)], params or SamplingParams())[0].text  # type: ignore[attr-defined]
