"""Env speed: agent turns/s per topology with scripted agents, against PettingZoo's own benchmark.

    .venv/bin/python benchmarks/env_speed.py            # ~1 min on 2 loaded cores
    .venv/bin/python benchmarks/env_speed.py --quick    # ~20 s
    .venv/bin/python benchmarks/env_speed.py --smollm   # + the HF share with SmolLM2-135M (minutes)

Measures (medians over ``--repeats`` timed windows of ``--seconds`` each):

1. ``aec``: a plain AEC loop (``agent_iter`` / ``last`` / ``step``) on every registered id with a
   scripted oracle team: agent turns/s including the env's real verifier, and env-only turns/s
   with a trivial exact-match verifier (isolates the engine: context rendering, bookkeeping).
2. ``runner``: ``RolloutRunner.run_episodes`` with scripted oracle policies: episodes/s and
   turns/s (batched generation of scripted text; batched verification).
3. ``pettingzoo``: PettingZoo's ``performance_benchmark`` (random actions, 5 s; it prints
   turns/s) on its classic ``rps_v2`` (needs pygame; falls back to its ``generated_agents_env_v0``
   test env) and on ``llm-marl/MathDyad-v0``, in the same run.
4. ``hf``: the share of rollout wall time spent outside ``generate`` (env stepping, rendering,
   verification) with the transformers backend (``agents.hf.HFPolicy``): a tiny random model
   (fast generation, so a pessimistic share) and, with ``--smollm``, SmolLM2-135M. Target < 2%.

Writes ``benchmarks/results/env_speed.json`` and prints a table.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import re
import statistics
import sys
import time
import warnings
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from agents.scripted import OracleAgent, gold_response  # noqa: E402
from llm_marl_envs.envs.registration import make, registered_envs  # noqa: E402
from llm_marl_envs.policy import SamplingParams  # noqa: E402
from llm_marl_envs.rollout import RolloutRunner  # noqa: E402
from llm_marl_envs.tasks import load_tasks  # noqa: E402
from llm_marl_envs.types import Verdict  # noqa: E402


class ExactVerifier:
    """Trivial verifier (string equality of a boxed answer) to time the env engine alone."""

    kind = "math"

    def answer_key(self, text: str) -> str | None:
        m = re.findall(r"\\boxed\{([^{}]*)\}", text)
        return m[-1] if m else None

    def verify(self, text: str, task: Any) -> Verdict:
        key = self.answer_key(text)
        ok = key is not None and key == task.answer
        return Verdict(ok, float(ok), "ok" if key else "no_answer", key)

    def verify_many(self, texts: list[str], tasks: list[Any]) -> list[Verdict]:
        return [self.verify(t, k) for t, k in zip(texts, tasks, strict=True)]


def aec_turns_per_s(env_id: str, seconds: float, **kwargs: Any) -> tuple[float, float]:
    """(turns/s, episodes/s) of an oracle team in a plain AEC loop for ``seconds``."""
    env = make(env_id, **kwargs)
    raw = env.unwrapped
    turns = episodes = 0
    seed = 0
    start = time.perf_counter()
    while time.perf_counter() - start < seconds:
        env.reset(seed=seed)
        seed += 1
        answer = gold_response(raw.engine.task)
        for _ in env.agent_iter():
            _, _, term, trunc, _ = env.last()
            env.step(None if term or trunc else answer)
            turns += not (term or trunc)
        episodes += 1
    elapsed = time.perf_counter() - start
    return turns / elapsed, episodes / elapsed


def runner_speed(env_id: str, n_tasks: int, n: int) -> dict[str, float]:
    source = make(env_id).unwrapped.task_source
    tasks = [source[i] for i in range(n_tasks)]
    runner = RolloutRunner(env_id, OracleAgent(tasks), progress=False)
    runner.run_episodes(tasks[:2], 1)  # warm-up (verifier pools)
    start = time.perf_counter()
    episodes = runner.run_episodes(tasks, n, seed=0)
    elapsed = time.perf_counter() - start
    turns = sum(len(e.messages) for e in episodes)
    return {"episodes_per_s": len(episodes) / elapsed, "turns_per_s": turns / elapsed,
            "mean_reward": sum(e.reward for e in episodes) / len(episodes)}


def pettingzoo_benchmark(env: Any) -> float:
    """Run PettingZoo's ``performance_benchmark`` (5 s) and parse the turns/s it prints."""
    from pettingzoo.test import performance_benchmark

    buf = io.StringIO()
    with contextlib.redirect_stdout(buf), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        performance_benchmark(env)
    m = re.search(r"([0-9.]+) turns per second", buf.getvalue())
    return float(m.group(1)) if m else float("nan")


