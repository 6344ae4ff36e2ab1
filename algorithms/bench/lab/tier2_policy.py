"""Tier 2 of the credit lab: a tiny autoregressive torch policy over a 12-symbol vocabulary, exact by enumeration.

The task is HintDyad (:mod:`llm_marl_envs.tasks.hint`: triples, answers, split). Vocabulary (``VOCAB = 12``):

=========  =============================================================================================
0..9       digits: a hint (thinker) or an answer (reasoner)
10         ``FILLER``: a word that says nothing; the thinker may emit it anywhere
11         ``EOS``: ends the thinker's message (it counts as a generated token, like an LLM's end token)
=========  =============================================================================================

Thinker: writes a message of 1..L tokens, stopping after ``EOS`` or after ``L`` tokens. The fixed decoding of a
message to a hint is :func:`decode`: **the hint is the first digit token before the first EOS; a message with no
digit before its EOS (or end) decodes to the null hint ∅ = ``NULL_HINT`` (10)**. Reasoner: reads the decoded hint
and c, answers ONE token of the same vocabulary; only the digit y(x) is right (10 and 11 are wrong answers).

Model (every tensor has a leading seed axis ``S``; "embedding + linear"):

    thinker  logits_t = W_T (E_T[a·10+b] + P[t] + Σ_{j<t} E_tok[m_j] + ρ_T) + b_T      t = 0..L−1
    reasoner logits   = W_R (E_R[h·C + c] + ρ_R) + b_R                                  h = decode(m)

with ``W [V, d]``, ``b [V]``. ``shared=False``: per-role heads ``W_T, b_T`` and ``W_R, b_R`` (ρ absent);
``shared=True``: one head ``W, b`` for both roles plus role embeddings ρ (the shared-weight case of an LLM playing
both roles). Initialisation is deterministic from the knobs (identical for every seed): ``W = [I_V | 0]`` plus
noise, so the first ``V`` coordinates of an embedding are its initial logits; ``E_T[a·10+b]`` puts ``log p_think``
on u, ``log p_null`` on EOS, ``log p_fill`` on FILLER and the rest uniformly on the 9 wrong digits (the same at
every step: P, E_tok start at noise); ``E_R[h·C+c]`` puts ``follow`` on g(h, c) for a digit h, 0 for ∅. Noise:
N(0, ``init_noise``²) from a fixed generator (``split_seed``) on every coordinate, so no coordinate is dead.

Exact quantities enumerate all ``12^L`` token sequences (tokens after an EOS are forced to EOS, so each message
has exactly one sequence of positive probability): ``P(h | x) = Σ_m π_T(m | x) 1[decode(m) = h]``,
``Q(x, h) = ε + (1 − 2ε) π_R(y | h, c)``, ``V(x) = Σ_h P(h | x) Q(x, h)``, J = mean of V over held-out tasks.
"""

from __future__ import annotations

import itertools
import math
from dataclasses import asdict, dataclass

import numpy as np
import torch

from llm_marl_envs.tasks.hint import (
    HINT_VOCAB,
    NULL_HINT,
    answer,
    hint_answer,
    hint_split,
    task_triples,
)

VOCAB = 12
FILLER = 10
EOS = 11
N_HINTS = HINT_VOCAB + 1  # decoded hints 0..9 and ∅
N_CONTEXTS = 100  # thinker contexts a·10+b
DTYPE = torch.float64
PARAM_NAMES = {"per_role": ("T.ctx", "R.ctx", "pos", "tok", "T.W", "T.b", "R.W", "R.b"),
               "shared": ("T.ctx", "R.ctx", "pos", "tok", "W", "b", "role")}


