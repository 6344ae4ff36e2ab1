"""``benchmarks/executors.py`` at tiny size on a real local Ray: its results have the documented
structure, and the local executor, Ray with 1 worker and Ray with 2 workers played the same
episodes (same rewards, same digests) while really running the sandboxed tests every repeat.
Correctness of the benchmark, not speed."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

pytest.importorskip("ray", reason="the executors benchmark needs the ray extra: pip install 'llm-marl-envs[ray]'")

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))

import executors as bench  # noqa: E402

TINY = bench.Size(code_tasks=3, code_n=2, math_tasks=2, math_n=1, overhead_tasks=2, overhead_runs=2, repeats=2)


def test_measure_runs_every_configuration_on_the_same_fresh_episodes(ray_cluster):
    workload = bench.code_workload(TINY, 1)
    res = bench.measure(workload, repeats=2, log=None)
    assert res["same_episodes"] is True and res["episodes_per_run"] == 6
    assert set(res["configs"]) == {"local", "ray1", "ray2"}
    rewards = res["configs"]["local"]["rewards"]
    for name, row in res["configs"].items():
        assert row["rewards"] == rewards == [[1.0] * 6] * 2  # the oracle team, every repeat, every config
        assert len(row["rates"]) == 2 and all(r > 0 for r in row["rates"])
        assert row["eps_per_s"]["min"] <= row["eps_per_s"]["median"] <= row["eps_per_s"]["max"]
        assert row["startup_s"] > 0 and row["workers"] == (2 if name == "ray2" else 1)
        # tagged responses: no verdict cached across repeats or configs, one verification per episode
        assert row["verifier_calls"] == [6, 6]
    assert res["configs"]["local"]["ratio_vs_local"]["median"] == 1.0
    assert res["ratio_2w_1w"]["median"] > 0
    table = bench.table([res])
    assert table.count("\n") == 4 and "| ray2 | 2 |" in table and "| yes |" in table
    checks = bench.checks([res])
    assert [c["check"].split(": ")[1] for c in checks] == ["ray1 >= 0.9 x local", "ray2 >= 1.6 x ray1"]


def test_overhead_and_boundary_traffic_are_measured(ray_cluster):
    source = bench.make(bench.MATH_ENV, tasks="arith").unwrapped.task_source
    tasks = [source[i] for i in range(2)]
    over = bench.measure_overhead(tasks, runs=2, repeats=1, configs=bench.CONFIGS[:2])
    assert set(over["ms_per_step"]) == {"local", "ray1"} and set(over["overhead_ms_per_step"]) == {"ray1"}
    assert over["actor_round_trip_ms"]["median"] > 0
    traffic = bench.boundary_traffic(bench.code_workload(TINY, 1))
    assert traffic["steps"] == 1 and traffic["calls"] == {"open": 1, "pending": 1, "submit": 1, "close": 1}
    assert traffic["bytes_per_step"] > 1000
    est = bench.multinode_estimate([traffic], rtt_ms=1.0, bandwidth_mb_s=1.0)[0]
    assert traffic["round_trips_per_step"] == 2  # open and submit (pending and close ride along)
    assert est["added_ms_per_step"] == pytest.approx(2.0 + traffic["bytes_per_step"] / 1000)
