"""``llm-marl view PATH [-o report.html] [--open] [--terminal]``."""

from __future__ import annotations

import argparse
import sys
import webbrowser
from pathlib import Path

from .detect import detect


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("path", help="an episodes/trees JSONL from 'llm-marl rollout', a training run directory, "
                                     "or a benchmark results folder (results.json of 'bench lab' or 'bench credit')")
    parser.add_argument("-o", "--out", default=None,
                        help="HTML file to write (default: beside PATH: <name>.html, or <folder>/view.html)")
    parser.add_argument("--open", action="store_true", help="open the written page in the default browser")
    parser.add_argument("--terminal", action="store_true", help="print a compact view in the terminal (rich) instead")


def default_output(path: Path) -> Path:
    """Where the page goes without ``-o``: ``x.jsonl -> x.html``; a folder -> ``folder/view.html``."""
    return path / "view.html" if path.is_dir() else path.with_suffix(".html")


def run(args: argparse.Namespace) -> int:
    source = detect(args.path)
    if args.terminal:
        from .terminal import render_terminal

        render_terminal(source)
        return 0
    from .views import build_html

    out = Path(args.out) if args.out else default_output(source.path)
    if out.resolve() == source.main.resolve():
        raise ValueError(f"{out}: refusing to overwrite the input; pass another -o")
    html = build_html(source)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(html, encoding="utf-8")
    print(f"llm-marl view: {source.kind} -> {out.resolve()} ({len(html.encode('utf-8')) / 1e6:.2f} MB)", file=sys.stderr)
    if args.open:
        webbrowser.open(out.resolve().as_uri())
    return 0