@dataclass(frozen=True)
class Tier2Knobs:
    """Tier 2's knobs (also ``knobs`` in results.json).

    ``C``, ``p_think``, ``p_null``, ``follow``, ``eps``, ``held_frac``, ``split_seed`` as in credit-lab.md §1 (here
    ``p_null`` = initial P(EOS) at each step); ``L`` max message tokens; ``p_fill`` initial P(FILLER) at each step;
    ``d`` embedding width; ``shared`` one head for both roles; ``init_noise`` std of the fixed init noise;
    ``frozen`` names of parameters that are not trained (see :func:`init_params`);
    ``lr`` Adam learning rate: 0.01, not tier 1's 0.05 on logits, because here every coordinate of the head W
    and of the embeddings moves by about lr per Adam step and a logit is their product summed over d coordinates
    (at 0.05 every learner's J first fell below its start).
    """

    C: int = 4
    L: int = 3
    d: int = 16
    p_think: float = 0.3
    p_null: float = 0.2
    p_fill: float = 0.2
    follow: float = 1.5
    eps: float = 0.0
    shared: bool = False
    init_noise: float = 0.05
    lr: float = 0.01
    held_frac: float = 0.25
    split_seed: int = 0
    frozen: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        object.__setattr__(self, "frozen", tuple(self.frozen))
        names = PARAM_NAMES["shared" if self.shared else "per_role"]
        bad = sorted(set(self.frozen) - set(names))
        if bad:
            raise ValueError(f"tier2 knobs: unknown frozen parameter(s) {bad}; valid: {', '.join(names)}")
        if not 1 <= self.L <= 3:
            raise ValueError(f"tier2 knobs: L must be 1..3 (12^L messages are enumerated), got {self.L}")
        if self.d < VOCAB:
            raise ValueError(f"tier2 knobs: d must be >= {VOCAB} (the init writes logits into the first {VOCAB} "
                             f"coordinates), got {self.d}")
        rest = 1.0 - self.p_think - self.p_null - self.p_fill
        if min(self.p_think, self.p_null, self.p_fill) < 0 or rest < -1e-12:
            raise ValueError(f"tier2 knobs: p_think, p_null, p_fill must be >= 0 with sum <= 1, got "
                             f"{self.p_think}, {self.p_null}, {self.p_fill}")
        if not 0.0 <= self.eps <= 0.5:
            raise ValueError(f"tier2 knobs: eps must be in [0, 0.5], got {self.eps}")

    def to_json(self) -> dict:
        d = asdict(self)
        d["frozen"] = list(self.frozen)
        return d


@dataclass(frozen=True)
class Tier2World:
    """Fixed task facts: ``ab, c, y [100C]`` ints, ``train, held`` sorted task indices."""

    knobs: Tier2Knobs
    ab: np.ndarray
    c: np.ndarray
    y: np.ndarray
    train: np.ndarray
    held: np.ndarray


def make_world(knobs: Tier2Knobs) -> Tier2World:
    """Task facts and split from :mod:`llm_marl_envs.tasks.hint` (the one definition)."""
    tri = task_triples(knobs.C)
    a, b, c = tri[:, 0], tri[:, 1], tri[:, 2]
    split = hint_split(knobs.C, held_frac=knobs.held_frac, split_seed=knobs.split_seed)
    return Tier2World(knobs, a * 10 + b, c, answer(a, b, c), split.train, split.held_out)


# ------------------------------------------------------------------------------------------------ parameters
def _log(p: float) -> float:
    return math.log(p) if p > 0 else -30.0


