"""Served envs: episode steps/s through ``llm-marl serve`` with 16 concurrent clients vs in-process.

    .venv/bin/python benchmarks/serve.py                # MathDyad + CodeVote, 3 repeats (minutes)
    .venv/bin/python benchmarks/serve.py --quick        # MathDyad only, small (< 1 min)
    .venv/bin/python benchmarks/serve.py --out FILE.json

One run starts the real server (``python -m llm_marl_envs.cli serve ENV... --port P`` in a
subprocess on 127.0.0.1, a free port; its start-up time, launch to the first healthy ``/health``,
is reported on its own) and plays the same episodes (episode k: task k of the env's default task
source, seed k) with the oracle team (``agents.scripted.OracleAgent`` for every role, as
``llm-marl rollout --policy oracle``) along four paths:

* ``in-process x1``: the env (``make_raw(env_id)``, what a server session holds) stepped directly, one thread;
* ``in-process xC``: the same with C threads, each its own env (GIL-bound: shows what threads buy);
* ``http xC``: C concurrent clients (asyncio, ``httpx``), each its own session, over the stateful
  ``POST /reset`` / ``POST /step``;
* ``ws xC``: C concurrent clients, each its own session, over OpenEnv's WebSocket ``/ws`` with the
  shipped ``CollabEnvClient`` (OpenEnv's ``EnvClient``).

Each client creates its env/session inside the timed window and closes it at the end. Repeats
alternate the paths (the order rotates every repeat); steps/s is total agent steps over the wall
time of the path, reported as median [min, max] over repeats; the ratio served / in-process is paired
within a repeat. Step latency is the client-side time of one ``step`` (in-process: one
``env.step``), p50 and p95 per repeat, median over repeats. The load average is read at the start
and at the end. Every episode's per-agent rewards and verdict through the server must equal the
in-process ones: a mismatch raises ``RewardMismatch`` and the script exits 1.

Writes JSON to ``--out`` (default ``benchmarks/results/serve.json``, not in git) and prints a
Markdown table.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import functools
import json
import os
import platform
import socket
import ssl
import statistics
import subprocess
import sys
import threading
import time
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from agents.scripted import OracleAgent  # noqa: E402
from llm_marl_envs.envs.registration import env_spec, make_raw  # noqa: E402

PATHS = ("in-process x1", "in-process xC", "http xC", "ws xC")


class RewardMismatch(AssertionError):
    """An episode's rewards or verdict through the server differ from the in-process ones."""


def load_average() -> list[float]:
    """``/proc/loadavg``'s 1, 5 and 15 minute load averages (empty where there is none)."""
    try:
        return [float(x) for x in Path("/proc/loadavg").read_text().split()[:3]]
    except OSError:
        return []


def oracle_for(env_id: str, n_tasks: int) -> OracleAgent:
    """The oracle team's policy for the first ``n_tasks`` tasks of ``env_id``'s default task source."""
    source = make_raw(env_id).task_source
    return OracleAgent([source[i] for i in range(min(n_tasks, len(source)))])


def _action(oracle: OracleAgent, system: str, user: str) -> str:
    return oracle.act({"system": system, "user": user})


def _record(k: int, task_id: str, rewards: dict[str, float], verdict: Any, steps: int) -> dict[str, Any]:
    return {"episode": k, "task_id": task_id, "rewards": {a: float(r) for a, r in rewards.items()},
            "verdict": verdict, "steps": steps}


# ---------------------------------------------------------------- the four paths
def _inprocess_client(env_id: str, oracle: OracleAgent, episodes: Sequence[int], n_tasks: int,
                      latencies: list[float]) -> list[dict[str, Any]]:
    env = make_raw(env_id)
    out = []
    for k in episodes:
        env.reset(seed=k, options={"task": k % n_tasks})
        steps = 0
        while not all(env.terminations.get(a) or env.truncations.get(a) for a in env.agents):
            agent = env.agent_selection
            obs = env.observe(agent)
            action = _action(oracle, str(obs.get("system", "")), str(obs.get("user", "")))
            t = time.perf_counter()
            env.step(action)
            latencies.append(time.perf_counter() - t)
            steps += 1
        first = env.agents[0]
        out.append(_record(k, str(env.infos[first]["task_id"]), env.rewards, env.infos[first]["verdict"], steps))
    env.close()
    return out


