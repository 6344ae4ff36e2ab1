"""Text-generation backends behind one protocol (DESIGN.md section 5).

Note: ``agents`` is also the import name of another PyPI distribution (the OpenAI Agents SDK);
this package is the one from ``llm-marl-envs`` (a test checks that it resolves to this checkout).
"""

from llm_marl_envs.policy import ChatMessage, Conversation, Generation, Policy, SamplingParams

__all__ = ["ChatMessage", "Conversation", "Generation", "Policy", "SamplingParams"]
