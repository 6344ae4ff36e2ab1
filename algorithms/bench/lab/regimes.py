"""The lab's regimes (credit-lab.md §4): knobs, the hypothesis, and the sign each learner is expected to have
against MAGRPO (``grpo``) on the judged metric (``"final"`` J or ``"auc"``).

An expected sign of +1 / −1 / 0 (a tie) turns the paired difference into a verdict (see
:func:`algorithms.bench.lab.stats.verdict`); learners without an entry get ``"differs"`` or
``"no practical difference"``.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from .sim import Knobs


@dataclass(frozen=True)
class Regime:
    """A named knob setting with its hypothesis."""

    name: str
    knobs: Knobs
    hypothesis: str
    expected: dict[str, int] = field(default_factory=dict)
    judged_on: str = "final"


THINKER = ("theta", "s_T")
SKILLS = ("s_T", "s_R")

REGIMES: dict[str, Regime] = {r.name: r for r in (
    Regime("tabular", Knobs(p_think=0.5, follow=1.5, frozen=SKILLS),
           "only θ, φ, ψ learn, so the upstream role must learn: C3's tree (2 thinker samples per task instead of 8) "
           "loses to MAGRPO", {"c3": -1}),
    Regime("shared", Knobs(frozen=("theta", "phi", "psi")),
           "only the shared skills s_T, s_R learn (gradients aligned across contexts): the gaps shrink to a tie",
           {"c3": 0, "mappo": 0, "ccpo": 0}),
    Regime("explore", Knobs(p_think=0.1),
           "rare good hints (p_think 0.1): the tree, with 2 thinker samples per task, loses most early (AUC)",
           {"c3": -1}, judged_on="auc"),
    Regime("noisy", Knobs(eps=0.2),
           "evaluator noise ε = 0.2 hurts all learners, CCPO most (its Δ adds the solo run's noise)",
           {"ccpo": -1}, judged_on="auc"),
    Regime("hetero", Knobs(follow=(0.0, 1.0, 2.0, 3.0)),
           "the reasoner's follow skill differs by c: per-task baselines matter, so batch-level baselines "
           "(RAE, Dr. MAS) lose to MAGRPO's per-task group (AUC)", {"rae": -1, "drmas": -1}, judged_on="auc"),
    Regime("frozen_thinker", Knobs(p_think=0.5, p_null=0.0, follow=4.0, frozen=THINKER),
           "thinker frozen 50% wrong, strong reasoner: C3 gives exactly zero credit in contexts the reasoner cannot "
           "fix, MAGRPO's constant-negative credits there random-walk under Adam: C3 beats MAGRPO", {"c3": 1}),
    Regime("frozen_noisy", Knobs(p_think=0.5, p_null=0.0, follow=4.0, eps=0.2, frozen=THINKER),
           "frozen thinker plus evaluator noise ε = 0.2: the noise masks C3's advantage, a tie", {"c3": 0}),
    Regime("free_riding", Knobs(solo_frac=0.5, p_null=0.5),
           "half the tasks are solo-solvable and the thinker starts lazy (P(∅) = 0.5): CCPO's counterfactual "
           "credit de-lazies the thinker faster than MAGRPO (the CCPO paper's claim)",
           {"ccpo": 1, "ccpo_crn": 1}, judged_on="auc"),
)}
"""Every regime by name, in the report's order."""

QUICK_REGIMES = ("tabular", "frozen_thinker", "free_riding")
