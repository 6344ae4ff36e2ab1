"""``benchmarks/serve.py`` at tiny size: a real ``llm-marl serve`` subprocess, 2 clients, 2 episodes,
every path (in-process x1 / xC, HTTP, WebSocket); the structure of its results and table, and the
reward-equality check that makes the benchmark fail loudly."""

from __future__ import annotations

import copy
import importlib.util
import statistics
import sys
from pathlib import Path

import pytest

pytest.importorskip("openenv")
pytest.importorskip("httpx")
pytest.importorskip("uvicorn")

ROOT = Path(__file__).resolve().parents[1]


def _load():
    spec = importlib.util.spec_from_file_location("bench_serve", ROOT / "benchmarks" / "serve.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules["bench_serve"] = module
    spec.loader.exec_module(module)
    return module


bench = _load()
ENV = "llm-marl/MathDyad-v0"


@pytest.fixture(scope="module")
def results():
    return bench.run_benchmark(["MathDyad-v0"], clients=2, episodes=2, repeats=2, n_tasks=4)


def test_every_path_is_measured_with_spread_ratios_latency_and_load(results):
    assert results["server"]["startup_s"] > 0 and results["server"]["url"].startswith("http://127.0.0.1:")
    assert len(results["load_average_start"]) == 3 and len(results["load_average_end"]) == 3
    env = results["envs"][ENV]
    assert env["clients"] == 2 and env["episodes"] == 2 and env["rewards_equal"] is True
    assert list(env["paths"]) == list(bench.PATHS)
    for path, s in env["paths"].items():
        sp = s["steps_per_s"]
        assert 0 < sp["min"] <= sp["median"] <= sp["max"], path
        assert 0 < s["step_p50_ms"] <= s["step_p95_ms"], path
        assert s["mean_reward"] == 1.0, path  # the oracle team solves every task on every path
        assert [r["repeat"] for r in s["runs"]] == [0, 1]
        assert all(r["episodes"] == 2 and r["steps"] == 4 for r in s["runs"])  # dyad: 2 steps per episode
        if path != "in-process x1":
            ratio = s["ratio_vs_inprocess_x1"]
            paired = [r["steps_per_s"] / a["steps_per_s"] for r, a in zip(s["runs"], env["paths"]["in-process x1"]["runs"], strict=True)]
            assert ratio["median"] == pytest.approx(statistics.median(paired))
            assert ratio["min"] <= ratio["median"] <= ratio["max"]
    table = bench.markdown_table(results)
    rows = [line for line in table.splitlines() if line.startswith(f"| {ENV} |")]
    assert [row.split(" | ")[1] for row in rows] == ["in-process x1", "in-process x2", "http x2", "ws x2"]
    assert "load average" in table and "equal in-process: True" in table


def test_served_episodes_equal_in_process_and_a_difference_fails_loudly():
    oracle = bench.oracle_for(ENV, 4)
    assignment = [[0, 2], [1, 3]]
    anchor, _ = bench.run_inprocess(ENV, oracle, assignment, 4, 1)
    assert [r["episode"] for r in anchor] == [0, 2, 1, 3]
    assert all(r["rewards"] == {"thinker_0": 1.0, "reasoner_0": 1.0} and r["verdict"]["correct"] for r in anchor)
    threaded, _ = bench.run_inprocess(ENV, oracle, assignment, 4, 2)
    bench.check_equal(ENV, "in-process x2", threaded, anchor)
    for field, value in (("rewards", {"thinker_0": 0.0, "reasoner_0": 0.0}), ("task_id", "other"), ("steps", 3)):
        bad = copy.deepcopy(threaded)
        bad[1][field] = value
        with pytest.raises(bench.RewardMismatch, match=f"episode {bad[1]['episode']} in-process x2: {field}"):
            bench.check_equal(ENV, "in-process x2", bad, anchor)
    bad = copy.deepcopy(threaded)
    bad[0]["verdict"] = {**bad[0]["verdict"], "score": 0.5}
    with pytest.raises(bench.RewardMismatch, match="verdict"):
        bench.check_equal(ENV, "in-process x2", bad, anchor)
    with pytest.raises(bench.RewardMismatch, match="episodes"):
        bench.check_equal(ENV, "in-process x2", threaded[:3], anchor)
