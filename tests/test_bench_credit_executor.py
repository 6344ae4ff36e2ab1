"""``llm-marl bench credit --executor ray --workers N [--ray-address ADDR]``: the benchmark's rollouts
(training, held-out evaluation, diagnostic replays) run on Ray env actors, through ``TrainConfig``'s
executor fields (the path ``llm-marl train`` takes), with exactly the numbers of the local executor."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("ray", reason="Ray tests need the ray extra: pip install 'llm-marl-envs[ray]'")

from algorithms.bench.credit import run_credit_benchmark  # noqa: E402
from algorithms.bench.presets import get_preset  # noqa: E402
from algorithms.testbed import TestbedConfig  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
TINY = TestbedConfig(hidden_size=32, num_layers=1, num_heads=2, n_sft_tasks=12, steps=3, batch_size=8, warmup_steps=1)
TIMING = ("wall_s", "rollout_s")


def _numbers(x) -> str:
    """``x`` without wall-clock times, run directories and the executor settings (all else must match), as
    JSON text (NaN, a metric without data, then equals NaN)."""
    def strip(y):
        if isinstance(y, dict):
            return {k: strip(v) for k, v in y.items()
                    if not k.endswith(TIMING) and k not in ("out_dir", "executor", "workers", "ray_address")}
        return [strip(v) for v in y] if isinstance(y, list) else y

    return json.dumps(strip(x), sort_keys=True, default=str)


def test_bench_credit_on_ray_gives_the_local_numbers(ray_cluster, tmp_path, monkeypatch):
    import llm_marl_envs.rollout.runner as runner_module

    monkeypatch.setenv("LLM_MARL_CACHE", str(tmp_path / "cache"))
    built: list = []
    real = runner_module.make_executor

    def recording(*args, **kwargs):
        built.append(real(*args, **kwargs))
        return built[-1]

    monkeypatch.setattr(runner_module, "make_executor", recording)
    preset = get_preset("quick", toy=True, learners=("grpo", "c3"), budget=4, seeds=(0,), diag_buckets=1,
                        max_tokens=6, eval_k=1)
    local = run_credit_benchmark(preset, tmp_path / "local", testbed_config=TINY, log=None, plots=False)
    assert {type(e).__name__ for e in built} == {"LocalExecutor"}
    built.clear()
    on_ray = run_credit_benchmark(preset, tmp_path / "ray", testbed_config=TINY, log=None, plots=False,
                                  executor="ray", workers=2)
    # every run's rollouts went through 2 Ray env actors, released when the run ended
    assert [(type(e).__name__, e.workers) for e in built] == [("RayExecutor", 0)] * len(preset.learners)
    assert on_ray["executor"] == {"executor": "ray", "workers": 2, "ray_address": None}
    assert [r["train_config"]["executor"] for r in on_ray["runs"]] == ["ray"] * len(preset.learners)
    assert all(r["diagnostics"]["buckets"] == 1 for r in on_ray["runs"])  # the replays ran too
    assert _numbers(on_ray["runs"]) == _numbers(local["runs"])
    assert _numbers(on_ray["summary"]) == _numbers(local["summary"])
    # the same folder resumes with the other executor (it changes no number): nothing is redone
    again = run_credit_benchmark(preset, tmp_path / "ray", testbed_config=TINY, log=None, plots=False)
    assert _numbers(again["runs"]) == _numbers(local["runs"])


def _cli(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "llm_marl_envs.cli", "bench", "credit", "--toy", *args],
                          capture_output=True, text=True, cwd=cwd, timeout=180)


def test_cli_refuses_bad_executor_settings_in_one_line_before_creating_anything(tmp_path):
    with socket.socket() as s:  # a port nothing listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    out = tmp_path / "never"
    cases = {
        ("--workers", "2"): "the local executor runs one in-process worker",
        ("--ray-address", "10.0.0.1:6379"): "only applies to executor='ray'",
        ("--executor", "ray", "--workers", "2", "--ray-address", f"127.0.0.1:{port}"): "does not answer",
    }
    for args, message in cases.items():
        proc = _cli(*args, "--out", str(out), cwd=tmp_path)
        assert proc.returncode == 2, proc.stderr[-2000:]
        lines = proc.stderr.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("llm-marl bench credit: ") and message in lines[0], proc.stderr
        assert not out.exists()
    help_text = " ".join(_cli("--help", cwd=tmp_path).stdout.split())
    for flag in ("--executor {local,ray}", "--workers", "--ray-address"):
        assert flag in help_text