def run_inprocess(env_id: str, oracle: OracleAgent, assignment: list[list[int]], n_tasks: int,
                  threads: int) -> tuple[list[dict[str, Any]], list[float]]:
    """Every client's episodes stepped directly on the env, by ``threads`` threads (1: one after another)."""
    latencies: list[float] = []
    if threads == 1:
        flat = [k for share in assignment for k in share]
        return _inprocess_client(env_id, oracle, flat, n_tasks, latencies), latencies
    lists: list[list[float]] = [[] for _ in assignment]
    with ThreadPoolExecutor(threads) as pool:
        futures = [pool.submit(_inprocess_client, env_id, oracle, share, n_tasks, lists[i]) for i, share in enumerate(assignment)]
        results = [r for f in futures for r in f.result()]
    return results, [x for lst in lists for x in lst]


@functools.cache
def _tls_context() -> ssl.SSLContext:
    """One TLS context for every HTTP client: ``httpx.AsyncClient()`` otherwise loads the CA bundle
    anew for each client (~50 ms of CPU, even for plain http://), which would be timed as serving."""
    return ssl.create_default_context()


async def _http_client(url: str, env_id: str, oracle: OracleAgent, episodes: Sequence[int], n_tasks: int,
                       latencies: list[float]) -> list[dict[str, Any]]:
    import httpx

    out = []
    async with httpx.AsyncClient(base_url=url, timeout=120, verify=_tls_context()) as http:
        session: str | None = None
        for k in episodes:
            body: dict[str, Any] = {"env_id": env_id, "seed": k, "task": k % n_tasks}
            if session is not None:
                body["session_id"] = session
            reply = (await http.post("/reset", json=body)).raise_for_status().json()
            session = reply["session_id"]
            steps = 0
            while not reply["done"]:
                obs = reply["observation"]
                action = {"agent": obs["agent_selection"], "content": _action(oracle, obs["system"], obs["user"])}
                t = time.perf_counter()
                reply = (await http.post("/step", json={"session_id": session, "action": action})).raise_for_status().json()
                latencies.append(time.perf_counter() - t)
                steps += 1
            obs = reply["observation"]
            out.append(_record(k, obs["task_id"], obs["rewards"], obs["verdict"], steps))
        if session is not None:
            (await http.post("/close", json={"session_id": session})).raise_for_status()
    return out


async def _ws_client(url: str, env_id: str, oracle: OracleAgent, episodes: Sequence[int], n_tasks: int,
                     latencies: list[float]) -> list[dict[str, Any]]:
    from llm_marl_envs.serve.client import CollabAction, CollabEnvClient

    out = []
    async with CollabEnvClient(base_url=url, message_timeout_s=120) as env:
        for k in episodes:
            result = await env.reset(env_id=env_id, seed=k, task=k % n_tasks)
            steps = 0
            while not result.done:
                obs = result.observation
                action = CollabAction(agent=obs.agent_selection, content=_action(oracle, obs.system, obs.user))
                t = time.perf_counter()
                result = await env.step(action)
                latencies.append(time.perf_counter() - t)
                steps += 1
            obs = result.observation
            out.append(_record(k, obs.task_id, obs.rewards, obs.verdict, steps))
    return out


def run_served(path: str, url: str, env_id: str, oracle: OracleAgent, assignment: list[list[int]],
               n_tasks: int) -> tuple[list[dict[str, Any]], list[float]]:
    """Every client's episodes through the server, all clients at once (one asyncio loop)."""
    client = _http_client if path.startswith("http") else _ws_client
    lists: list[list[float]] = [[] for _ in assignment]

    async def main() -> list[list[dict[str, Any]]]:
        return await asyncio.gather(*[client(url, env_id, oracle, share, n_tasks, lists[i]) for i, share in enumerate(assignment)])

    results = asyncio.run(main())
    return [r for share in results for r in share], [x for lst in lists for x in lst]


