"""Verifiers (contract: DESIGN.md section 3). Registered names: ``math``, ``code``, ``reasoning_gym``."""

from .base import VERIFIERS, Verifier, get_verifier, verifier_for_task
from .code import verify_code
from .math import MATH_VERIFIER, MathVerifier, answer_key, verify_batch, verify_math
from .reasoning_gym import REASONING_GYM_VERIFIER, ReasoningGymVerifier

__all__ = [
    "MATH_VERIFIER", "REASONING_GYM_VERIFIER", "VERIFIERS", "MathVerifier", "ReasoningGymVerifier", "Verifier",
    "answer_key", "get_verifier", "verifier_for_task", "verify_batch", "verify_code", "verify_math",
]
