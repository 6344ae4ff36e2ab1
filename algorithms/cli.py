"""``llm-marl train``: train agents with a credit-assignment learner.

Every :class:`~algorithms.config.TrainConfig` field is an option (``--lr 3e-5``,
``--estimator-kwargs '{"std_normalize": false}'``, ``--fanout 2,4``); ``--preset c3_table3`` starts
from a paper preset, ``--config run.toml`` loads a file over it, and options override both; ``--set key=value`` is the generic form. ``--list`` prints the
registered learners.

    llm-marl train --learner c3 --backend tiny --iterations 2 --out-dir runs/demo
"""

from __future__ import annotations

import argparse
import json
import typing
from dataclasses import MISSING, fields

from .config import TrainConfig, field_types, parse_field, read_fields


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
                docs[node.target.id] = " ".join(str(nxt.value.value).split())
    return docs


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Add ``--config``, ``--set``, ``--list`` and one option per TrainConfig field."""
    parser.add_argument("--preset", help="start from a named paper preset (algorithms.presets.PRESETS)")
    parser.add_argument("--config", help="a .json or .toml file of TrainConfig fields (options override it)")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="override any field")
    parser.add_argument("--list", action="store_true", help="list the registered learners and exit")
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
            help=f"{docs.get(f.name, '')} (default: {json.dumps(default, default=str)})",
        )


def run(args: argparse.Namespace) -> int:
    """Build the config, train, print the last record; returns 0 on success."""
    if args.list:
        from .learners import LEARNERS

        for name, learner in LEARNERS.items():
            print(f"{name:10s} plan={learner.plan:14s} estimator={learner.estimator:6s} {learner.description}")
        return 0
    cfg = TrainConfig()
    if args.preset:
        from .presets import preset_config

        cfg = preset_config(args.preset)
    if args.config:
        cfg = cfg.with_overrides(read_fields(args.config))
    overrides = {f.name: parse_field(f.name, getattr(args, f.name)) for f in fields(TrainConfig)
                 if getattr(args, f.name, None) is not None}
    cfg = cfg.with_overrides(overrides).with_overrides(list(args.set))
    from .trainer import Trainer

    result = Trainer(cfg).train()
    last = result.history[-1] if result.history else {}
    print(json.dumps({k: v for k, v in last.items() if not k.startswith(("loss/", "estimator/"))}, indent=1))
    print(f"metrics: {result.out_dir / 'metrics.jsonl'}")
    return 0
