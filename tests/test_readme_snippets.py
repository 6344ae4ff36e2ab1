"""Every Python snippet of README.md runs, exactly as written, and every ``llm-marl`` command the
README shows parses (each subcommand's ``--help`` lists each flag used).

Ownership of the Python snippets: those of the section "Plug in your own agent" run in
``tests/test_readme_agents.py`` (a loopback OpenAI server, the slow SmolLM2 one, vLLM where it
imports), the first one of "## Learners" in ``tests/test_readme_learners.py``; every other one runs
here, in a fresh interpreter from the repository root. A snippet preceded by
``<!-- readme-test: skip REASON -->`` is skipped with that reason (for GPU or network snippets).
The test below checks that every snippet has exactly one of these owners.
"""

from __future__ import annotations

import functools
import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import shared_data_present

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text(encoding="utf-8")
BLOCK = re.compile(r"```(python|bash)\n(.*?)\n```", re.S)
SKIP = re.compile(r"<!--\s*readme-test:\s*skip\s+(.*?)\s*-->\s*$", re.S)


def blocks(lang: str) -> list[tuple[int, str, str | None]]:
    """``(offset, code, skip reason or None)`` of every ``lang`` block of the README, in order."""
    out = []
    for m in BLOCK.finditer(README):
        if m.group(1) == lang:
            before = README[: m.start()].rstrip("\n")
            skip = SKIP.search(before[-300:])
            out.append((m.start(), m.group(2), skip.group(1) if skip else None))
    return out


def owner(offset: int, code: str) -> str:
    """Which test runs the Python snippet at ``offset``."""
    a, b = README.index("<!-- agents:start -->"), README.index("<!-- agents:end -->")
    if a < offset < b:
        return "tests/test_readme_agents.py"
    learners = README.index("## Learners")
    first_after = next((o for o, _, _ in blocks("python") if o > learners), None)
    if offset == first_after:
        return "tests/test_readme_learners.py"
    return "here"


PYTHON = blocks("python")
HERE = [(o, code, skip) for o, code, skip in PYTHON if owner(o, code) == "here"]


def line_of(offset: int) -> int:
    return README.count("\n", 0, offset) + 1


def test_every_python_snippet_has_exactly_one_runner():
    from tests import test_readme_agents

    agents = [code for o, code, _ in PYTHON if owner(o, code) == "tests/test_readme_agents.py"]
    assert agents == test_readme_agents.SNIPPETS  # that test parametrizes over exactly these
    learners = [code for o, code, _ in PYTHON if owner(o, code) == "tests/test_readme_learners.py"]
    assert len(learners) == 1
    assert len(HERE) >= 2  # the env snippet and the task-file snippet at least
    assert len(PYTHON) == len(agents) + len(learners) + len(HERE)


@pytest.mark.parametrize("offset, code, skip", HERE, ids=[f"README.md:{line_of(o)}" for o, _, _ in HERE])
def test_python_snippet_runs_as_written(offset, code, skip):
    if skip:
        pytest.skip(skip)
    proc = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=300,
                          env={**os.environ, "PYTHONWARNINGS": "error::DeprecationWarning:__main__"})
    if proc.returncode and "DatasetNotFoundError" in proc.stderr and not shared_data_present():
        pytest.skip(f"README.md:{line_of(offset)} reads benchmark data, not beside this checkout")
    assert proc.returncode == 0, f"README.md:{line_of(offset)} failed:\n{code}\n--- stderr ---\n{proc.stderr[-3000:]}"
    if "reasoner_0 True" in code:
        assert proc.stdout.strip().endswith("reasoner_0 True")
    if "examples/tasks.jsonl" in code:
        assert proc.stdout.startswith("4 tasks: apples (math), half (math), add (code), rev (code)")


# --- the llm-marl commands -------------------------------------------------------------------

def readme_commands() -> list[list[str]]:
    """Every ``llm-marl ...`` command of the README: bash blocks and inline code spans."""
    texts = [line for _, code, _ in blocks("bash") for line in code.splitlines()]
    texts += re.findall(r"`([^`\n]*\bllm-marl [^`\n]*)`", README)
    commands = []
    for text in texts:
        for part in re.split(r"&&|;", text):
            try:
                words = shlex.split(part)
            except ValueError:
                words = part.split()
            for i, w in enumerate(words):
                if w.endswith("llm-marl") and i + 1 < len(words):
                    commands.append(words[i + 1 :])
                    break
    return commands


COMMANDS = readme_commands()


@functools.cache
def _help(argv: tuple[str, ...]) -> str:
    proc = subprocess.run([sys.executable, "-m", "llm_marl_envs.cli", *argv, "--help"], cwd=ROOT,
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, f"llm-marl {' '.join(argv)} --help failed:\n{proc.stderr[-2000:]}"
    return proc.stdout


def help_of(words: list[str]) -> str:
    """``llm-marl SUB [BENCHMARK] --help`` (each asked once per session)."""
    from llm_marl_envs.cli import SUBCOMMANDS

    sub = words[0]
    assert sub in SUBCOMMANDS, f"README uses unknown subcommand {sub!r}"
    argv = [sub]
    if sub == "bench":
        argv.append(next(w for w in words[1:] if not w.startswith("-") and w != "|"))
    return _help(tuple(argv))


def test_the_readme_shows_the_main_subcommands():
    used = {words[0] for words in COMMANDS}
    assert {"rollout", "tasks", "envs", "train", "bench"} <= used


@pytest.mark.parametrize("words", COMMANDS, ids=[" ".join(w)[:60] for w in COMMANDS])
def test_readme_command_flags_parse(words):
    text = help_of(words)
    for flag in (w.split("=", 1)[0] for w in words if w.startswith("--")):
        assert re.search(rf"(?<![\w-]){re.escape(flag)}(?![\w-])", text), f"{flag} not in llm-marl {words[0]} --help"


RUNNABLE = [w for w in COMMANDS if w[0] in ("envs", "tasks", "rollout") and w != ["rollout"]  # (needs an env id)
            and not any("<" in x or x == "|" or x.startswith("HEAD:") for x in w)]  # a cluster's head: run by test_ray_cluster_readme


@pytest.mark.parametrize("words", RUNNABLE, ids=[" ".join(w)[:60] for w in RUNNABLE])
def test_readme_quick_commands_run_as_written(words, tmp_path):
    """The fast commands run for real, from a folder that has the repository's ``examples/``."""
    (tmp_path / "examples").symlink_to(ROOT / "examples")
    proc = subprocess.run([sys.executable, "-m", "llm_marl_envs.cli", *words], cwd=tmp_path,
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, f"llm-marl {' '.join(words)}:\n{proc.stderr[-2000:]}"
    if words[0] == "rollout":
        assert "mean reward 1.000" in proc.stdout and f"-> {tmp_path / 'eps.jsonl'}" in proc.stdout