def init_params(knobs: Tier2Knobs, S: int) -> dict[str, torch.Tensor]:
    """The deterministic initialisation, repeated over ``S`` seeds: name -> leaf tensor ``[S, ...]`` (requires grad).

    Names: ``T.ctx [100, d]``, ``R.ctx [11C, d]``, ``pos [L, d]``, ``tok [V, d]``; per role ``T.W, R.W [V, d]`` and
    ``T.b, R.b [V]``, or with ``shared`` one ``W [V, d]``, ``b [V]`` and ``role [2, d]``.
    """
    V, d, C, L = VOCAB, knobs.d, knobs.C, knobs.L
    gen = torch.Generator().manual_seed(int(knobs.split_seed) + 12345)

    def noise(*shape: int) -> torch.Tensor:
        return torch.randn(*shape, generator=gen, dtype=DTYPE) * knobs.init_noise

    eye = torch.zeros(V, d, dtype=DTYPE)
    eye[:, :V] = torch.eye(V, dtype=DTYPE)
    wrong = (1.0 - knobs.p_think - knobs.p_null - knobs.p_fill) / 9.0
    ctx_T = torch.zeros(N_CONTEXTS, d, dtype=DTYPE)
    ctx_T[:, :HINT_VOCAB] = _log(wrong)
    ab = np.arange(N_CONTEXTS)
    u = (ab // 10 + ab % 10) % 10
    ctx_T[torch.as_tensor(ab), torch.as_tensor(u)] = _log(knobs.p_think)
    ctx_T[:, FILLER] = _log(knobs.p_fill)
    ctx_T[:, EOS] = _log(knobs.p_null)
    ctx_R = torch.zeros(N_HINTS * C, d, dtype=DTYPE)
    for h in range(HINT_VOCAB):
        for cc in range(C):
            ctx_R[h * C + cc, int(hint_answer(h, cc))] = knobs.follow
    base = {"T.ctx": ctx_T + noise(N_CONTEXTS, d), "R.ctx": ctx_R + noise(N_HINTS * C, d),
            "pos": noise(L, d), "tok": noise(V, d)}
    if knobs.shared:
        base.update({"W": eye + noise(V, d), "b": torch.zeros(V, dtype=DTYPE), "role": noise(2, d)})
    else:
        base.update({"T.W": eye + noise(V, d), "T.b": torch.zeros(V, dtype=DTYPE),
                     "R.W": eye + noise(V, d), "R.b": torch.zeros(V, dtype=DTYPE)})
    return {k: v.unsqueeze(0).repeat((S,) + (1,) * v.dim()).requires_grad_(True) for k, v in base.items()}


def _head(params: dict[str, torch.Tensor], role: str) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor | None]:
    """``(W [S, V, d], b [S, V], role embedding [S, d] or None)`` of ``role`` ("T" or "R")."""
    if "W" in params:
        return params["W"], params["b"], params["role"][:, 0 if role == "T" else 1]
    return params[f"{role}.W"], params[f"{role}.b"], None


# ------------------------------------------------------------------------------------------------ policy
def decode(tokens: torch.Tensor) -> torch.Tensor:
    """The hint of each message ``tokens [..., L]`` (int): first digit before the first EOS, else ``NULL_HINT``."""
    L = tokens.shape[-1]
    before_eos = torch.cumsum((tokens == EOS).long(), dim=-1) == 0
    digit = (tokens < HINT_VOCAB) & before_eos
    first = torch.where(digit, torch.arange(L), L).min(dim=-1).values  # L when there is no digit
    padded = torch.cat([tokens, torch.full(tokens.shape[:-1] + (1,), NULL_HINT, dtype=tokens.dtype)], dim=-1)
    return torch.gather(padded, -1, first.unsqueeze(-1)).squeeze(-1)


def message_mask(tokens: torch.Tensor) -> torch.Tensor:
    """``[..., L]`` bool: the generated tokens of each message (up to and including its first EOS)."""
    eos_before = torch.cumsum((tokens == EOS).long(), dim=-1) - (tokens == EOS).long()
    return eos_before == 0


def thinker_logp(params: dict[str, torch.Tensor], ab: torch.Tensor, tokens: torch.Tensor) -> torch.Tensor:
    """Log-probs ``[S, N, L]`` of the thinker's tokens ``[S, N, L]`` at contexts ``ab [S, N]`` (teacher forcing).

    Positions after the first EOS are computed but meaningless (mask them with :func:`message_mask`)."""
    return torch.gather(thinker_logits(params, ab, tokens).log_softmax(-1), -1, tokens.unsqueeze(-1)).squeeze(-1)


