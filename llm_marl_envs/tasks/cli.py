"""``llm-marl tasks``: list the registered task sources, or print sample tasks of one.

    llm-marl tasks                      # every source with a one-line description
    llm-marl tasks --show arith -n 3    # three tasks of a source (--difficulty, --seed, --split, --path)
    llm-marl tasks --show math500 -n 2 --json
"""

from __future__ import annotations

import argparse
import inspect
import json
import sys

from . import TASK_SOURCES, load_tasks


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--show", metavar="NAME", help="print sample tasks of this source")
    parser.add_argument("-n", type=int, default=3, help="number of tasks to print (default: %(default)s)")
    parser.add_argument("--start", type=int, default=0, help="index of the first task printed (default: %(default)s)")
    parser.add_argument("--seed", type=int, default=None, help="seed (procedural sources)")
    parser.add_argument("--difficulty", type=int, default=None, help="difficulty / level")
    parser.add_argument("--split", default=None, help="dataset split (e.g. train, test)")
    parser.add_argument("--path", default=None, help="dataset file or folder")
    parser.add_argument("--json", action="store_true", help="print tasks as JSON lines")


def _describe(factory) -> str:
    from ..cli import markdown_text

    doc = (getattr(factory, "__doc__", None) or "").strip()
    return markdown_text(doc.splitlines()[0]) if doc else ""


def _check_options(name: str, kwargs: dict) -> None:
    """Refuse (one line) a ``--seed``/``--difficulty``/``--split``/``--path`` the source does not take."""
    if not kwargs:
        return
    flags = ", ".join(f"--{k}" for k in kwargs)
    if name not in TASK_SOURCES:
        if not isinstance(name, str) or not name.endswith((".jsonl", ".json")):
            return  # load_tasks names the unknown source
        raise ValueError(f"{flags} do(es) not apply to a task file ({name})")
    params = inspect.signature(TASK_SOURCES.get(name)).parameters
    if any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params.values()):
        return
    bad = [k for k in kwargs if k not in params]
    if bad:
        takes = [f"--{k}" for k in ("seed", "difficulty", "split", "path") if k in params]
        raise ValueError(f"task source {name!r} does not take {', '.join('--' + k for k in bad)} "
                         f"(it takes: {', '.join(takes) or 'none of these options'})")


def run(args: argparse.Namespace) -> int:
    if not args.show:
        width = max(len(n) for n in TASK_SOURCES.names())
        for name, factory in TASK_SOURCES.items():
            print(f"{name:<{width}}  {_describe(factory)}")
        return 0
    kwargs = {k: getattr(args, k) for k in ("seed", "difficulty", "split", "path") if getattr(args, k) is not None}
    _check_options(args.show, kwargs)
    source = load_tasks(args.show, **kwargs)  # bad names, files, values: one line from the top-level CLI
    stop = min(len(source), args.start + max(0, args.n))
    for i in range(args.start, stop):
        task = source[i]
        if args.json:
            print(json.dumps(task.to_dict(), ensure_ascii=False))
            continue
        print(f"--- {task.id} ({task.kind})")
        print(task.prompt)
        if task.answer is not None:
            print(f"answer: {task.answer}")
        if task.entry_point:
            print(f"entry point: {task.entry_point}")
        if task.tests:
            tests = [task.tests] if isinstance(task.tests, str) else list(task.tests)
            print("tests:")
            for test in tests:
                print("    " + test.strip("\n").replace("\n", "\n    "))
        meta = {k: v for k, v in task.metadata.items() if k != "solution" and not isinstance(v, (dict, list))}
        if meta:
            print(f"metadata: {meta}")
    print(f"({len(source)} tasks in {source.name})", file=sys.stderr if args.json else sys.stdout)
    return 0
