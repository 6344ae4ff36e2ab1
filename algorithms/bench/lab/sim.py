"""HintDyad's exact simulator (credit-lab.md §1–2): knobs, initial parameters, policy tables, exact quantities.

Everything is vectorised over a leading seed axis ``S``. The task facts (triples, answers, split, solo set)
come from :mod:`llm_marl_envs.tasks.hint`, the one definition shared with the ``llm-marl/HintDyad-v0`` env.

Policies (parameters of one seed; the seed axis is prepended everywhere):

- thinker: ``logit_T[x, m] = θ[a·10+b, m] + s_T·1[m = u(x)]``, m ∈ 0..10 (10 = ∅);
- reasoner: ``logit_R[x, m, a] = φ[m, c, a] + ψ[x, a] + s_R[c]·1[a = g(m, c), m ≠ ∅]``.

Exact quantities: ``Q(x, m) = ε + (1 − 2ε) π_R(y | x, m)`` (= Σ_a π_R r̄), ``V(x) = Σ_m π_T Q``,
``A*_T = Q − V``, ``A*_R = r̄ − Q``, J = mean of V over held-out tasks.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field

import numpy as np

from llm_marl_envs.tasks.hint import (
    HINT_VOCAB,
    NULL_HINT,
    answer,
    hint_answer,
    hint_split,
    n_tasks,
    task_triples,
)

N_HINTS = HINT_VOCAB + 1  # 0..9 and ∅
N_ANSWERS = 10
N_CONTEXTS = 100  # thinker contexts a*10+b
GROUPS = ("theta", "phi", "psi", "s_T", "s_R")
LOG0 = -1e4  # the log of a zero initial probability: exp(LOG0) is exactly 0.0 in float64


@dataclass(frozen=True)
class Knobs:
    """The lab's knobs, names and defaults as in credit-lab.md §1 (also ``knobs`` in results.json)."""

    C: int = 4
    p_think: float = 0.3
    p_null: float = 0.2
    follow: float | tuple[float, ...] = 2.0
    solo_frac: float = 0.0
    solo_logit: float = 3.0
    eps: float = 0.0
    held_frac: float = 0.25
    split_seed: int = 0
    frozen: tuple[str, ...] = field(default_factory=tuple)

    def __post_init__(self) -> None:
        if self.C < 1:
            raise ValueError(f"knobs: C must be >= 1, got {self.C}")
        for name in ("p_think", "p_null"):
            v = getattr(self, name)
            if not 0.0 <= v <= 1.0:
                raise ValueError(f"knobs: {name} must be in [0, 1], got {v}")
        if self.p_think + self.p_null > 1.0 + 1e-12:
            raise ValueError(f"knobs: p_think + p_null must be <= 1, got {self.p_think} + {self.p_null}")
        if not 0.0 <= self.eps <= 0.5:
            raise ValueError(f"knobs: eps must be in [0, 0.5], got {self.eps}")
        if isinstance(self.follow, (list, tuple)) and len(self.follow) != self.C:
            raise ValueError(f"knobs: follow has {len(self.follow)} entries, need C = {self.C}")
        bad = sorted(set(self.frozen) - set(GROUPS))
        if bad:
            raise ValueError(f"knobs: unknown frozen group(s) {bad}; valid: {list(GROUPS)}")
        if isinstance(self.follow, list):
            object.__setattr__(self, "follow", tuple(self.follow))
        object.__setattr__(self, "frozen", tuple(self.frozen))

    def follow_per_c(self) -> np.ndarray:
        """``follow`` as a ``[C]`` array."""
        if isinstance(self.follow, (list, tuple)):
            return np.asarray(self.follow, dtype=np.float64)
        return np.full(self.C, float(self.follow))

    def to_json(self) -> dict:
        """The knobs as plain JSON values (``frozen`` and a per-c ``follow`` as lists)."""
        d = asdict(self)
        d["frozen"] = list(self.frozen)
        if isinstance(self.follow, tuple):
            d["follow"] = list(self.follow)
        return d

    @property
    def thinker_learns(self) -> bool:
        """True when θ or s_T is trained."""
        return not {"theta", "s_T"} <= set(self.frozen)


