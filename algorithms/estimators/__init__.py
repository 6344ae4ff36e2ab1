"""Advantage / credit estimators, one module each, all behind :data:`ESTIMATORS`.

==========  ===============================================================================
``grpo``    (MA)GRPO: episode reward minus its task group's mean (or LOO), std-normalised.
``mappo``   MAPPO: GAE over role turns with a centralised critic V(state text).
``ccpo``    CCPO v1: counterfactual (ablated-agent) marginal contribution, EMA history
            normalisation, then GRPO within the prompt group.
``c3``      C3: leave-one-out credit among siblings sharing a byte-identical context in a
            rollout tree (node value = mean leaf reward of its subtree).
==========  ===============================================================================
"""

from . import c3, ccpo, grpo, mappo  # noqa: F401  (registration side effects)
from .base import ESTIMATORS, Credits, EstimatorSpec, critic_kind, register_estimator
from .c3 import C3Config
from .ccpo import CCPOConfig
from .grpo import GRPOConfig
from .mappo import MAPPOConfig

EXPECTED = ("c3", "ccpo", "grpo", "mappo")
_missing = [n for n in EXPECTED if n not in ESTIMATORS]
if _missing:  # pragma: no cover - import-time completeness check
    raise ImportError(f"estimators not registered: {_missing}")

__all__ = [
    "ESTIMATORS",
    "C3Config",
    "CCPOConfig",
    "Credits",
    "EstimatorSpec",
    "GRPOConfig",
    "MAPPOConfig",
    "critic_kind",
    "register_estimator",
]
