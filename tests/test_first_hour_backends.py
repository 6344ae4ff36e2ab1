"""Issue 14: ``llm-marl rollout --policy testbed`` works. The testbed lives in ``algorithms`` and
``agents`` never imports it: it arrives in ``agents.BACKENDS`` as an entry point of the group
``llm_marl.backends``, imported only when asked for; unknown names still fail in one line."""

from __future__ import annotations

import subprocess
import sys
from importlib import metadata
from pathlib import Path

import pytest
import tomllib

from llm_marl_envs.registry import Registry
from llm_marl_envs.rollout import load_jsonl
from llm_marl_envs.rollout.data import Episode

ROOT = Path(__file__).resolve().parents[1]
LLM_MARL = [sys.executable, "-m", "llm_marl_envs.cli"]


def _fake_plugin(root: Path, module: str, group: str, name: str) -> None:
    """An installed distribution (a real ``.dist-info`` on ``sys.path``) declaring one entry point."""
    (root / f"{module}.py").write_text(f"import sys\nsys.modules[__name__].loaded = True\nPLUGIN = {name!r}\n")
    info = root / f"{module}-0.1.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {module}\nVersion: 0.1\n")
    (info / "entry_points.txt").write_text(f"[{group}]\n{name} = {module}:PLUGIN\n")


def test_a_registry_offers_entry_points_and_imports_one_only_when_asked(tmp_path, monkeypatch):
    _fake_plugin(tmp_path, "fh_plugin_mod", "llm_marl.test_widgets", "gizmo")
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.delitem(sys.modules, "fh_plugin_mod", raising=False)
    reg: Registry[str] = Registry("widget", entry_points="llm_marl.test_widgets")
    reg.register("local", "L")
    assert reg.names() == ["gizmo", "local"] and "gizmo" in reg and len(reg) == 2
    assert "fh_plugin_mod" not in sys.modules  # listed, not imported
    with pytest.raises(KeyError) as err:
        reg.get("nope")
    assert err.value.args[0] == "unknown widget 'nope'; registered: gizmo, local"
    assert "fh_plugin_mod" not in sys.modules  # an unknown name imports no plugin either
    assert reg.get("gizmo") == "gizmo" and sys.modules["fh_plugin_mod"].loaded
    assert reg.items() == [("gizmo", "gizmo"), ("local", "L")]
    plain: Registry[str] = Registry("widget")  # without a group, entry points are not looked at
    assert "gizmo" not in plain and plain.names() == []


def test_the_testbed_entry_point_is_declared_and_installed():
    declared = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["entry-points"]["llm_marl.backends"]
    assert declared == {"testbed": "algorithms.testbed:testbed_policy"}
    installed = {ep.name: ep.value for ep in metadata.entry_points(group="llm_marl.backends")}
    assert installed == declared, "the installed metadata is stale: run 'pip install -e .' (scripts/setup.sh does)"


def test_agents_lists_testbed_without_importing_algorithms_or_torch():
    code = (
        "import sys, agents;"
        "assert 'testbed' in agents.BACKENDS.names() and 'testbed' in agents.BACKENDS;"
        "print(sorted(m for m in ('algorithms', 'torch', 'transformers') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "[]"


@pytest.fixture(scope="module")
def tiny_testbed(tmp_path_factory) -> Path:
    """A real (tiny, 4-step) testbed checkpoint: the CLI loads it as ``--policy-arg model=...``."""
    from algorithms.testbed import TestbedConfig, pretrain

    config = TestbedConfig(hidden_size=32, num_layers=1, num_heads=2, n_sft_tasks=12, steps=4, batch_size=8,
                           warmup_steps=1)
    return pretrain(config, tmp_path_factory.mktemp("tb") / "testbed", log=None)


def test_rollout_cli_plays_the_testbed_policy_and_writes_episodes(tiny_testbed, tmp_path):
    """Regression: ``--policy testbed`` said ``unknown agent backend 'testbed'``."""
    out = tmp_path / "eps.jsonl"
    proc = subprocess.run(
        [*LLM_MARL, "rollout", "llm-marl/MathDyad-v0", "--policy", "testbed", "--tasks", "2", "--max-tokens", "16",
         "--policy-arg", f"model={tiny_testbed}", "--no-progress", "--out", str(out)],
        capture_output=True, text=True, cwd=tmp_path, timeout=300,
    )
    assert proc.returncode == 0, proc.stderr
    assert "llm-marl/MathDyad-v0: 2 episodes" in proc.stdout
    records = load_jsonl(out)
    episodes = [r for r in records if isinstance(r, Episode)]
    assert len(episodes) == 2
    assert all(len(e.messages) == 2 and all(isinstance(m.content, str) for m in e.messages) for e in episodes)


def test_rollout_cli_names_the_valid_backends_in_one_line_for_an_unknown_one(tmp_path):
    proc = subprocess.run([*LLM_MARL, "rollout", "llm-marl/MathDyad-v0", "--policy", "testbedd", "--tasks", "1"],
                          capture_output=True, text=True, cwd=tmp_path, timeout=120)
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("llm-marl rollout: unknown agent backend 'testbedd'; registered: ")
    names = lines[0].split("registered: ")[1].split(" (")[0].split(", ")
    assert {"oracle", "hf", "tiny", "testbed"} <= set(names)