@dataclass(frozen=True)
class World:
    """Fixed task facts for one knob setting (no seed axis).

    Attributes:
        knobs: the knobs.
        ab, c, u, y: ``[100C]`` int task features (context a*10+b, c, correct hint, answer).
        train, held: sorted task indices of the split.
        solo: ``[100C]`` bool solo set.
        G: ``[C, 11, 10]`` one-hot of g(m, c) for m ≠ ∅ (zeros for ∅).
        rbar: ``[100C, 10]`` expected reward of each answer (1 − ε on y, ε elsewhere).
        psi_row: ``[100C]`` row of task x in the ψ table (training tasks first, so the never-trained held-out rows
            form one block that Adam can skip exactly: they never receive a gradient).
    """

    knobs: Knobs
    ab: np.ndarray
    c: np.ndarray
    u: np.ndarray
    y: np.ndarray
    train: np.ndarray
    held: np.ndarray
    solo: np.ndarray
    G: np.ndarray
    rbar: np.ndarray
    psi_row: np.ndarray

    @property
    def n_tasks(self) -> int:
        return len(self.c)


def make_world(knobs: Knobs) -> World:
    """Task facts and split for ``knobs`` (read from :mod:`llm_marl_envs.tasks.hint`)."""
    C = knobs.C
    tri = task_triples(C)
    a, b, c = tri[:, 0], tri[:, 1], tri[:, 2]
    split = hint_split(C, held_frac=knobs.held_frac, split_seed=knobs.split_seed, solo_frac=knobs.solo_frac)
    G = np.zeros((C, N_HINTS, N_ANSWERS))
    for cc in range(C):
        G[cc, np.arange(HINT_VOCAB), hint_answer(np.arange(HINT_VOCAB), cc)] = 1.0
    y = answer(a, b, c)
    rbar = np.full((n_tasks(C), N_ANSWERS), knobs.eps)
    rbar[np.arange(n_tasks(C)), y] = 1.0 - knobs.eps
    psi_row = np.empty(n_tasks(C), dtype=np.int64)
    psi_row[split.train] = np.arange(len(split.train))
    psi_row[split.held_out] = len(split.train) + np.arange(len(split.held_out))
    return World(knobs=knobs, ab=a * 10 + b, c=c, u=(a + b) % 10, y=y, train=split.train, held=split.held_out,
                 solo=split.solo, G=G, rbar=rbar, psi_row=psi_row)


# --------------------------------------------------------------------------------------------- parameters
@dataclass(frozen=True)
class Layout:
    """Offsets of the parameter groups in one flat vector ``[D]`` per seed."""

    C: int
    n_tasks: int

    @property
    def sizes(self) -> dict[str, int]:
        return {"theta": N_CONTEXTS * N_HINTS, "s_T": 1, "phi": N_HINTS * self.C * N_ANSWERS,
                "psi": self.n_tasks * N_ANSWERS, "s_R": self.C}

    @property
    def slices(self) -> dict[str, slice]:
        out, start = {}, 0
        for name in ("theta", "s_T", "phi", "psi", "s_R"):
            out[name] = slice(start, start + self.sizes[name])
            start += self.sizes[name]
        return out

    @property
    def D(self) -> int:
        return sum(self.sizes.values())

    def shapes(self) -> dict[str, tuple[int, ...]]:
        return {"theta": (N_CONTEXTS, N_HINTS), "s_T": (), "phi": (N_HINTS, self.C, N_ANSWERS),
                "psi": (self.n_tasks, N_ANSWERS), "s_R": (self.C,)}

    def view(self, P: np.ndarray, name: str) -> np.ndarray:
        """Group ``name`` of the flat parameters ``P [S, D]`` as ``[S, *shape]`` (a view, not a copy)."""
        return P[:, self.slices[name]].reshape((P.shape[0],) + self.shapes()[name])

    def role_mask(self, role: str, frozen: tuple[str, ...] = ()) -> np.ndarray:
        """``[D]`` bool: the learnable coordinates of ``role`` (``"thinker"``: θ, s_T; ``"reasoner"``: φ, ψ, s_R)."""
        groups = ("theta", "s_T") if role == "thinker" else ("phi", "psi", "s_R")
        mask = np.zeros(self.D, dtype=bool)
        for g in groups:
            if g not in frozen:
                mask[self.slices[g]] = True
        return mask

    def learnable(self, frozen: tuple[str, ...], n_train: int | None = None) -> np.ndarray:
        """``[D]`` bool of every learnable coordinate; with ``n_train``, the ψ rows of held-out tasks (rows
        ``n_train`` and above, see ``World.psi_row``), which never receive a gradient, are left out."""
        mask = self.role_mask("thinker", frozen) | self.role_mask("reasoner", frozen)
        if n_train is not None:
            sl = self.slices["psi"]
            mask[sl.start + n_train * N_ANSWERS: sl.stop] = False
        return mask


