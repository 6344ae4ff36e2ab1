"""``llm-marl envs``: list the registered env ids (one line each) or print one env's card."""

from __future__ import annotations

import argparse
import importlib
import json

from .registration import describe_envs, env_spec


def markdown_card(doc: str) -> str:
    """An env card (a module docstring) as Markdown for the console."""
    from ..cli import markdown_text

    return markdown_text(doc)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("env_id", nargs="?", help="print this env's card (its documentation) instead of the list")
    parser.add_argument("--json", action="store_true", help="print the list as JSON")


def run(args: argparse.Namespace) -> int:
    if args.env_id:
        spec = env_spec(args.env_id)
        doc = importlib.import_module(spec.module).__doc__ if spec.module else spec.description
        print(markdown_card(doc or ""))
        return 0
    rows = describe_envs()
    if args.json:
        print(json.dumps([{"id": i, "description": d} for i, d in rows], indent=2))
        return 0
    width = max(len(i) for i, _ in rows)
    for env_id, description in rows:
        print(f"{env_id:<{width}}  {description}")
    return 0
