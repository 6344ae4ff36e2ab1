"""Executors side by side (issue #16): the local executor vs Ray with 1 and 2 env workers.

    .venv/bin/python benchmarks/executors.py --quick    # < 1 min
    .venv/bin/python benchmarks/executors.py            # ~3-5 min, stable medians
    .venv/bin/python benchmarks/executors.py --out /tmp/executors.json

Configurations, in one process, alternated repeat by repeat (local, ray1, ray2, local, ...):

* ``local``: ``LocalExecutor``, one in-process ``EnvWorker``;
* ``ray1`` / ``ray2``: ``RayExecutor`` with 1 / 2 ``EnvWorker`` actors on one local Ray started once
  (``ray.init(num_cpus=2)``). A *worker* = one env-worker process holding its envs, its verdict
  cache and its OWN sandbox pool of ``--sandbox-workers`` sandbox workers (``sandbox_workers=`` of
  the executor); the local executor's one worker holds the same pool. Scaling out = adding workers,
  each with the pool one worker holds. Each actor reserves ``--cpus-per-worker`` Ray CPUs (0.5: the
  three actors of ray1 and ray2 stay alive side by side on 2 CPUs between their measurements; Ray
  does not pin cores, so this is bookkeeping, not a limit).

Workloads (``RolloutRunner.run_episodes`` through an executor instance, the public API):

1. ``CodeVote`` (sandbox-bound): MBPP tasks, a scripted oracle team (the gold program); every
   response carries a tag naming the repeat and sample, so verdicts are never cached across repeats
   or configurations and every measured episode runs its sandboxed tests (``verifier calls`` per
   episode are reported). Pool sizes: ``1`` per worker (the required ratios are read here: one
   worker holds one sandbox) and, with ``--pools 1,default``, the default shared pool (two sandbox
   workers per CPU = 4 on this machine, so ONE worker already fills both cores).
2. ``MathDyad`` with the CPU ``testbed`` policy (transformers, in the driver): the checkpoint in
   ``$LLM_MARL_CACHE``/``~/.cache/llm-marl/testbed-*`` is loaded, never built here (the row is
   skipped if it is missing). Generation stays in the driver (one batched ``generate`` per step),
   so Ray workers only parallelise env and verifier work (``--torch-threads``, default 1).
3. Ray overhead per step: ``MathDyad`` with an oracle team and cached verdicts (a warm-up run fills
   the caches), many small runs; ms per step (one step = pending + generate + submit + close) for
   each configuration, the paired difference to local, and the bare actor round trip
   (``ray.get(actor.describe.remote())``).
4. Multi-node: what crosses the executor boundary per step (pickled bytes of open/pending/submit/
   close, measured through a counting proxy around the local executor) and the Ray executor's
   round trips per step (open and submit; pending and close ride along with them); a multi-node cluster adds about ``round trips x network RTT + bytes / bandwidth`` per step
   (an estimate from the measured numbers; the loopback round trip is measured, a network is not).

Episodes/s exclude Ray start-up and actor start-up (reported separately, seconds). Every
configuration plays the same episodes (same seeds, same generate calls): the table says whether
the episodes' digests matched. Required (issue #16): ray1 >= 0.9 x local on every workload, and
ray2 >= 1.6 x ray1 on the sandbox-bound workload with one sandbox per worker. The machine may be
shared: the load average at start and end is printed; compare the ratios of one run.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import pickle
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from agents.scripted import OracleAgent  # noqa: E402
from llm_marl_envs import make  # noqa: E402
from llm_marl_envs.policy import Generation, SamplingParams  # noqa: E402
from llm_marl_envs.rollout import RolloutRunner  # noqa: E402
from llm_marl_envs.rollout.executor import Executor, make_executor  # noqa: E402

CODE_ENV = "llm-marl/CodeVote-v0"
MATH_ENV = "llm-marl/MathDyad-v0"
CONFIGS: tuple[tuple[str, str, int], ...] = (("local", "local", 1), ("ray1", "ray", 1), ("ray2", "ray", 2))
REQUIRED_RAY1 = 0.9
REQUIRED_SCALING = 1.6


@dataclass
class Size:
    """How big each measurement is."""

    code_tasks: int
    code_n: int
    math_tasks: int
    math_n: int
    overhead_tasks: int
    overhead_runs: int
    repeats: int


QUICK = Size(code_tasks=24, code_n=2, math_tasks=4, math_n=2, overhead_tasks=8, overhead_runs=10, repeats=3)
DEFAULT = Size(code_tasks=64, code_n=4, math_tasks=32, math_n=4, overhead_tasks=8, overhead_runs=40, repeats=5)


class TaggedPolicy:
    """Wraps a policy: every generated text gets a trailing line naming ``tag`` and its position in
    the call (after the code fence: the program is the gold one, the response text is new), so no
    verdict cache ever answers it. ``tag = None`` passes texts through unchanged."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner
        self.tag: str | None = None

    def generate(self, prompts: list[Any], params: SamplingParams) -> list[Generation]:
        gens = list(self.inner.generate(prompts, params))
        if self.tag is None:
            return gens
        return [Generation(text=f"{g.text}\n\n(run {self.tag}, sample {i})", token_ids=g.token_ids,
                           logprobs=g.logprobs, finish_reason=g.finish_reason) for i, g in enumerate(gens)]