def init_params(world: World, S: int) -> np.ndarray:
    """The reference's exact initialisation, identical for every seed: ``[S, D]``."""
    k = world.knobs
    lay = Layout(k.C, world.n_tasks)
    P = np.zeros((1, lay.D))
    wrong = (1.0 - k.p_think - k.p_null) / 9.0
    theta = lay.view(P, "theta")
    theta[...] = _log(wrong)
    ctx = np.arange(N_CONTEXTS)
    theta[0, ctx, (ctx // 10 + ctx % 10) % 10] = _log(k.p_think)
    theta[0, :, NULL_HINT] = _log(k.p_null)
    phi = lay.view(P, "phi")
    phi[0] = np.einsum("cma,c->mca", world.G, k.follow_per_c())
    psi = lay.view(P, "psi")
    solo = np.flatnonzero(world.solo)
    psi[0, world.psi_row[solo], world.y[solo]] = k.solo_logit
    return np.repeat(P, S, axis=0)


def _log(p: float) -> float:
    return math.log(p) if p > 0 else LOG0


# --------------------------------------------------------------------------------------------- policy tables
def _softmax(z: np.ndarray) -> np.ndarray:
    """Softmax over the last axis, in place on ``z`` (a fresh array owned by the caller)."""
    z -= z.max(axis=-1, keepdims=True)
    np.exp(z, out=z)
    z /= z.sum(axis=-1, keepdims=True)
    return z


def tables(world: World, P: np.ndarray, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Policies at tasks ``x`` (``[S, T]`` or ``[T]``, broadcast over seeds).

    Returns ``(pi_T [S, T, 11], pi_R [S, T, 11, 10])``.
    """
    lay = Layout(world.knobs.C, world.n_tasks)
    S = P.shape[0]
    x = np.broadcast_to(np.asarray(x), (S,) + np.shape(x)[-1:]) if np.ndim(x) == 1 else np.asarray(x)
    s = np.arange(S)[:, None]
    theta, phi, psi = lay.view(P, "theta"), lay.view(P, "phi"), lay.view(P, "psi")
    s_T, s_R = lay.view(P, "s_T"), lay.view(P, "s_R")
    ab, c, u = world.ab[x], world.c[x], world.u[x]
    lt = theta[s, ab].copy()  # [S, T, 11]
    lt[s, np.arange(x.shape[1])[None, :], u] += s_T[:, None]
    # phi[s, :, c] -> [S, T, 11, 10]
    lr = phi.transpose(0, 2, 1, 3)[s, c]  # a fresh [S, T, 11, 10] array
    lr += psi[s, world.psi_row[x]][:, :, None, :]
    if "s_R" not in world.knobs.frozen or np.any(s_R != 0):
        lr += s_R[s, c][..., None, None] * world.G[c]
    return _softmax(lt), _softmax(lr)


def exact_q(world: World, x: np.ndarray, pi_R: np.ndarray) -> np.ndarray:
    """``Q(x, m) [S, T, 11]`` from ``pi_R [S, T, 11, 10]`` at tasks ``x`` (``[S, T]`` or ``[T]``)."""
    eps = world.knobs.eps
    y = world.y[np.asarray(x)]
    py = np.take_along_axis(pi_R, np.broadcast_to(y[..., None, None], pi_R.shape[:-1] + (1,)), axis=-1)[..., 0]
    return eps + (1.0 - 2.0 * eps) * py


@dataclass
class Exact:
    """Exact held-out quantities for every seed (each ``[S]``, means over the held-out tasks)."""

    J: np.ndarray
    greedy: np.ndarray
    contribution: np.ndarray
    p_null: np.ndarray
    cmi: np.ndarray
    entropy: np.ndarray


def evaluate(world: World, P: np.ndarray, tasks: np.ndarray | None = None, *, full: bool = True) -> Exact:
    """Exact J, greedy accuracy, thinker contribution V − Q(x, ∅), P(∅), I(M; A | x) and H(M | x), each
    averaged over ``tasks`` (default: the held-out set). Shapes: ``P [S, D]`` → fields ``[S]``.
    ``full=False`` skips greedy, CMI and H (left NaN), the costly ones."""
    x = world.held if tasks is None else np.asarray(tasks)
    pi_T, pi_R = tables(world, P, x)
    Q = exact_q(world, x, pi_R)
    V = (pi_T * Q).sum(-1)
    nan = np.full(P.shape[0], np.nan)
    out = Exact(J=V.mean(1), greedy=nan, contribution=(V - Q[..., NULL_HINT]).mean(1),
                p_null=pi_T[..., NULL_HINT].mean(1), cmi=nan, entropy=nan)
    if not full:
        return out
    m_star = pi_T.argmax(-1)  # [S, T]
    a_star = np.take_along_axis(pi_R, m_star[..., None, None].repeat(N_ANSWERS, -1), axis=2)[:, :, 0].argmax(-1)
    out.greedy = (a_star == world.y[x][None, :]).astype(np.float64).mean(1)
    marg = (pi_T[..., None] * pi_R).sum(2)  # [S, T, 10]
    with np.errstate(divide="ignore", invalid="ignore"):
        kl = np.where(pi_R > 0, pi_R * (np.log(pi_R) - np.log(marg)[:, :, None, :]), 0.0).sum(-1)
        ent = -np.where(pi_T > 0, pi_T * np.log(pi_T), 0.0).sum(-1)
    out.cmi = (pi_T * kl).sum(-1).mean(1)
    out.entropy = ent.mean(1)
    return out


def variance_split(world: World, P: np.ndarray, tasks: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """``(σ_b² [S], σ_w² [S])`` averaged over ``tasks`` (default: train): σ_b² = Var_{m~π_T} Q(x, m),
    σ_w² = E_m Var(R | x, m) = E_m Q(1 − Q) (R is Bernoulli with mean Q)."""
    x = world.train if tasks is None else np.asarray(tasks)
    pi_T, pi_R = tables(world, P, x)
    Q = exact_q(world, x, pi_R)
    V = (pi_T * Q).sum(-1, keepdims=True)
    sb = (pi_T * (Q - V) ** 2).sum(-1)
    sw = (pi_T * Q * (1.0 - Q)).sum(-1)
    return sb.mean(1), sw.mean(1)


def f_ratio(world: World, P: np.ndarray) -> float:
    """f = σ_b² / (σ_b² + σ_w²) over the training tasks, averaged over seeds."""
    sb, sw = variance_split(world, P)
    return float(np.mean(sb / (sb + sw)))


def optimum(world: World) -> float:
    """The regime's best reachable held-out J (used for "calls to 80% of optimum").

    Thinker learnable: 1 − ε (it can put all mass on u and the reasoner follow it). Thinker frozen: the best
    reasoner that sees only (m, c) on the held-out tasks (ψ of held-out tasks is never trained), i.e.
    ``(1/|H|) Σ_{m,c} max_a Σ_{x∈H, c(x)=c} π_T(m|x) r̄(x, a)``.
    """
    k = world.knobs
    if k.thinker_learns:
        return 1.0 - k.eps
    P0 = init_params(world, 1)
    pi_T, _ = tables(world, P0, world.held)
    pi_T = pi_T[0]  # [H, 11]
    total = 0.0
    for cc in range(k.C):
        sel = world.c[world.held] == cc
        mass = pi_T[sel].T @ world.rbar[world.held[sel]]  # [11, 10]
        total += mass.max(axis=1).sum()
    return float(total / len(world.held))
