"""Guards on the package layering and on the README/CI contract."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_env_package_never_imports_torch():
    code = (
        "import sys, llm_marl_envs, llm_marl_envs.tasks, llm_marl_envs.verifiers, llm_marl_envs.cli;"
        "import agents;"
        "bad = [m for m in ('torch', 'transformers') if m in sys.modules];"
        "print(','.join(bad))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "", f"importing the env package pulled in: {out.stdout}"


def test_agents_and_algorithms_resolve_to_this_checkout():
    import agents
    import algorithms

    for mod in (agents, algorithms):
        assert Path(mod.__file__).resolve().is_relative_to(ROOT), f"{mod.__name__} resolves to {mod.__file__}"


def _readme_commands() -> list[str]:
    text = (ROOT / "README.md").read_text()
    blocks = re.findall(r"```bash\n(.*?)\n```", text, flags=re.S)
    return [b.strip() for b in blocks[:2]]


def test_readme_opens_with_two_commands_and_ci_runs_the_test_one():
    setup_and_main, tests = _readme_commands()
    assert setup_and_main.startswith("bash scripts/setup.sh && ")
    assert "llm-marl bench lab --quick" in setup_and_main
    assert "llm-marl train --preset testbed" in setup_and_main  # the short run on a real transformer
    assert tests.startswith("bash scripts/setup.sh --with-browser && ") and "pytest" in tests
    ci = (ROOT / ".ci" / "run").read_text()
    # .ci/run extracts the first README line that runs pytest after the set-up: check it is this one.
    pattern = re.search(r"grep -m1 -E '([^']+)' README.md", ci).group(1)
    lines = (ROOT / "README.md").read_text().splitlines()
    assert next(line for line in lines if re.search(pattern, line)) == tests


def test_cli_help_and_version():
    exe = [sys.executable, "-m", "llm_marl_envs.cli"]
    help_out = subprocess.run([*exe, "--help"], capture_output=True, text=True, check=True).stdout
    for cmd in ("envs", "train", "bench", "doctor"):
        assert cmd in help_out
    version = subprocess.run([*exe, "--version"], capture_output=True, text=True, check=True).stdout
    assert "0.1.0" in version


def test_cli_takes_bare_env_names_and_answers_bad_names_in_one_line(capsys):
    """Regression: ``llm-marl envs MathDyad-v0`` and unknown ids/learners printed tracebacks."""
    from llm_marl_envs.cli import main

    assert main(["envs", "MathDyad-v0"]) == 0
    assert "llm-marl/MathDyad-v0" in capsys.readouterr().out
    for argv in (["envs", "Nope-v0"], ["rollout", "Nope-v0"], ["train", "--learner", "nope"]):
        assert main(argv) == 2
        err = capsys.readouterr().err
        assert err.startswith(f"llm-marl {argv[0]}: unknown ") and "Traceback" not in err


def test_importing_the_package_registers_ids_with_pettingzoo():
    code = (
        "import pettingzoo, llm_marl_envs;"
        "env = pettingzoo.make('aec', 'llm-marl/MathVote-v0'); env.reset(seed=0);"
        "par = pettingzoo.make('parallel', 'llm-marl/CodeDyad-v0'); par.reset(seed=0);"
        "print(sorted(env.possible_agents))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "['solver_0', 'solver_1', 'solver_2']"