class CountingExecutor:
    """An ``Executor`` proxy that counts calls and the pickled bytes crossing each call (what a Ray
    executor would send to and receive from its workers), per method."""

    kind = "counting"

    def __init__(self, inner: Executor) -> None:
        self.inner = inner
        self.calls: dict[str, int] = {}
        self.bytes: dict[str, int] = {}
        self._open: set[str] = set()

    def _count(self, name: str, args: Any, result: Any) -> Any:
        self.calls[name] = self.calls.get(name, 0) + 1
        self.bytes[name] = self.bytes.get(name, 0) + len(pickle.dumps(args)) + len(pickle.dumps(result))
        return result

    def describe(self) -> Any:
        return self.inner.describe()

    def resolve(self, tasks: Sequence[Any]) -> Any:
        return self.inner.resolve(tasks)

    def open(self, specs: Sequence[Any]) -> Any:
        self._open.update(s.key for s in specs)
        return self._count("open", list(specs), self.inner.open(specs))

    def pending(self) -> Any:
        return self._count("pending", None, self.inner.pending())

    def submit(self, actions: Mapping[str, Mapping[str, str]]) -> Any:
        return self._count("submit", dict(actions), self.inner.submit(actions))

    def close(self, keys: Sequence[str]) -> None:
        known = [k for k in keys if k in self._open]  # the Ray executor sends only keys still open
        self._open.difference_update(known)
        self.inner.close(keys)
        if known:
            self._count("close", known, None)

    def stats(self) -> Any:
        return self.inner.stats()

    def shutdown(self) -> None:
        self.inner.shutdown()


# ---------------------------------------------------------------------------------------------- helpers
def loadavg() -> list[float]:
    """The 1, 5 and 15 minute load averages."""
    return [round(x, 2) for x in os.getloadavg()]


def start_ray(num_cpus: int = 2) -> tuple[Any, float]:
    """Start (or reuse) a private local Ray with ``num_cpus`` CPUs; returns (ray, seconds it took)."""
    from llm_marl_envs.rollout.ray_cluster import connect

    t = time.perf_counter()
    ray = connect(None, num_cpus=num_cpus, object_store_memory=200 * 1024**2)
    return ray, time.perf_counter() - t


def build_executor(kind: str, workers: int, env_id: str, env_kwargs: Mapping[str, Any], *,
                   sandbox_workers: int | None, cpus_per_worker: float) -> Executor:
    """The local executor (``make_executor``) or a ``RayExecutor`` of ``workers`` actors, each
    reserving ``cpus_per_worker`` Ray CPUs, every worker with a sandbox pool of ``sandbox_workers``."""
    if kind == "local":
        return make_executor("local", env_id, env_kwargs, sandbox_workers=sandbox_workers)
    from llm_marl_envs.rollout.ray_executor import RayExecutor

    return RayExecutor(env_id, env_kwargs, workers=workers, cpus_per_worker=cpus_per_worker,
                       sandbox_workers=sandbox_workers)


def digest(episodes: Sequence[Any]) -> str:
    """A digest of episodes as plain data (ids, messages, contexts, rewards, verdicts)."""
    blob = json.dumps([e.to_dict() for e in episodes], sort_keys=True, default=str)
    return hashlib.sha256(blob.encode()).hexdigest()[:16]


def spread(values: Sequence[float]) -> dict[str, float]:
    """Median, min and max of ``values``."""
    return {"median": statistics.median(values), "min": min(values), "max": max(values)}