def thinker_logits(params: dict[str, torch.Tensor], ab: torch.Tensor, tokens: torch.Tensor) -> torch.Tensor:
    """Logits ``[S, N, L, V]`` at every position given the previous tokens of ``tokens [S, N, L]``."""
    S = ab.shape[0]
    s = torch.arange(S)[:, None]
    W, b, rho = _head(params, "T")
    h = params["T.ctx"][s, ab]  # [S, N, d]
    if rho is not None:
        h = h + rho[:, None, :]
    emb = params["tok"][s[..., None], tokens]  # [S, N, L, d]
    prev = torch.cumsum(emb, dim=2) - emb  # Σ_{j<t}
    hid = h[:, :, None, :] + params["pos"][:, None, :, :] + prev
    return torch.einsum("sntd,svd->sntv", hid, W) + b[:, None, None, :]


def reasoner_logits(params: dict[str, torch.Tensor], hint: torch.Tensor, c: torch.Tensor) -> torch.Tensor:
    """Logits ``[S, N, V]`` of the reasoner's answer given decoded hints and c, both ``[S, N]``."""
    S = hint.shape[0]
    W, b, rho = _head(params, "R")
    C = params["R.ctx"].shape[1] // N_HINTS
    h = params["R.ctx"][torch.arange(S)[:, None], hint * C + c]
    if rho is not None:
        h = h + rho[:, None, :]
    return torch.einsum("snd,svd->snv", h, W) + b[:, None, :]


def _draw(logits: torch.Tensor, u: torch.Tensor) -> torch.Tensor:
    """Inverse-CDF draws from ``softmax(logits) [..., V]`` with uniforms ``u [...]``."""
    cum = torch.cumsum(logits.softmax(-1), dim=-1)
    return torch.clamp((u.unsqueeze(-1) >= cum).sum(-1), max=logits.shape[-1] - 1)


@torch.no_grad()
def sample_messages(params: dict[str, torch.Tensor], ab: torch.Tensor, u: torch.Tensor) -> torch.Tensor:
    """Thinker messages ``[S, N, L]`` at contexts ``ab [S, N]`` from uniforms ``u [S, N, L]``; after an EOS the
    remaining positions are EOS (padding, outside :func:`message_mask`)."""
    S, N, L = u.shape
    tokens = torch.full((S, N, L), EOS, dtype=torch.long)
    done = torch.zeros(S, N, dtype=torch.bool)
    for t in range(L):
        logits = thinker_logits(params, ab, tokens)[:, :, t]
        tok = _draw(logits, u[..., t])
        tokens[..., t] = torch.where(done, EOS, tok)
        done = done | (tokens[..., t] == EOS)
    return tokens


@torch.no_grad()
def sample_answers(params: dict[str, torch.Tensor], hint: torch.Tensor, c: torch.Tensor, u: torch.Tensor) -> torch.Tensor:
    """Reasoner answers ``[S, N]`` (tokens 0..11) for hints and c ``[S, N]`` from uniforms ``u [S, N]``."""
    return _draw(reasoner_logits(params, hint, c), u)


# ------------------------------------------------------------------------------------------------ exact quantities
def all_messages(L: int) -> torch.Tensor:
    """Every token sequence ``[12^L, L]`` (lexicographic order, as ``itertools.product``)."""
    if L == 0:
        return torch.zeros(1, 0, dtype=torch.long)
    return torch.tensor(list(itertools.product(range(VOCAB), repeat=L)), dtype=torch.long)


