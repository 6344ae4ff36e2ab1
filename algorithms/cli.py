"""``llm-marl train``: train agents with a credit-assignment learner.

Every :class:`~algorithms.config.TrainConfig` field is an option (``--lr 3e-5``,
``--estimator-kwargs '{"std_normalize": false}'``, ``--fanout 2,4``); ``--preset testbed`` (or a paper
preset such as ``c3_table3``) starts from a named preset, ``--config run.toml`` loads a file over it,
and options override both; ``--set key=value`` is the generic form. ``--list`` prints the registered
learners and presets.

    llm-marl train --preset testbed --out-dir runs/first   # learns its 24 training tasks on a CPU in ~2 min

Ctrl-C stops with one line naming the last checkpoint and how to resume.
"""

from __future__ import annotations

import argparse
import json
import sys
import typing
from dataclasses import MISSING, fields
from typing import Any

from .config import SUPPORTED_FORMATS, TrainConfig, field_types, parse_field, read_fields


def _doc_of_fields() -> dict[str, str]:
    """Field docstrings (the string literal under each field) for ``--help``."""
    import ast
    import inspect

    tree = ast.parse(inspect.getsource(TrainConfig))
    body = tree.body[0].body
    docs: dict[str, str] = {}
    for node, nxt in zip(body, body[1:], strict=False):
        if isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name):
            if isinstance(nxt, ast.Expr) and isinstance(getattr(nxt, "value", None), ast.Constant):
                docs[node.target.id] = " ".join(str(nxt.value.value).split()).replace("``", "`")
    return docs


_ACCURACIES = ("eval/greedy_accuracy", "eval/pass@1", "train_eval/greedy_accuracy", "train_eval/pass@1")


def before_after(history: list[dict]) -> str:
    """One line: each accuracy at the first and the last evaluation of ``history`` (empty when fewer than 2)."""
    evaluated = [r for r in history if "eval/greedy_accuracy" in r]
    if len(evaluated) < 2:
        return ""
    first, last = evaluated[0], evaluated[-1]
    parts = [f"{key} {first[key]:.3f} -> {last[key]:.3f}" for key in _ACCURACIES if key in first and key in last]
    return f"iteration {first['iteration']} -> {last['iteration']}: " + "; ".join(parts)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Add ``--config``, ``--set``, ``--list`` and one option per TrainConfig field."""
    parser.add_argument("--preset", help="start from a named preset (algorithms.presets.PRESETS: 'testbed' runs "
                        "on a CPU in minutes and learns its 24 training tasks (not unseen ones); c3_table3, c3_release, ccpo_v1 are the papers' settings)")
    parser.add_argument("--config", help=f"a file of TrainConfig fields ({', '.join(SUPPORTED_FORMATS)}); options "
                        "override it")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="override any field")
    parser.add_argument("--list", action="store_true", help="list the registered learners and presets, and exit")
    docs = _doc_of_fields()
    types = field_types()
    for f in fields(TrainConfig):
        default = f.default if f.default is not MISSING else f.default_factory()  # type: ignore[misc]
        tp = types[f.name]
        inner = [a for a in typing.get_args(tp) if a is not type(None)]
        base = inner[0] if type(None) in typing.get_args(tp) else tp
        kind = typing.get_origin(base) or base
        parser.add_argument(
            "--" + f.name.replace("_", "-"), dest=f.name, default=None, metavar=getattr(kind, "__name__", "VALUE").upper(),
            help=f"{docs.get(f.name, '')} (default: {_shown(default)})".replace("%", "%%"),
        )


def build_config(args: argparse.Namespace) -> TrainConfig:
    """The run's config: defaults < ``--preset`` < ``--config`` file < per-field options < ``--set``."""
    cfg = TrainConfig()
    if args.preset:
        from .presets import preset_config

        cfg = preset_config(args.preset)
    if args.config:
        cfg = cfg.with_overrides(read_fields(args.config), source=f"config file {args.config}")
    overrides = {f.name: parse_field(f.name, getattr(args, f.name)) for f in fields(TrainConfig)
                 if getattr(args, f.name, None) is not None}
    return cfg.with_overrides(overrides).with_overrides(list(args.set))


def interrupted_message(trainer: Any, cfg: TrainConfig) -> str:
    """The one line printed on Ctrl-C: where the last checkpoint is and how to resume."""
    if trainer is None:
        return "llm-marl train: interrupted before training started; nothing was written"
    done = getattr(trainer, "checkpoint_iteration", None)
    path = trainer.checkpoint_path
    if done is None or not path.exists():
        return (f"llm-marl train: interrupted at iteration {trainer.iteration}/{cfg.iterations}; no checkpoint yet "
                f"(one every --save-every {cfg.save_every} iterations); metrics so far: {trainer.out_dir / 'metrics.jsonl'}")
    return (f"llm-marl train: interrupted at iteration {trainer.iteration}/{cfg.iterations}; last checkpoint {path} "
            f"(iteration {done}); resume by running the same command again (resume is on by default)")


def _shown(default: Any) -> str:
    """A default as it is typed on the command line (``none``, ``true``, ``2,4``, JSON objects)."""
    if default is None:
        return "none"
    if isinstance(default, bool):
        return str(default).lower()
    if isinstance(default, tuple):
        return ",".join(map(str, default))
    if isinstance(default, (dict, list)):
        return json.dumps(default)
    return str(default)


def run(args: argparse.Namespace) -> int:
    """Build the config, train, print the last record; returns 0 on success, 130 on Ctrl-C."""
    if args.list:
        from .learners import LEARNERS
        from .presets import PRESETS

        for name, learner in LEARNERS.items():
            print(f"{name:10s} plan={learner.plan:14s} estimator={learner.estimator:6s} {learner.description}")
        print("presets: " + ", ".join(PRESETS.names()))
        return 0
    cfg = build_config(args)
    from .trainer import Trainer

    trainer = None
    try:
        trainer = Trainer(cfg)
        result = trainer.train()
    except KeyboardInterrupt:
        print(interrupted_message(trainer, cfg), file=sys.stderr)
        return 130
    finally:
        if trainer is not None:
            trainer.close()
    last = result.history[-1] if result.history else {}
    print(json.dumps({k: v for k, v in last.items() if not k.startswith(("loss/", "estimator/"))}, indent=1))
    change = before_after(result.history)
    if change:
        print(change)
    print(f"metrics: {result.out_dir / 'metrics.jsonl'}")
    return 0