@dataclass
class Workload:
    """One row group: an env, its kwargs, the tasks played, the policy and what a worker holds."""

    name: str
    env_id: str
    env_kwargs: dict[str, Any]
    tasks: list[Any]
    n_per_task: int
    policy: Any
    policy_name: str
    params: SamplingParams
    sandbox_workers: int | None
    tag: bool  # tag responses per repeat (sandbox-bound: no verdict is ever cached)
    holds: str  # what one worker holds, in words


def measure(workload: Workload, *, repeats: int, configs: Sequence[tuple[str, str, int]] = CONFIGS,
            cpus_per_worker: float = 0.5, log: Callable[[str], None] | None = print) -> dict[str, Any]:
    """Episodes/s of ``workload`` under each configuration: start-up timed apart, one warm-up run
    each, then ``repeats`` rounds alternating the configurations. Returns per configuration its
    start-up seconds, rates, episodes, verifier calls and the digests of its episodes per repeat,
    and whether all configurations played the same episodes."""
    policy = TaggedPolicy(workload.policy)
    runners: dict[str, RolloutRunner] = {}
    out: dict[str, Any] = {"workload": workload.name, "env": workload.env_id, "policy": workload.policy_name,
                           "holds": workload.holds, "sandbox_workers": workload.sandbox_workers,
                           "episodes_per_run": len(workload.tasks) * workload.n_per_task, "configs": {}}
    try:
        for name, kind, workers in configs:
            t = time.perf_counter()
            ex = build_executor(kind, workers, workload.env_id, workload.env_kwargs,
                                sandbox_workers=workload.sandbox_workers, cpus_per_worker=cpus_per_worker)
            startup = time.perf_counter() - t
            runners[name] = RolloutRunner(workload.env_id, policy, workload.params, executor=ex, progress=False)
            out["configs"][name] = {"kind": kind, "workers": workers, "startup_s": startup, "rates": [],
                                    "digests": [], "rewards": [], "verifier_calls": [], "generate_s": []}
        for runner in runners.values():  # warm-up: imports, checker compiles, math pools, torch
            policy.tag = "warmup" if workload.tag else None
            runner.reset_counters()
            runner.run_episodes(workload.tasks, workload.n_per_task, seed=10_000)
        for r in range(repeats):
            for name, runner in runners.items():
                policy.tag = f"r{r}" if workload.tag else None
                runner.reset_counters()
                t = time.perf_counter()
                episodes = runner.run_episodes(workload.tasks, workload.n_per_task, seed=r)
                wall = time.perf_counter() - t
                row = out["configs"][name]
                row["rates"].append(len(episodes) / wall)
                row["digests"].append(digest(episodes))
                row["rewards"].append([e.reward for e in episodes])
                row["verifier_calls"].append(runner.last_stats.verifier_calls)
                row["generate_s"].append(runner.last_stats.generate_s)
                if log:
                    log(f"  {workload.name:24s} {name:5s} repeat {r}: {len(episodes) / wall:8.1f} eps/s "
                        f"({len(episodes)} episodes, {runner.last_stats.verifier_calls} verifier calls, "
                        f"generate {runner.last_stats.generate_s:.2f}s of {wall:.2f}s)")
    finally:
        for runner in runners.values():
            runner.executor.shutdown()
    rows = out["configs"]
    first = next(iter(rows))
    out["same_episodes"] = all(rows[n]["digests"] == rows[first]["digests"] for n in rows)
    for row in rows.values():
        row["eps_per_s"] = spread(row["rates"])
        row["ratio_vs_local"] = spread([a / b for a, b in zip(row["rates"], rows[first]["rates"], strict=True)])
    if "ray1" in rows and "ray2" in rows:
        out["ratio_2w_1w"] = spread([a / b for a, b in zip(rows["ray2"]["rates"], rows["ray1"]["rates"], strict=True)])
    return out


