"""Verifiers (contract: DESIGN.md section 3). Registered names: ``math``, ``code``."""

from .base import VERIFIERS, Verifier, get_verifier
from .code import verify_code
from .math import verify_math

__all__ = ["VERIFIERS", "Verifier", "get_verifier", "verify_code", "verify_math"]
