"""The Ray executor on a real local Ray (one node): same episodes and trees as the local executor, and a
worker actor killed mid-run loses no episode and counts none twice."""

from __future__ import annotations

import json

import pytest

pytest.importorskip("ray", reason="Ray tests need the ray extra: pip install 'llm-marl-envs[ray]'")

from agents import OracleAgent, RandomAgent  # noqa: E402
from llm_marl_envs import make  # noqa: E402
from llm_marl_envs.rollout import RolloutRunner  # noqa: E402

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


CODE_ENV = "llm-marl/CodeVote-v0"


def test_sandbox_workers_gives_a_worker_its_own_pool_of_that_size():
    """``sandbox_workers=N``: the worker's envs verify code on its own pool of N sandboxes (not the
    process's shared one), which ``shutdown`` closes; the other settings are refused with one line."""
    from llm_marl_envs.rollout.executor import make_executor
    from llm_marl_envs.rollout.worker import EnvWorker

    worker = EnvWorker(CODE_ENV, {"tasks": "mbpp"}, sandbox_workers=1)
    try:
        assert worker.sandbox is not None and worker.sandbox.workers == 1
        env = worker._free[0].unwrapped
        assert env.verifier_for("code").sandbox is worker.sandbox
    finally:
        worker.shutdown()
    assert worker.sandbox._closed
    assert EnvWorker(CODE_ENV, {"tasks": "mbpp"}).sandbox is None  # default: the shared pool
    with pytest.raises(ValueError, match="not both"):
        EnvWorker(CODE_ENV, {"verifier": "code"}, sandbox_workers=1)
    with pytest.raises(ValueError, match=">= 1"):
        make_executor("local", CODE_ENV, sandbox_workers=0)
    with pytest.raises(TypeError, match="env id"):
        EnvWorker(lambda: make(CODE_ENV), sandbox_workers=1)


def test_ray_workers_with_their_own_sandbox_pools_play_the_local_episodes(ray_cluster):
    """Two Ray workers holding one sandbox each score code episodes exactly as the local executor."""
    from llm_marl_envs.rollout.executor import make_executor

    tasks = [make(CODE_ENV, tasks="mbpp").unwrapped.task_source[i] for i in range(3)]
    local = _code_runner(tasks, make_executor("local", CODE_ENV, {"tasks": "mbpp"}, sandbox_workers=1))
    remote = _code_runner(tasks, make_executor("ray", CODE_ENV, {"tasks": "mbpp"}, workers=2, sandbox_workers=1))
    try:
        assert len({pid for _, pid in remote.executor.where()}) == 2
        expected = local.run_episodes(tasks, n_per_task=2, seed=3)
        assert _dump(remote.run_episodes(tasks, n_per_task=2, seed=3)) == _dump(expected)
        assert [e.reward for e in expected] == [1.0] * 6 and local.last_stats.verifier_calls == 3
    finally:
        local.executor.shutdown()
        remote.executor.shutdown()


def _code_runner(tasks, executor) -> RolloutRunner:
    return RolloutRunner(CODE_ENV, OracleAgent(tasks), executor=executor, progress=False)


def test_ray_resolve_returns_given_tasks_without_a_round_trip(ray_cluster):
    """``resolve`` of ``Task``s hands back the same objects (only indices go to a worker)."""
    from llm_marl_envs.rollout.ray_executor import RayExecutor

    ex = RayExecutor(ENV, {"tasks": "arith"}, workers=1)
    try:
        tasks = ex.resolve([0, 1])
        assert [t.id for t in tasks] == [make(ENV, tasks="arith").unwrapped.task_source[i].id for i in range(2)]
        again = ex.resolve(tasks)
        assert all(a is b for a, b in zip(again, tasks, strict=True))
    finally:
        ex.shutdown()


def test_one_round_trip_per_step_pending_comes_back_with_submit(ray_cluster):
    """``submit`` brings back the worker's next decisions: ``pending()`` then needs no round trip
    (it answers even though the actor was just killed; the next ``submit`` replaces the actor and
    replays), and ``close`` drops closed episodes' decisions at once, sending nothing itself."""
    import ray

    from llm_marl_envs.rollout.executor import make_executor
    from llm_marl_envs.rollout.worker import EpisodeSpec

    tasks = [make(ENV, tasks="arith").unwrapped.task_source[i] for i in range(2)]
    oracle = OracleAgent(tasks)
    results = {}
    for kind in ("local", "ray"):
        ex = make_executor(kind, ENV, {"tasks": "arith"})
        try:
            ex.open([EpisodeSpec(f"e{i}", t, seed=i) for i, t in enumerate(tasks)])
            first = ex.pending()
            ex.submit({d.key: {d.agent: oracle.generate([d.conversation])[0].text} for d in first})
            if kind == "ray":
                ray.kill(ex.actors()[0], no_restart=True)
            second = ex.pending()
            if kind == "ray":
                assert ex.replacements == 0  # served from what submit brought back
            ex.close(["e1"])
            assert [d.key for d in ex.pending()] == ["e0"]
            done = ex.submit({d.key: {d.agent: oracle.generate([d.conversation])[0].text} for d in second if d.key == "e0"})
            results[kind] = (first, second, [(f.key, f.reward) for f in done])
            if kind == "ray":
                assert ex.replacements == 1 and ex.replayed_episodes == 1
        finally:
            ex.shutdown()
    assert results["ray"] == results["local"] and results["local"][2] == [("e0", 1.0)]
