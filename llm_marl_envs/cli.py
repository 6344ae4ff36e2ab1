"""The ``llm-marl`` command line.

Each subcommand lives in the module that owns its feature and is imported only when used, so
``llm-marl --help`` stays fast and never imports torch. A subcommand's module exposes
``add_arguments(parser)`` and ``run(args) -> int``.
"""

from __future__ import annotations

import argparse
import os
import re
import sys
from importlib import import_module

from . import __version__

# subcommand -> (module implementing add_arguments/run, one-line help)
SUBCOMMANDS: dict[str, tuple[str, str]] = {
    "envs": ("llm_marl_envs.envs.cli", "list the registered environment ids"),
    "tasks": ("llm_marl_envs.tasks.cli", "list task sources or print sample tasks"),
    "doctor": ("llm_marl_envs.doctor", "report the sandbox backend, data files and optional packages"),
    "rollout": ("llm_marl_envs.rollout.cli", "run episodes of an env with a policy and write JSONL"),
    "train": ("algorithms.cli", "train agents with a credit-assignment learner"),
    "bench": ("algorithms.bench.cli", "run a benchmark (e.g. 'llm-marl bench credit --quick')"),
    "serve": ("llm_marl_envs.serve.cli", "serve envs over HTTP/WebSocket in the shape of OpenEnv (extra 'serve')"),
    "view": ("llm_marl_envs.view.cli", "write a self-contained HTML view of episodes, trees, a training run or benchmark results"),
}


def markdown_text(doc: str) -> str:
    """Docstring text for the console, as Markdown: reStructuredText literals (two backticks) become
    Markdown code spans (one backtick); surrounding blank lines are dropped."""
    return re.sub(r"``(.+?)``", r"`\1`", doc.strip("\n"), flags=re.S)


def _load(module: str):
    try:
        return import_module(module)
    except ModuleNotFoundError as e:
        if e.name and (module == e.name or module.startswith(e.name + ".")):
            return None  # the feature module itself does not exist yet
        raise


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="llm-marl", description="LLM multi-agent environments and credit-assignment learners.")
    parser.add_argument("--version", action="version", version=f"llm-marl-envs {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name, (module, help_text) in SUBCOMMANDS.items():
        p = sub.add_parser(name, help=help_text, description=help_text)
        p.set_defaults(_module=module)
        # Arguments are added lazily (after the subcommand is chosen) to keep --help light.
    return parser


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = build_parser()
    if not argv:
        parser.print_help()
        return 0
    # Parse only the subcommand name first, then let its module add its own arguments.
    cmd = next((a for a in argv if not a.startswith("-")), None)
    if cmd in SUBCOMMANDS:
        module_name, help_text = SUBCOMMANDS[cmd]
        module = _load(module_name)
        if module is None or not hasattr(module, "run"):
            print(f"llm-marl {cmd}: not available yet ({help_text}).", file=sys.stderr)
            return 2
        sub = argparse.ArgumentParser(prog=f"llm-marl {cmd}", description=help_text)
        if hasattr(module, "add_arguments"):
            module.add_arguments(sub)
        rest = argv[argv.index(cmd) + 1 :]
        args = sub.parse_args(rest)
        try:
            return int(module.run(args) or 0)
        except BrokenPipeError:  # `llm-marl envs ID | head`: the reader left; not an error
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
            return 0
        except (KeyError, ValueError, FileNotFoundError) as e:  # bad names, values, paths: one clear line
            if os.environ.get("LLM_MARL_DEBUG"):
                raise
            message = e.args[0] if isinstance(e, KeyError) and e.args else e
            print(f"llm-marl {cmd}: {message} (LLM_MARL_DEBUG=1 shows the traceback)", file=sys.stderr)
            return 2
    parser.parse_args(argv)  # handles --help/--version/unknown commands with argparse's messages
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
