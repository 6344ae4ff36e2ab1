"""Checkpoint files, RNG states, and the run-config check that guards resuming.

A checkpoint is one ``torch.save`` dict written atomically (temporary file, then rename), so a run
killed mid-write keeps its previous checkpoint; only the latest one is kept (keep-last).

A run directory's ``config.json`` (and the ``"config"`` entry of its checkpoint) records the run's
effective configuration. :func:`config_differences` compares it with a requested one, ignoring the
fields that do not change what is computed (:data:`RESUME_NEUTRAL`: extending ``iterations``,
display and checkpoint cadence, the executor, its workers and Ray address), so the trainer can refuse to resume a different run.
"""

from __future__ import annotations

import json
import random
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import torch


def rng_state() -> dict[str, Any]:
    """The Python, numpy, torch (and CUDA) global RNG states."""
    return {
        "python": random.getstate(),
        "numpy": np.random.get_state(),
        "torch": torch.get_rng_state(),
        "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else None,
    }


def set_rng_state(state: dict[str, Any]) -> None:
    """Restore what :func:`rng_state` returned."""
    random.setstate(state["python"])
    np.random.set_state(state["numpy"])
    torch.set_rng_state(state["torch"])
    if state.get("cuda") is not None and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def save_state(path: str | Path, state: dict[str, Any]) -> Path:
    """Write ``state`` to ``path`` atomically."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    torch.save(state, tmp)
    tmp.replace(path)
    return path


def load_state(path: str | Path) -> dict[str, Any]:
    """Read a checkpoint written by :func:`save_state` (our own file: full unpickling is allowed)."""
    return torch.load(Path(path), weights_only=False)


RESUME_NEUTRAL = frozenset({"iterations", "resume", "out_dir", "save_every", "progress", "tensorboard",
                            "executor", "workers", "ray_address"})
"""Config fields a resumed run may change: they do not alter any number the run computes (where the env
workers run included: the same seeds give byte-identical episodes with the local and the Ray executor,
on any number of workers and any cluster)."""

_ADDRESS = re.compile(r" at 0x[0-9a-fA-F]+")


class ConfigMismatchError(ValueError):
    """A run directory holds a run whose configuration differs from the requested one."""


def comparable_config(config: Mapping[str, Any]) -> dict[str, Any]:
    """``config`` as JSON values (objects by ``repr`` without memory addresses), so that a config
    read back from ``config.json`` in another process compares equal to the one that wrote it."""
    text = json.dumps(dict(config), default=repr, sort_keys=True)
    return json.loads(_ADDRESS.sub("", text))


def config_differences(saved: Mapping[str, Any], requested: Mapping[str, Any],
                       ignore: frozenset[str] = RESUME_NEUTRAL) -> list[str]:
    """``["learner: 'c3' -> 'grpo'", ...]`` for every field (outside ``ignore``) whose saved and
    requested values differ; a field present on one side only counts as differing."""
    a, b = comparable_config(saved), comparable_config(requested)
    out = []
    for key in sorted((set(a) | set(b)) - ignore):
        if a.get(key, "(unset)") != b.get(key, "(unset)"):
            out.append(f"{key}: {_short(a.get(key, '(unset)'))} -> {_short(b.get(key, '(unset)'))}")
    return out


def mismatch_message(out_dir: str | Path, differences: list[str]) -> str:
    """The one-line refusal: where, which fields differ, and the two ways out."""
    shown = "; ".join(differences[:6]) + (f"; and {len(differences) - 6} more" if len(differences) > 6 else "")
    return (f"{out_dir} holds a run with a different config ({shown}); not resuming it. Start over there with "
            f"--resume false (TrainConfig(resume=False)), or use a new --out-dir")


def _short(value: Any, limit: int = 60) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def resume_decision(out_dir: str | Path, run_config: Mapping[str, Any], *, resume: bool) -> bool:
    """Whether a trainer asked for ``run_config`` in ``out_dir`` resumes its checkpoint.

    ``resume=False``: never (the caller starts over there). Otherwise: raises
    :class:`ConfigMismatchError` when ``out_dir/config.json`` records a different run (or a
    checkpoint has no config.json to compare with); returns True when the same run left a
    checkpoint, False when there is none yet (a fresh start).
    """
    out_dir = Path(out_dir)
    state = out_dir / "checkpoint" / "state.pt"
    if not resume:
        return False
    saved = out_dir / "config.json"
    if saved.is_file():
        try:
            recorded = json.loads(saved.read_text(encoding="utf-8"))
        except (json.JSONDecodeError, UnicodeDecodeError) as e:
            raise ConfigMismatchError(f"{saved} is unreadable ({e}); start over there with --resume false "
                                      "(TrainConfig(resume=False)), or use a new --out-dir") from None
        differences = config_differences(recorded, run_config)
        if differences:
            raise ConfigMismatchError(mismatch_message(out_dir, differences))
    elif state.exists():
        raise ConfigMismatchError(f"{out_dir} holds a checkpoint but no config.json to check it against; start over "
                                  "there with --resume false (TrainConfig(resume=False)), or use a new --out-dir")
    return state.exists()
