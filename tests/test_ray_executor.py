"""The Ray executor on a real local Ray (one node): same episodes and trees as the local executor, and a
worker actor killed mid-run loses no episode and counts none twice."""

from __future__ import annotations

import json

import pytest

pytest.importorskip("ray", reason="Ray tests need the ray extra: pip install 'llm-marl-envs[ray]'")

from agents import OracleAgent, RandomAgent  # noqa: E402
from llm_marl_envs import make  # noqa: E402
from llm_marl_envs.rollout import RolloutRunner  # noqa: E402


@pytest.fixture(scope="module")
def ray_cluster():
    """A real one-node Ray started by the test (2 CPUs, 100 MB object store), shut down after."""
    import ray

    if ray.is_initialized():
        ray.shutdown()
    ray.init(num_cpus=2, include_dashboard=False, object_store_memory=100 * 1024**2, log_to_driver=False)
    yield ray
    ray.shutdown()

ENV = "llm-marl/MathDyad-v0"


def _dump(items) -> str:
    return json.dumps([x.to_dict() for x in items], sort_keys=True, default=str)


def _runner(policy, executor: str, workers: int = 1) -> RolloutRunner:
    return RolloutRunner(ENV, policy, env_kwargs={"tasks": "arith"}, executor=executor, workers=workers,
                         progress=False)


def test_ray_gives_byte_identical_episodes_and_trees(ray_cluster):
    local = _runner(RandomAgent(seed=3), "local")
    ray_runner = _runner(RandomAgent(seed=3), "ray", workers=2)
    try:
        assert _dump(ray_runner.run_episodes([0, 1, 2], n_per_task=3, seed=7)) == _dump(
            local.run_episodes([0, 1, 2], n_per_task=3, seed=7))
        assert _dump(ray_runner.run_trees([0, 1], fanout=[2, 2], seed=5)) == _dump(
            local.run_trees([0, 1], fanout=[2, 2], seed=5))
    finally:
        ray_runner.close()


class _KillAtStep:
    """An oracle that kills the first Ray worker actor on its ``kill_at``-th call."""

    def __init__(self, inner, runner_box, kill_at: int) -> None:
        self.inner, self.box, self.kill_at, self.calls = inner, runner_box, kill_at, 0

    def generate(self, prompts, params):
        self.calls += 1
        if self.calls == self.kill_at:
            import ray

            ray.kill(self.box[0].executor.actors()[0], no_restart=True)
        return self.inner.generate(prompts, params)


def test_killed_worker_loses_no_episode_and_counts_none_twice(ray_cluster):
    tasks = [make(ENV, tasks="arith").unwrapped.task_source[i] for i in range(4)]
    local = _runner(OracleAgent(tasks), "local")
    expected = local.run_episodes(list(range(4)), n_per_task=2, seed=1)
    box: list = []
    policy = _KillAtStep(OracleAgent(tasks), box, kill_at=2)
    runner = _runner(policy, "ray", workers=2)
    box.append(runner)
    try:
        episodes = runner.run_episodes(list(range(4)), n_per_task=2, seed=1)
    finally:
        runner.close()
    assert policy.calls >= 2
    assert [e.episode_id for e in episodes] == [e.episode_id for e in expected]
    assert _dump(episodes) == _dump(expected)
    assert runner.last_stats.episodes == len(expected)


def test_rollout_cli_with_ray_executor_matches_local(ray_cluster, tmp_path):
    """``llm-marl rollout --executor ray --workers 2`` writes the same episodes as the local executor."""
    from llm_marl_envs.cli import main

    outs = {}
    for kind in ("local", "ray"):
        out = tmp_path / f"{kind}.jsonl"
        assert main(["rollout", ENV, "--policy", "random", "--tasks", "3", "--n", "2", "--seed", "4",
                     "--executor", kind, "--workers", "2" if kind == "ray" else "1", "--out", str(out), "--no-progress"]) == 0
        outs[kind] = [line for line in out.read_text().splitlines() if '"episode_id"' in line]
    assert outs["ray"] == outs["local"] and len(outs["local"]) == 6


def test_verifier_pool_on_ray_actors_gives_the_local_verdicts(ray_cluster):
    """``RayVerifierPool`` splits a batch over actors and returns the local verifier's verdicts, in order."""
    from llm_marl_envs.rollout.ray_verifiers import RayVerifierPool
    from llm_marl_envs.verifiers import get_verifier

    source = make(ENV, tasks="arith").unwrapped.task_source
    tasks = [source[i] for i in range(6)]
    responses = [f"\\boxed{{{t.answer}}}" if i % 2 else "\\boxed{-1}" for i, t in enumerate(tasks)]
    pool = RayVerifierPool("math", actors=2)
    try:
        remote = pool.verify_many(responses, tasks)
    finally:
        pool.shutdown()
    local = get_verifier("math").verify_many(responses, tasks)
    assert [v.to_dict() for v in remote] == [v.to_dict() for v in local]
    assert [v.correct for v in remote] == [bool(i % 2) for i in range(6)]


def test_an_address_that_does_not_answer_is_one_line_and_fast():
    import socket
    import time

    from llm_marl_envs.rollout.ray_cluster import RayAddressError, check_address

    with socket.socket() as s:  # a port nothing listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    start = time.perf_counter()
    with pytest.raises(RayAddressError) as err:
        check_address(f"127.0.0.1:{port}", timeout_s=1.0)
    assert time.perf_counter() - start < 5 and "\n" not in str(err.value) and str(port) in str(err.value)


def test_asking_for_another_cluster_while_connected_is_refused(ray_cluster):
    from llm_marl_envs.rollout.ray_cluster import RayAddressError, connect

    with pytest.raises(RayAddressError, match="already connected"):
        connect("127.0.0.1:1")
    assert connect() is ray_cluster  # no address: the connected Ray is reused