def measure_overhead(tasks: list[Any], *, runs: int, repeats: int, cpus_per_worker: float = 0.5,
                     configs: Sequence[tuple[str, str, int]] = CONFIGS) -> dict[str, Any]:
    """ms per step of ``MathDyad`` with an oracle team and cached verdicts under each
    configuration (``runs`` small runs per repeat), the paired difference to local, and the bare
    round trip to one actor (``ray.get(actor.describe.remote())``, ms)."""
    env_kwargs = {"tasks": tasks}
    runners: dict[str, RolloutRunner] = {}
    per_step: dict[str, list[float]] = {}
    round_trip_ms: list[float] = []
    try:
        for name, kind, workers in configs:
            ex = build_executor(kind, workers, MATH_ENV, env_kwargs, sandbox_workers=None, cpus_per_worker=cpus_per_worker)
            runners[name] = RolloutRunner(MATH_ENV, OracleAgent(tasks), executor=ex, progress=False)
            runners[name].run_episodes(tasks, 1, seed=0)  # warm-up: every verdict cached from here on
            per_step[name] = []
        for _ in range(repeats):
            for name, runner in runners.items():
                steps = 0
                t = time.perf_counter()
                for _ in range(runs):
                    runner.run_episodes(tasks, 1, seed=0)
                    steps += runner.last_stats.generate_calls
                per_step[name].append(1000 * (time.perf_counter() - t) / steps)
        if "ray1" in runners:
            import ray

            actor = runners["ray1"].executor.actors()[0]  # type: ignore[attr-defined]
            for _ in range(200):
                t = time.perf_counter()
                ray.get(actor.describe.remote())
                round_trip_ms.append(1000 * (time.perf_counter() - t))
    finally:
        for runner in runners.values():
            runner.executor.shutdown()
    out: dict[str, Any] = {"episodes_per_run": len(tasks), "runs_per_repeat": runs,
                           "ms_per_step": {n: spread(v) for n, v in per_step.items()}}
    base = next(iter(per_step))
    out["overhead_ms_per_step"] = {n: spread([a - b for a, b in zip(v, per_step[base], strict=True)])
                                   for n, v in per_step.items() if n != base}
    if round_trip_ms:
        out["actor_round_trip_ms"] = spread(round_trip_ms)
    return out


def boundary_traffic(workload: Workload) -> dict[str, Any]:
    """Calls and pickled bytes crossing the executor boundary for one run of ``workload`` (local
    executor behind ``CountingExecutor``), per step."""
    ex = CountingExecutor(make_executor("local", workload.env_id, workload.env_kwargs,
                                        sandbox_workers=workload.sandbox_workers))
    policy = TaggedPolicy(workload.policy)
    policy.tag = "traffic" if workload.tag else None
    try:
        runner = RolloutRunner(workload.env_id, policy, workload.params, executor=ex, progress=False)
        episodes = runner.run_episodes(workload.tasks, workload.n_per_task, seed=0)
        steps = runner.last_stats.generate_calls
    finally:
        ex.shutdown()
    total = sum(ex.bytes.values())
    return {"workload": workload.name, "episodes": len(episodes), "steps": steps, "calls": dict(ex.calls),
            "bytes": dict(ex.bytes), "bytes_per_step": total / max(1, steps),
            # the Ray executor's round trips: open and submit (pending decisions come back with them,
            # closes travel with the next call)
            "round_trips_per_step": (ex.calls.get("open", 0) + ex.calls.get("submit", 0)) / max(1, steps)}


# ---------------------------------------------------------------------------------------------- workloads
def code_workload(size: Size, sandbox_workers: int | None) -> Workload:
    """CodeVote on MBPP with the oracle team, responses tagged per repeat (sandbox-bound)."""
    kwargs = {"tasks": "mbpp"}
    source = make(CODE_ENV, **kwargs).unwrapped.task_source
    tasks = [source[i] for i in range(size.code_tasks)]
    pool = "1 sandbox" if sandbox_workers == 1 else (
        f"{sandbox_workers} sandboxes" if sandbox_workers else f"the shared pool ({min(16, 2 * (os.cpu_count() or 1))} sandboxes)")
    return Workload(f"CodeVote pool={sandbox_workers or 'default'}", CODE_ENV, kwargs, tasks, size.code_n,
                    OracleAgent(tasks), "oracle (scripted)", SamplingParams(), sandbox_workers, True,
                    f"1 env-worker process, its envs and verdict cache, {pool}")


def find_testbed() -> Path | None:
    """The newest testbed checkpoint folder with a ``testbed.json`` (never built here)."""
    from algorithms.testbed import cache_root

    found = sorted(cache_root().glob("testbed-*/testbed.json"), key=lambda p: p.stat().st_mtime)
    return found[-1].parent if found else None


