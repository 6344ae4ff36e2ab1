"""``llm-marl bench lab [--quick | --full] ...``: the exact credit lab (being built)."""

from __future__ import annotations

import argparse


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """``llm-marl bench lab``'s arguments."""
    size = parser.add_mutually_exclusive_group()
    size.add_argument("--quick", dest="preset", action="store_const", const="quick")
    size.add_argument("--full", dest="preset", action="store_const", const="full")
    parser.set_defaults(preset="quick")


def run(args: argparse.Namespace) -> int:
    """Run the lab; 0 on success."""
    raise ValueError("bench lab is not built yet")
