"""Old path of :mod:`llm_marl_envs.verifiers.math.parse` (kept for compatibility; the same module object)."""

import importlib
import sys

sys.modules[__name__] = importlib.import_module("llm_marl_envs.verifiers.math.parse")