def testbed_workload(size: Size, folder: Path) -> Workload:
    """MathDyad with the testbed policy on held-out arith tasks, sampled (temperature 1)."""
    import algorithms.testbed  # noqa: F401 - registers the ``testbed`` backend
    from agents import make_policy
    from algorithms.testbed import TestbedConfig, testbed_metadata
    from algorithms.testbed.evaluate import held_out_tasks

    config = TestbedConfig.from_dict(testbed_metadata(path=folder)["config"])
    tasks = held_out_tasks(config, size.math_tasks)
    policy = make_policy("testbed", model=str(folder), log=None)
    return Workload("MathDyad testbed", MATH_ENV, {"tasks": tasks, "prompt_style": config.prompt_style}, tasks,
                    size.math_n, policy, f"testbed ({folder.name}, in the driver)",
                    SamplingParams(temperature=1.0, max_tokens=48), None, False,
                    "1 env-worker process, its envs and verdict cache, the math pool; generation stays in the driver")


# ---------------------------------------------------------------------------------------------- report
def fmt(v: Mapping[str, float]) -> str:
    """``median [min, max]`` of a ``spread`` dict, two decimals."""
    return f"{v['median']:.2f} [{v['min']:.2f}, {v['max']:.2f}]"


def table(results: Sequence[dict[str, Any]]) -> str:
    """The Markdown table of ``measure`` results."""
    lines = ["| env | policy | executor | workers | a worker holds | episodes | start-up s | median eps/s [min, max] "
             "| ratio vs local | ratio 2w/1w | verifier calls/run | same episodes |",
             "|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for res in results:
        for name, row in res["configs"].items():
            e, r = row["eps_per_s"], row["ratio_vs_local"]
            two = res.get("ratio_2w_1w") if name == "ray2" else None
            lines.append(
                f"| {res['workload']} | {res['policy']} | {name} | {row['workers']} | {res['holds']} "
                f"| {res['episodes_per_run']} | {row['startup_s']:.2f} | {e['median']:.1f} [{e['min']:.1f}, {e['max']:.1f}] "
                f"| {r['median']:.2f} [{r['min']:.2f}, {r['max']:.2f}] "
                f"| {'' if two is None else fmt(two)} "
                f"| {statistics.median(row['verifier_calls']):.0f} | {'yes' if res['same_episodes'] else 'NO'} |")
    return "\n".join(lines)


def checks(results: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """The issue's two required ratios, on the medians of paired per-repeat ratios."""
    out = []
    for res in results:
        if "ray1" in res["configs"]:
            v = res["configs"]["ray1"]["ratio_vs_local"]["median"]
            out.append({"check": f"{res['workload']}: ray1 >= {REQUIRED_RAY1} x local", "value": v,
                        "passed": v >= REQUIRED_RAY1})
        if res["workload"] == "CodeVote pool=1" and "ratio_2w_1w" in res:
            v = res["ratio_2w_1w"]["median"]
            out.append({"check": f"{res['workload']}: ray2 >= {REQUIRED_SCALING} x ray1", "value": v,
                        "passed": v >= REQUIRED_SCALING})
    return out


def multinode_estimate(traffic: Sequence[dict[str, Any]], rtt_ms: float = 0.2,
                       bandwidth_mb_s: float = 1000.0) -> list[dict[str, Any]]:
    """Added ms per step on a network of ``rtt_ms`` round trip and ``bandwidth_mb_s`` (an estimate:
    round trips per step x RTT + bytes per step / bandwidth)."""
    return [{"workload": t["workload"], "rtt_ms": rtt_ms, "bandwidth_mb_s": bandwidth_mb_s,
             "added_ms_per_step": t["round_trips_per_step"] * rtt_ms + 1000 * t["bytes_per_step"] / (bandwidth_mb_s * 1e6)}
            for t in traffic]


def main(argv: Sequence[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="a small run (< 1 min)")
    ap.add_argument("--repeats", type=int, default=None, help="rounds of (local, ray1, ray2); default 3 quick, 5")
    ap.add_argument("--pools", default=None, help="sandbox pool sizes per worker for CodeVote, comma-separated "
                    "(an integer or 'default'); default '1' with --quick, '1,default' otherwise")
    ap.add_argument("--cpus-per-worker", type=float, default=0.5, help="Ray CPUs each actor reserves")
    ap.add_argument("--no-testbed", action="store_true", help="skip the MathDyad testbed rows")
    ap.add_argument("--torch-threads", type=int, default=1, help="torch threads of the testbed policy in the "
                    "driver (1: no OpenMP spinning against the env workers on 2 cores; the same for every config)")
    ap.add_argument("--out", default=str(Path(tempfile.gettempdir()) / "llm-marl-bench" / "executors.json"),
                    help="JSON results (default: a temp folder, not in git)")
    args = ap.parse_args(argv)
    size = QUICK if args.quick else DEFAULT
    repeats = args.repeats or size.repeats
    pools = [None if p.strip() == "default" else int(p) for p in (args.pools or ("1" if args.quick else "1,default")).split(",")]

    load_start = loadavg()
    start = time.perf_counter()
    print(f"load average at start: {load_start}; cpus: {os.cpu_count()}", flush=True)
    ray, ray_startup = start_ray(2)
    print(f"ray {ray.__version__} started in {ray_startup:.2f}s (num_cpus=2, one node)", flush=True)

    workloads = [code_workload(size, p) for p in pools]
    folder = None if args.no_testbed else find_testbed()
    if folder is not None:
        import torch

        torch.set_num_threads(args.torch_threads)
        workloads.append(testbed_workload(size, folder))
    elif not args.no_testbed:
        print("testbed checkpoint not found (build it with scripts/train_testbed.py): MathDyad testbed rows skipped")
    results = [measure(w, repeats=repeats, cpus_per_worker=args.cpus_per_worker) for w in workloads]
    source = make(MATH_ENV, tasks="arith").unwrapped.task_source
    overhead = measure_overhead([source[i] for i in range(size.overhead_tasks)], runs=size.overhead_runs,
                                repeats=repeats, cpus_per_worker=args.cpus_per_worker)
    oracle_math = Workload("MathDyad oracle", MATH_ENV, {"tasks": "arith"}, [source[i] for i in range(size.overhead_tasks)],
                           1, OracleAgent([source[i] for i in range(size.overhead_tasks)]), "oracle", SamplingParams(),
                           None, False, "")
    traffic = [boundary_traffic(w) for w in (workloads[0], oracle_math)]
    estimate = multinode_estimate(traffic)
    verdicts = checks(results)
    load_end = loadavg()

    print()
    print(table(results))
    print()
    for c in verdicts:
        print(f"- {c['check']}: {c['value']:.2f} -> {'PASS' if c['passed'] else 'FAIL'}")
    print("\nGeneration stays in the driver (one batched generate per step); Ray workers parallelise env "
          "stepping and verification only.")
    ms = overhead["ms_per_step"]
    print(f"\nRay overhead per step (MathDyad, oracle team, cached verdicts, {overhead['episodes_per_run']} episodes "
          f"per run): " + ", ".join(f"{n} {v['median']:.2f} ms [{v['min']:.2f}, {v['max']:.2f}]" for n, v in ms.items()))
    for n, v in overhead["overhead_ms_per_step"].items():
        print(f"  {n} - local: {v['median']:+.2f} ms/step [{v['min']:+.2f}, {v['max']:+.2f}]")
    if "actor_round_trip_ms" in overhead:
        rt = overhead["actor_round_trip_ms"]
        print(f"  bare actor round trip (loopback): {rt['median']:.3f} ms [{rt['min']:.3f}, {rt['max']:.3f}]")
    print("\nAcross the executor boundary per step (pickled, local executor behind a counting proxy):")
    for t, e in zip(traffic, estimate, strict=True):
        print(f"  {t['workload']}: {t['round_trips_per_step']:.1f} round trips/step, {t['bytes_per_step'] / 1e3:.1f} kB/step "
              f"({t['episodes']} episodes) -> multi-node estimate +{e['added_ms_per_step']:.2f} ms/step at "
              f"{e['rtt_ms']} ms RTT, {e['bandwidth_mb_s']:.0f} MB/s")
    print(f"\nload average at end: {load_end}; wall {time.perf_counter() - start:.0f}s")

    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps({
        "quick": args.quick, "repeats": repeats, "cpus": os.cpu_count(), "python": sys.version.split()[0],
        "ray_version": ray.__version__, "ray_startup_s": ray_startup, "cpus_per_worker": args.cpus_per_worker,
        "load_average_start": load_start, "load_average_end": load_end, "results": results, "checks": verdicts,
        "overhead": overhead, "traffic": traffic, "multinode_estimate": estimate,
        "generation": "in the driver: one batched generate per step; Ray workers parallelise env and verifier work",
    }, indent=1, default=str))
    print(f"wrote {out}")
    ray.shutdown()
    return 0


if __name__ == "__main__":
    sys.exit(main())