@torch.no_grad()
def hint_distribution_enumerated(params: dict[str, torch.Tensor], ab: np.ndarray, L: int) -> torch.Tensor:
    """Exact ``P(h | a·10+b) [S, X, 11]`` at contexts ``ab [X]`` by enumerating all ``12^L`` sequences.

    π(sequence) = Π_t π(m_t | prefix), every token after an EOS forced to EOS (probability 1). The logits of
    position t are computed once per distinct prefix (``12^t`` of them), then combined over the sequences."""
    S = next(iter(params.values())).shape[0]
    W, b, rho = _head(params, "T")
    ctx = params["T.ctx"][:, torch.as_tensor(np.asarray(ab), dtype=torch.long)]  # [S, X, d]
    if rho is not None:
        ctx = ctx + rho[:, None, :]
    X = ctx.shape[1]
    M = VOCAB**L
    total = torch.zeros(S, X, M, dtype=DTYPE)
    eos_row = torch.full((VOCAB,), -math.inf, dtype=DTYPE)
    eos_row[EOS] = 0.0
    for t in range(L):
        prefixes = all_messages(t)  # [12^t, t]
        prev = params["tok"][:, prefixes].sum(-2) if t > 0 else torch.zeros(S, 1, ctx.shape[-1], dtype=DTYPE)
        hid = ctx[:, :, None, :] + params["pos"][:, t][:, None, None, :] + prev[:, None, :, :]  # [S, X, 12^t, d]
        lp = (torch.einsum("sxpd,svd->sxpv", hid, W) + b[:, None, None, :]).log_softmax(-1)
        if t > 0:
            ended = (prefixes == EOS).any(-1)  # [12^t]
            lp = torch.where(ended[None, None, :, None], eos_row, lp)
        total += lp.reshape(S, X, -1).repeat_interleave(VOCAB ** (L - t - 1), dim=-1)
    p = total.exp()
    out = torch.zeros(S, X, N_HINTS, dtype=DTYPE)
    out.index_add_(2, decode(all_messages(L)), p)
    return out


@torch.no_grad()
def hint_distribution(params: dict[str, torch.Tensor], ab: np.ndarray, L: int) -> torch.Tensor:
    """Exact ``P(h | a·10+b) [S, X, 11]``, the same sum as :func:`hint_distribution_enumerated` factorised by the
    decoding: a message's hint is fixed at its first non-FILLER token, so only the all-FILLER prefixes
    ``FILLER^t`` (t < L) branch. ``P(h) = Σ_t P(FILLER^t) π(h | FILLER^t)`` for a digit h, and
    ``P(∅) = Σ_t P(FILLER^t) π(EOS | FILLER^t) + P(FILLER^L)`` (tested equal to the enumeration)."""
    S = next(iter(params.values())).shape[0]
    X = len(ab)
    abt = torch.as_tensor(np.asarray(ab), dtype=torch.long)[None].expand(S, X)
    fill = torch.full((S, X, L), FILLER, dtype=torch.long)
    p = thinker_logits(params, abt, fill).softmax(-1)  # [S, X, L, V]: position t after FILLER^t
    alive = torch.cumprod(torch.cat([torch.ones(S, X, 1, dtype=DTYPE), p[..., :-1, FILLER]], dim=-1), dim=-1)
    out = torch.zeros(S, X, N_HINTS, dtype=DTYPE)
    out[..., :HINT_VOCAB] = (alive[..., None] * p[..., :HINT_VOCAB]).sum(2)
    out[..., NULL_HINT] = (alive * p[..., EOS]).sum(2) + alive[..., -1] * p[..., -1, FILLER]
    return out