def classic_env() -> tuple[str, Any]:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            from pettingzoo.classic import rps_v2

            return "pettingzoo.classic.rps_v2", rps_v2.env()
        except ImportError:
            from pettingzoo.test.example_envs import generated_agents_env_v0

            return "pettingzoo generated_agents_env_v0 (pygame missing)", generated_agents_env_v0.env()


def hf_share(model: str, n_tasks: int, n: int, max_tokens: int) -> dict[str, float]:
    from agents import make_policy

    policy = make_policy("tiny") if model == "tiny" else make_policy("hf")
    tasks = load_tasks("arith", difficulty=1)[:n_tasks]
    params = SamplingParams(temperature=1.0, max_tokens=max_tokens)
    runner = RolloutRunner("llm-marl/MathDyad-v0", policy, params, env_kwargs={"prompt_style": "compact"}, progress=False)
    runner.run_episodes(tasks[:1], 1, seed=0)  # warm-up
    runner.run_episodes(tasks, n, seed=1)
    s = runner.last_stats
    return {"model": model, "episodes": s.episodes, "wall_s": s.wall_s, "generate_s": s.generate_s,
            "verify_s": s.verify_s, "outside_generation_share": s.overhead_share,
            "generated_tokens": s.generated_tokens}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seconds", type=float, default=1.0, help="length of one timed window")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--quick", action="store_true", help="short windows, one repeat, no PettingZoo comparison on ours")
    parser.add_argument("--smollm", action="store_true", help="also measure the HF share with SmolLM2-135M")
    parser.add_argument("--out", default=str(ROOT / "benchmarks" / "results" / "env_speed.json"))
    args = parser.parse_args()
    if args.quick:
        args.seconds, args.repeats = 0.5, 1

    results: dict[str, Any] = {"aec": {}, "runner": {}, "pettingzoo": {}, "hf": []}
    print(f"{'env id':<28} {'turns/s (verifier)':>19} {'turns/s (env only)':>19} {'episodes/s':>11}")
    for env_id in registered_envs():
        if not env_id.startswith("llm-marl/"):
            continue
        real = [aec_turns_per_s(env_id, args.seconds) for _ in range(args.repeats)]
        row = {
            "turns_per_s": statistics.median(r[0] for r in real),
            "episodes_per_s": statistics.median(r[1] for r in real),
        }
        if "/Math" in env_id:
            only = [aec_turns_per_s(env_id, args.seconds, verifier=ExactVerifier()) for _ in range(args.repeats)]
            row["env_only_turns_per_s"] = statistics.median(r[0] for r in only)
        results["aec"][env_id] = row
        env_only = f"{row['env_only_turns_per_s']:>19.0f}" if "env_only_turns_per_s" in row else f"{'-':>19}"
        print(f"{env_id:<28} {row['turns_per_s']:>19.0f} {env_only} {row['episodes_per_s']:>11.1f}")

    print("\nrunner (scripted oracle policies, batched):")
    for env_id in ("llm-marl/MathDyad-v0", "llm-marl/MathVote-v0", "llm-marl/CodeDyad-v0"):
        n_tasks, n = (16, 4) if "/Math" in env_id else (4, 2)
        r = runner_speed(env_id, n_tasks, n)
        results["runner"][env_id] = r
        print(f"  {env_id:<26} {r['episodes_per_s']:8.1f} episodes/s {r['turns_per_s']:8.1f} turns/s reward {r['mean_reward']:.2f}")

    name, env = classic_env()
    results["pettingzoo"][name] = pettingzoo_benchmark(env)
    if not args.quick:
        results["pettingzoo"]["llm-marl/MathDyad-v0 (random Text actions)"] = pettingzoo_benchmark(make("llm-marl/MathDyad-v0"))
    print("\nPettingZoo performance_benchmark (random actions, 5 s each):")
    for k, v in results["pettingzoo"].items():
        print(f"  {k:<48} {v:10.0f} turns/s")

    print("\nHF backend: share of rollout wall time outside generate() (target < 2%):")
    models = ["tiny"] + (["smollm2"] if args.smollm else [])
    for model in models:
        try:
            r = hf_share(model, n_tasks=8 if model == "tiny" else 4, n=4 if model == "tiny" else 2,
                         max_tokens=32)
        except Exception as e:  # noqa: BLE001 - report, keep the other numbers
            r = {"model": model, "error": f"{type(e).__name__}: {e}"}
        results["hf"].append(r)
        if "error" in r:
            print(f"  {model}: unavailable ({r['error']})")
        else:
            print(f"  {model:<8} {r['episodes']} episodes, wall {r['wall_s']:.2f}s, generate {r['generate_s']:.2f}s, "
                  f"verify {r['verify_s']:.3f}s -> outside generation {100 * r['outside_generation_share']:.2f}%")

    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(results, indent=2))
    print(f"\nwrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
