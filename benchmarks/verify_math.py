"""Math verifier benchmark: ``verify_math`` against math-verify 0.9.0, same inputs, same run.

    .venv/bin/python benchmarks/verify_math.py            # ~1-2 min on 2 loaded cores
    .venv/bin/python benchmarks/verify_math.py --quick    # subsampled, ~30 s

math-verify is the anchor: it is installed on demand (``pip install math-verify==0.9.0`` into this
interpreter; a dev-only dependency). Workloads:

(a) GSM8K-style responses: every GSM8K test solution as written in the dataset (reasoning with
    ``<<...>>`` annotations, ending in ``#### n``), plus the same solution with a wrong final number;
(b) MATH-500-style responses: every MATH-500 reference solution (LaTeX chain of thought ending in
    ``\\boxed{}``), plus the same solution whose last ``\\boxed{}`` holds another problem's answer;
(c) the labelled corpus ``tests/data/math_cases.jsonl`` (agreement also reported on its issue-15 cases,
    the rows with a ``cause`` field).

Each system gets the gold as a string; math-verify gets it wrapped in ``$…$`` (bare LaTeX golds parse
to nothing in math-verify, see shared/reference/verifiers.md) and parsed once, outside the timed loop.
``verify_math`` starts each timed run with an empty result cache and warm worker processes.
Throughput is calls/s, the median of ``--repeats`` runs (interleaved); agreement is the share of
verdicts equal to the expected label. Writes ``benchmarks/results/verify_math.json``.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib
import io
import json
import logging
import random
import re
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from llm_marl_envs.tasks import load_tasks  # noqa: E402
from llm_marl_envs.verifiers.math import clear_cache, verify_math  # noqa: E402
from llm_marl_envs.verifiers.math.extract import boxed_contents  # noqa: E402
from llm_marl_envs.verifiers.math.normalize import normalize_answer  # noqa: E402
from llm_marl_envs.verifiers.math.pool import get_pool  # noqa: E402

MATH_VERIFY_VERSION = "0.9.0"


def ensure_math_verify():
    """Import math-verify, installing the pinned anchor version into this interpreter if needed."""
    try:
        from importlib.metadata import version

        if version("math-verify") == MATH_VERIFY_VERSION:
            return importlib.import_module("math_verify")
    except Exception:
        pass
    print(f"installing math-verify=={MATH_VERIFY_VERSION} (benchmark anchor) ...", flush=True)
    subprocess.run([sys.executable, "-m", "pip", "install", "-q", f"math-verify=={MATH_VERIFY_VERSION}"], check=True)
    importlib.invalidate_caches()
    return importlib.import_module("math_verify")


# -- workloads -------------------------------------------------------------------------------------

def gsm8k_workload(limit: int | None) -> list[tuple[str, str, bool]]:
    out = []
    for t in list(load_tasks("gsm8k"))[:limit]:
        sol = t.metadata["solution"]
        out.append((sol, t.answer, True))
        wrong = str(int(t.answer) + 1) if re.fullmatch(r"-?\d+", t.answer) else t.answer + "1"
        out.append((sol.rsplit("####", 1)[0] + "#### " + wrong, t.answer, False))
    return out


def math500_workload(limit: int | None) -> list[tuple[str, str, bool]]:
    tasks = list(load_tasks("math500"))[:limit]
    out = []
    for i, t in enumerate(tasks):
        sol = t.metadata["solution"]
        out.append((sol, t.answer, True))
        gold = normalize_answer(t.answer)
        other = next(
            u.answer for u in tasks[i + 1 :] + tasks[:i]
            if normalize_answer(u.answer) != gold and normalize_answer(u.answer).split("=")[-1].strip() != gold
        )
        k = sol.rfind("\\boxed") + len("\\boxed{")
        last = boxed_contents(sol[k - len("\\boxed{") :])[0]
        out.append((sol[:k] + other + sol[k + len(last) :], t.answer, False))
    return out


def corpus_rows() -> list[dict]:
    return [json.loads(x) for x in (ROOT / "tests" / "data" / "math_cases.jsonl").read_text().splitlines() if x.strip()]


def corpus_workload(rows: list[dict]) -> list[tuple[str, str, bool]]:
    return [(r["response"], r["gold"], r["expected"]) for r in rows]


# -- the two systems ---------------------------------------------------------------------------------

def run_ours(items: list[tuple[str, str, bool]]) -> tuple[float, list[bool]]:
    clear_cache()  # results and parse trees
    start = time.perf_counter()
    verdicts = [verify_math(r, g).correct for r, g, _ in items]
    return time.perf_counter() - start, verdicts


def run_math_verify(mv, items: list[tuple[str, str, bool]]) -> tuple[float, list[bool]]:
    golds = {g: mv.parse(f"${g}$") for g in {g for _, g, _ in items}}  # parsed once, untimed
    out = []
    start = time.perf_counter()
    for r, g, _ in items:
        try:
            out.append(bool(mv.verify(golds[g], mv.parse(r))))
        except Exception:
            out.append(False)
    return time.perf_counter() - start, out


def agreement(verdicts: list[bool], items: list[tuple[str, str, bool]]) -> float:
    return sum(v == e for v, (_, _, e) in zip(verdicts, items, strict=True)) / len(items)


def false_positives(verdicts: list[bool], items: list[tuple[str, str, bool]]) -> int:
    return sum(v and not e for v, (_, _, e) in zip(verdicts, items, strict=True))


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="subsample (300 GSM8K, 200 MATH-500 problems), 2 repeats")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    repeats = 2 if args.quick else args.repeats
    random.seed(args.seed)
    logging.disable(logging.WARNING)  # math-verify logs every timeout / parse failure

    mv = ensure_math_verify()
    assert get_pool().wait_ready(120), "sympy workers did not start"
    rows = corpus_rows()
    workloads = {
        "a_gsm8k": gsm8k_workload(300 if args.quick else None),
        "b_math500": math500_workload(200 if args.quick else None),
        "c_corpus": corpus_workload(rows),
    }
    # warm-up both (imports, ANTLR, worker first requests), untimed
    with contextlib.redirect_stderr(io.StringIO()):
        run_math_verify(mv, workloads["b_math500"][:20])
    run_ours(workloads["b_math500"][:20])

    results = {}
    for name, items in workloads.items():
        times = {"verify_math": [], "math_verify": []}
        verdicts = {}
        for _ in range(repeats):
            dt, v = run_ours(items)
            times["verify_math"].append(dt)
            verdicts["verify_math"] = v
            with contextlib.redirect_stderr(io.StringIO()):
                dt, v = run_math_verify(mv, items)
            times["math_verify"].append(dt)
            verdicts["math_verify"] = v
        row = {"n": len(items)}
        for system in ("verify_math", "math_verify"):
            med = statistics.median(times[system])
            row[system] = {
                "calls_per_s": len(items) / med,
                "seconds_median": med,
                "agreement": agreement(verdicts[system], items),
                "false_positives": false_positives(verdicts[system], items),
                "false_negatives": sum((not v) and e for v, (_, _, e) in zip(verdicts[system], items, strict=True)),
            }
        row["speedup"] = row["verify_math"]["calls_per_s"] / row["math_verify"]["calls_per_s"]
        if name == "c_corpus":
            hacks = [i for i, r in enumerate(rows) if r["category"] in ("reward_hack", "pathological")]
            issue15 = [i for i, r in enumerate(rows) if "cause" in r]  # issue 15's cases (real-output misses)
            for system in ("verify_math", "math_verify"):
                row[system]["reward_hack_false_positives"] = sum(verdicts[system][i] and not rows[i]["expected"] for i in hacks)
                row[system]["issue15"] = {
                    "n": len(issue15),
                    "agreement": sum(verdicts[system][i] == rows[i]["expected"] for i in issue15) / max(1, len(issue15)),
                    "false_positives": sum(verdicts[system][i] and not rows[i]["expected"] for i in issue15),
                }
                row[system]["wrong_on"] = [
                    {"gold": rows[i]["gold"], "response": rows[i]["response"][-80:], "expected": rows[i]["expected"]}
                    for i in range(len(rows)) if verdicts[system][i] != rows[i]["expected"]
                ]
        results[name] = row

    ab_items = len(workloads["a_gsm8k"]) + len(workloads["b_math500"])
    ab = {}
    for system in ("verify_math", "math_verify"):
        secs = results["a_gsm8k"][system]["seconds_median"] + results["b_math500"][system]["seconds_median"]
        ab[system] = ab_items / secs
    results["a_plus_b_speedup"] = ab["verify_math"] / ab["math_verify"]

    print(f"\nmath verifier benchmark (median of {repeats}; calls/s; agreement with labels)")
    print(f"{'workload':<12} {'n':>5} | {'verify_math/s':>13} {'agree':>7} {'FP':>4} | {'math-verify/s':>13} {'agree':>7} {'FP':>4} | {'speedup':>7}")
    for name in workloads:
        r = results[name]
        o, m = r["verify_math"], r["math_verify"]
        print(f"{name:<12} {r['n']:>5} | {o['calls_per_s']:>13.0f} {o['agreement']:>7.1%} {o['false_positives']:>4} | "
              f"{m['calls_per_s']:>13.0f} {m['agreement']:>7.1%} {m['false_positives']:>4} | {r['speedup']:>6.1f}x")
    print(f"(a)+(b) combined: verify_math {ab['verify_math']:.0f}/s, math-verify {ab['math_verify']:.0f}/s, "
          f"speedup {results['a_plus_b_speedup']:.1f}x")
    c = results["c_corpus"]
    print(f"reward-hack/pathological cases accepted: verify_math {c['verify_math']['reward_hack_false_positives']}, "
          f"math-verify {c['math_verify']['reward_hack_false_positives']}")
    i15 = c["verify_math"]["issue15"], c["math_verify"]["issue15"]
    print(f"issue-15 cases (n={i15[0]['n']}): verify_math agreement {i15[0]['agreement']:.1%} ({i15[0]['false_positives']} FP), "
          f"math-verify {i15[1]['agreement']:.1%} ({i15[1]['false_positives']} FP)")
    with open("/proc/loadavg") as f:
        results["loadavg_at_end"] = f.read().split()[:3]
    print(f"load average at the end: {' '.join(results['loadavg_at_end'])}")
    out = ROOT / "benchmarks" / "results" / "verify_math.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(results, indent=1))
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