@torch.no_grad()
def reasoner_q(world: Tier2World, params: dict[str, torch.Tensor], x: np.ndarray) -> torch.Tensor:
    """Exact ``Q(x, h) [S, X, 11] = ε + (1 − 2ε) π_R(y(x) | h, c(x))`` at tasks ``x [X]``."""
    S = next(iter(params.values())).shape[0]
    C = world.knobs.C
    hc = torch.arange(N_HINTS * C)
    pr = reasoner_logits(params, (hc // C)[None].expand(S, -1), (hc % C)[None].expand(S, -1)).softmax(-1)
    pr = pr.reshape(S, N_HINTS, C, VOCAB)
    c = torch.as_tensor(world.c[x], dtype=torch.long)
    y = torch.as_tensor(world.y[x], dtype=torch.long)
    py = pr[:, :, c, y].transpose(1, 2)  # [S, X, 11]
    eps = world.knobs.eps
    return eps + (1.0 - 2.0 * eps) * py


@torch.no_grad()
def exact_eval(world: Tier2World, params: dict[str, torch.Tensor], tasks: np.ndarray | None = None
               ) -> dict[str, np.ndarray]:
    """Exact quantities per seed ``[S]``, means over the held-out (or ``tasks``):

    ``J`` = Σ_h P(h | x) Q(x, h); ``p_null`` = P(∅ | x); ``p_hint`` = P(u(x) | x), the thinker's accuracy;
    ``q_right`` = Q(x, u(x)), the reasoner's accuracy given the right hint."""
    x = world.held if tasks is None else np.asarray(tasks)
    ctx, inv = np.unique(world.ab[x], return_inverse=True)
    P = hint_distribution(params, ctx, world.knobs.L)[:, torch.as_tensor(inv)]  # [S, X, 11]
    Q = reasoner_q(world, params, x)
    u = torch.as_tensor((world.ab[x] // 10 + world.ab[x] % 10) % 10, dtype=torch.long)
    X = torch.arange(len(x))
    return {"J": (P * Q).sum(-1).mean(-1).numpy(), "p_null": P[..., NULL_HINT].mean(-1).numpy(),
            "p_hint": P[:, X, u].mean(-1).numpy(), "q_right": Q[:, X, u].mean(-1).numpy()}


def exact_J(world: Tier2World, params: dict[str, torch.Tensor], tasks: np.ndarray | None = None) -> np.ndarray:
    """Exact held-out (or ``tasks``) accuracy J per seed ``[S]``: mean over tasks of Σ_h P(h | x) Q(x, h)."""
    return exact_eval(world, params, tasks)["J"]


@torch.no_grad()
def exact_J_bruteforce(world: Tier2World, params: dict[str, torch.Tensor], tasks: np.ndarray, seed: int = 0) -> float:
    """The same J for one seed by a plain loop over tasks and messages, token by token (a test oracle)."""
    p1 = {k: v[seed:seed + 1] for k, v in params.items()}
    L, eps = world.knobs.L, world.knobs.eps
    step_probs: dict[tuple[int, tuple[int, ...]], list[float]] = {}  # memo of π(. | ab, prefix)

    def next_token(ab: int, prefix: tuple[int, ...]) -> list[float]:
        if (ab, prefix) not in step_probs:
            padded = torch.tensor([[list(prefix) + [EOS] * (L - len(prefix))]])
            step_probs[(ab, prefix)] = thinker_logits(p1, torch.tensor([[ab]]), padded)[0, 0, len(prefix)].softmax(-1).tolist()
        return step_probs[(ab, prefix)]

    total = 0.0
    for x in tasks:
        ab, c, y = int(world.ab[x]), int(world.c[x]), int(world.y[x])
        v = 0.0
        for seq in itertools.product(range(VOCAB), repeat=L):
            prob, ended = 1.0, False
            for t in range(L):
                if ended:
                    prob *= 1.0 if seq[t] == EOS else 0.0
                    continue
                prob *= next_token(ab, seq[:t])[seq[t]]
                ended = seq[t] == EOS
            if prob == 0.0:
                continue
            digits = [tok for tok in seq[: (seq.index(EOS) if EOS in seq else L)] if tok < HINT_VOCAB]
            h = digits[0] if digits else NULL_HINT
            pr = reasoner_logits(p1, torch.tensor([[h]]), torch.tensor([[c]]))[0, 0].softmax(-1)
            v += prob * (eps + (1 - 2 * eps) * float(pr[y]))
        total += v
    return total / len(tasks)