# ---------------------------------------------------------------- the server
def free_port() -> int:
    """A TCP port on 127.0.0.1 that was free a moment ago."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextlib.contextmanager
def server(env_ids: Sequence[str], *, max_sessions: int, timeout_s: float = 180.0) -> Iterator[tuple[str, float]]:
    """``llm-marl serve ENV_IDS`` in a subprocess on a free 127.0.0.1 port; yields (url, start-up seconds)."""
    import httpx

    port = free_port()
    cmd = [sys.executable, "-m", "llm_marl_envs.cli", "serve", *env_ids, "--port", str(port),
           "--max-sessions", str(max_sessions), "--idle-timeout", "3600"]
    url = f"http://127.0.0.1:{port}"
    start = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, cwd=ROOT,
                            env={**os.environ, "PYTHONUNBUFFERED": "1"})
    log: list[str] = []
    reader = threading.Thread(target=lambda: log.extend(proc.stdout), daemon=True)  # type: ignore[arg-type]
    reader.start()
    try:
        while True:
            if proc.poll() is not None:
                reader.join(5)
                raise RuntimeError(f"server exited with {proc.returncode} before it was healthy:\n{''.join(log)[-4000:]}")
            if time.perf_counter() - start > timeout_s:
                raise RuntimeError(f"server not healthy after {timeout_s:g} s:\n{''.join(log)[-4000:]}")
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(f"{url}/health", timeout=2).status_code == 200:
                    break
            time.sleep(0.05)
        yield url, time.perf_counter() - start
    finally:
        proc.terminate()
        try:
            proc.wait(20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(10)
        reader.join(5)
    if any("Traceback" in line for line in log):
        raise RuntimeError("the server logged a traceback:\n" + "".join(log)[-4000:])


# ---------------------------------------------------------------- the benchmark core
def _pct(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    s = sorted(values)
    return s[min(len(s) - 1, int(q * len(s)))]


def _spread(values: list[float]) -> dict[str, float]:
    return {"median": statistics.median(values), "min": min(values), "max": max(values)}


def check_equal(env_id: str, path: str, got: list[dict[str, Any]], want: list[dict[str, Any]]) -> None:
    """Raise ``RewardMismatch`` unless every episode's task, rewards and verdict equal the anchor's."""
    by_k = {r["episode"]: r for r in want}
    if sorted(r["episode"] for r in got) != sorted(by_k):
        raise RewardMismatch(f"{env_id} {path}: episodes {sorted(r['episode'] for r in got)} != {sorted(by_k)}")
    for r in got:
        a = by_k[r["episode"]]
        for key in ("task_id", "rewards", "verdict", "steps"):
            if r[key] != a[key]:
                raise RewardMismatch(f"{env_id} episode {r['episode']} {path}: {key} {r[key]!r} != in-process {a[key]!r}")


def bench_env(url: str, env_id: str, *, clients: int, episodes: int, repeats: int, n_tasks: int,
              paths: Sequence[str] = PATHS) -> dict[str, Any]:
    """All ``paths`` for one env: ``repeats`` alternated rounds of ``episodes`` oracle episodes each."""
    oracle = oracle_for(env_id, n_tasks)
    n_tasks = len(oracle.tasks)
    assignment = [list(range(c, episodes, clients)) for c in range(clients)]
    assignment = [a for a in assignment if a]

    def play(path: str, share: list[list[int]]) -> tuple[list[dict[str, Any]], list[float]]:
        if path == "in-process x1":
            return run_inprocess(env_id, oracle, share, n_tasks, 1)
        if path == "in-process xC":
            return run_inprocess(env_id, oracle, share, n_tasks, len(share))
        return run_served(path, url, env_id, oracle, share, n_tasks)

    warm = [[k] for k in range(min(clients, episodes))]  # untimed: imports, verifier pools, server sessions
    anchor, _ = play("in-process x1", warm)
    for path in paths:
        got, _ = play(path, warm)
        check_equal(env_id, path + " (warm-up)", got, anchor)

    runs: dict[str, list[dict[str, Any]]] = {p: [] for p in paths}
    reference: list[dict[str, Any]] | None = None
    for r in range(repeats):
        order = list(paths[r % len(paths):]) + list(paths[: r % len(paths)])
        for path in order:
            start = time.perf_counter()
            results, lat = play(path, assignment)
            wall = time.perf_counter() - start
            if reference is None:
                reference = run_inprocess(env_id, oracle, assignment, n_tasks, 1)[0] if path != "in-process x1" else results
            check_equal(env_id, path, results, reference)
            steps = sum(x["steps"] for x in results)
            runs[path].append({"repeat": r, "wall_s": wall, "steps": steps, "episodes": len(results),
                               "steps_per_s": steps / wall, "episodes_per_s": len(results) / wall,
                               "step_p50_ms": 1e3 * _pct(lat, 0.50), "step_p95_ms": 1e3 * _pct(lat, 0.95),
                               "mean_reward": statistics.fmean(statistics.fmean(x["rewards"].values()) for x in results)})
    out: dict[str, Any] = {"env_id": env_id, "clients": len(assignment), "episodes": episodes, "tasks": n_tasks,
                           "repeats": repeats, "paths": {}}
    base = "in-process x1" if "in-process x1" in paths else None
    for path in paths:
        rows = runs[path]
        summary: dict[str, Any] = {
            "steps_per_s": _spread([x["steps_per_s"] for x in rows]),
            "episodes_per_s": _spread([x["episodes_per_s"] for x in rows]),
            "step_p50_ms": statistics.median(x["step_p50_ms"] for x in rows),
            "step_p95_ms": statistics.median(x["step_p95_ms"] for x in rows),
            "mean_reward": statistics.fmean(x["mean_reward"] for x in rows),
            "runs": rows,
        }
        for anchor_path, key in ((base, "ratio_vs_inprocess_x1"), ("in-process xC", "ratio_vs_inprocess_xC")):
            if anchor_path in runs and anchor_path != path:
                summary[key] = _spread([x["steps_per_s"] / y["steps_per_s"] for x, y in zip(rows, runs[anchor_path], strict=True)])
        out["paths"][path] = summary
    out["rewards_equal"] = True  # check_equal raised otherwise
    return out


def run_benchmark(env_ids: Sequence[str], *, clients: int, episodes: dict[str, int] | int, repeats: int,
                  n_tasks: int = 64, paths: Sequence[str] = PATHS) -> dict[str, Any]:
    """Start the server for ``env_ids`` and measure every path on each env (the whole benchmark, as data)."""
    ids = [env_spec(e).id for e in env_ids]
    results: dict[str, Any] = {
        "machine": {"cpus": os.cpu_count(), "cpu": platform.processor() or platform.machine(),
                    "python": platform.python_version()},
        "load_average_start": load_average(),
        "clients": clients, "repeats": repeats, "envs": {},
    }
    with server(ids, max_sessions=max(64, 4 * clients)) as (url, startup_s):
        results["server"] = {"url": url, "startup_s": startup_s}
        for env_id in ids:
            n = episodes[env_id] if isinstance(episodes, dict) else episodes
            results["envs"][env_id] = bench_env(url, env_id, clients=clients, episodes=n, repeats=repeats,
                                                n_tasks=n_tasks, paths=paths)
    results["load_average_end"] = load_average()
    return results


def _label(path: str, clients: int) -> str:
    return path.replace("xC", f"x{clients}")


def markdown_table(results: dict[str, Any]) -> str:
    """The results as a Markdown table (one row per env and path)."""
    lines = ["| env | path | episodes | steps/s median [min, max] | vs in-process x1 | vs in-process xC | "
             "step p50 ms | step p95 ms | mean reward |", "|---|---|---|---|---|---|---|---|---|"]

    def ratio(s: dict[str, Any] | None) -> str:
        return "–" if s is None else f"{s['median']:.2f} [{s['min']:.2f}, {s['max']:.2f}]"

    for env_id, env in results["envs"].items():
        for path, s in env["paths"].items():
            sp = s["steps_per_s"]
            lines.append(f"| {env_id} | {_label(path, env['clients'])} | {env['episodes']} | "
                         f"{sp['median']:,.0f} [{sp['min']:,.0f}, {sp['max']:,.0f}] | "
                         f"{ratio(s.get('ratio_vs_inprocess_x1'))} | {ratio(s.get('ratio_vs_inprocess_xC'))} | "
                         f"{s['step_p50_ms']:.2f} | {s['step_p95_ms']:.2f} | {s['mean_reward']:.3f} |")
    la, lb = results["load_average_start"], results["load_average_end"]
    lines.append("")
    lines.append(f"Server start-up (launch to healthy /health): {results['server']['startup_s']:.1f} s (one start). "
                 f"{results['clients']} clients, {results['repeats']} alternated repeats, "
                 f"{results['machine']['cpus']} CPUs, load average {la[0] if la else 'n/a'} at the start, "
                 f"{lb[0] if lb else 'n/a'} at the end. Rewards and verdicts through the server equal in-process: "
                 f"{all(e['rewards_equal'] for e in results['envs'].values())}.")
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--envs", nargs="+", default=["llm-marl/MathDyad-v0", "llm-marl/CodeVote-v0"])
    parser.add_argument("--clients", type=int, default=16)
    parser.add_argument("--episodes", type=int, default=256, help="episodes per path and repeat (math envs)")
    parser.add_argument("--code-episodes", type=int, default=32, help="episodes per path and repeat (code envs: sandbox-bound)")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--tasks", type=int, default=64, help="distinct tasks (episode k plays task k mod TASKS)")
    parser.add_argument("--quick", action="store_true", help="MathDyad only, 64 episodes, 3 repeats (< 1 min)")
    parser.add_argument("--out", default=str(ROOT / "benchmarks" / "results" / "serve.json"))
    args = parser.parse_args(argv)
    if args.quick:
        args.envs, args.episodes = ["llm-marl/MathDyad-v0"], 64
    if args.repeats < 1 or args.clients < 1:
        parser.error("--repeats and --clients must be >= 1")
    ids = [env_spec(e).id for e in args.envs]
    episodes = {e: (args.code_episodes if "/Code" in e else args.episodes) for e in ids}
    try:
        results = run_benchmark(ids, clients=args.clients, episodes=episodes, repeats=args.repeats, n_tasks=args.tasks)
    except RewardMismatch as e:
        print(f"FAIL: rewards through the server differ from in-process: {e}", file=sys.stderr)
        return 1
    print(markdown_table(results))
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(results, indent=2))
    print(f"\nwrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
