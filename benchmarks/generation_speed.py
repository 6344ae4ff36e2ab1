"""Generation speed: batched vs sequential, rollout-tree prefix reuse, vLLM vs transformers.

    .venv/bin/python benchmarks/generation_speed.py                 # SmolLM2-135M (embedded), ~3-5 min on 2 cores
    .venv/bin/python benchmarks/generation_speed.py --model tiny    # seconds; a smoke run of the script

Measures (generated tokens/s, fixed-length generation: EOS disabled so every sample makes exactly
``--new-tokens`` tokens; medians over ``--repeats``):

1. ``batch``: ``--batch`` (32) different prompts in one ``HFPolicy.generate`` call, against a
   sequential per-prompt loop over ``--sequential`` of them (tokens/s is per-token, so a subset
   measures the loop's rate). Target: batch >= 4x sequential.
2. ``tree``: a [2, 4] rollout tree (1 task prompt -> 2 thinker messages -> 4 reasoner messages each;
   10 generations) on a long shared context, with shared-prefix reuse (each distinct prompt
   prefilled once, and the reasoners' common task prefix once) and without (every sample prefilled
   on its own); outputs are compared (identical in float32; bfloat16 rounding may differ by batch).
3. ``vllm``: the same batch through ``VLLMPolicy`` in the vLLM virtual environment
   (``--vllm-python``, default ``/work/vllm-venv/bin/python`` when present), against (1)'s batch.

Writes ``benchmarks/results/generation_speed.json`` and prints a table.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from llm_marl_envs.policy import SamplingParams  # noqa: E402

TOPICS = ["a train", "two pipes filling a tank", "compound interest", "a triangle's angles", "prime numbers",
          "a recipe for 12 people", "the speed of a boat", "a bag of marbles"]


def batch_prompts(n: int) -> list[list[dict[str, str]]]:
    """``n`` distinct short math prompts."""
    return [[{"role": "system", "content": "You are a careful math tutor."},
             {"role": "user", "content": f"Problem {i}: write a short word problem about {TOPICS[i % len(TOPICS)]} "
                                         f"using the numbers {i + 3} and {2 * i + 5}, then solve it."}]
            for i in range(n)]


LONG_TASK = (
    "A farmer has chickens and cows. Together they have 50 heads and 140 legs. "
    "Each chicken has 2 legs and each cow has 4 legs. The farmer sells one third of the cows at 600 dollars each "
    "and buys feed for the chickens at 3 dollars per chicken per week for 8 weeks. "
) * 4


def tree_prompts(stage: str, thinker_texts: list[str] | None = None) -> list[list[dict[str, str]]]:
    """The rollout tree's prompts: one thinker prompt, or one reasoner prompt per thinker message."""
    if stage == "thinker":
        return [[{"role": "system", "content": "You are the thinker: give a hint, not the answer."},
                 {"role": "user", "content": f"Task: {LONG_TASK}\nWrite a short plan."}]]
    return [[{"role": "system", "content": "You are the reasoner: solve the task using the hint."},
             {"role": "user", "content": f"Task: {LONG_TASK}\nHint from the thinker: {t}\nSolve it."}]
            for t in thinker_texts or []]


def load_hf_policy(model: str, dtype: str | None) -> Any:
    from agents.hf import HFPolicy

    if model == "tiny":
        from agents.tiny import build_tiny_model, build_tiny_tokenizer

        tok = build_tiny_tokenizer()
        policy = HFPolicy(build_tiny_model(tok, hidden_size=128, num_layers=4), tok, dtype=dtype)
    else:
        if model == "smollm2":
            from agents.embedded import smollm2_dir

            model = str(smollm2_dir())
        policy = HFPolicy(model, dtype=dtype)
    policy.eos_ids = {-1}  # fixed-length generation: never stop early
    return policy


def timed(fn: Any) -> tuple[float, Any]:
    start = time.perf_counter()
    result = fn()
    return time.perf_counter() - start, result


def bench_batch(policy: Any, args: argparse.Namespace) -> dict[str, Any]:
    prompts = batch_prompts(args.batch)
    params = SamplingParams(temperature=0.7, max_tokens=args.new_tokens, seed=0)
    batch_rates, seq_rates = [], []
    for _ in range(args.repeats):
        seconds, out = timed(lambda: policy.generate(prompts, params))
        batch_rates.append(sum(len(g.token_ids) for g in out) / seconds)
        seq = prompts[: args.sequential]
        seconds, outs = timed(lambda seq=seq: [policy.generate([p], params)[0] for p in seq])
        seq_rates.append(sum(len(g.token_ids) for g in outs) / seconds)
    batch, seq = statistics.median(batch_rates), statistics.median(seq_rates)
    return {"batch_size": args.batch, "sequential_prompts": args.sequential, "new_tokens": args.new_tokens,
            "batch_tok_s": batch, "sequential_tok_s": seq, "speedup": batch / seq,
            "batch_runs": batch_rates, "sequential_runs": seq_rates}


def run_tree(policy: Any, new_tokens: int) -> list[Any]:
    thinker = policy.generate(tree_prompts("thinker"), SamplingParams(n=2, max_tokens=new_tokens, seed=1))
    reasoner = policy.generate(tree_prompts("reasoner", [g.text for g in thinker]),
                               SamplingParams(n=4, max_tokens=new_tokens, seed=2))
    return thinker + reasoner


def bench_tree(policy: Any, args: argparse.Namespace) -> dict[str, Any]:
    shared_s, separate_s = [], []
    same = True
    for _ in range(args.repeats):
        policy.share_prefix = True
        seconds, a = timed(lambda: run_tree(policy, args.tree_tokens))
        shared_s.append(seconds)
        policy.share_prefix = False
        seconds, b = timed(lambda: run_tree(policy, args.tree_tokens))
        separate_s.append(seconds)
        same = same and [g.token_ids for g in a] == [g.token_ids for g in b]
    policy.share_prefix = True
    prompt_tokens = len(policy.encode_prompt(tree_prompts("reasoner", ["x"])[0]))
    shared, separate = statistics.median(shared_s), statistics.median(separate_s)
    return {"fanout": [2, 4], "generations": 10, "new_tokens": args.tree_tokens, "context_tokens": prompt_tokens,
            "shared_s": shared, "separate_s": separate, "speedup": separate / shared, "identical_outputs": same,
            "shared_runs": shared_s, "separate_runs": separate_s}


def vllm_worker(args: argparse.Namespace) -> None:
    """Runs inside the vLLM venv: the batch workload through VLLMPolicy; prints one JSON line."""
    from agents.vllm import VLLMPolicy

    model = args.model
    if model == "smollm2":
        from agents.embedded import smollm2_dir

        model = str(smollm2_dir())
    start = time.perf_counter()
    policy = VLLMPolicy(model, dtype=args.vllm_dtype, enforce_eager=True, max_model_len=2048)
    startup = time.perf_counter() - start
    prompts = batch_prompts(args.batch)
    from vllm import SamplingParams as VSP  # noqa: F401  (engine warm-up below uses our params)

    params = SamplingParams(temperature=0.7, max_tokens=args.new_tokens, seed=0)
    policy.generate(prompts[:2], params.with_(max_tokens=4))  # warm-up
    rates = []
    for _ in range(args.repeats):
        # ignore EOS as the transformers run does: vLLM's own flag, through a fresh SamplingParams
        seconds, out = timed(lambda: _vllm_fixed_length(policy, prompts, args.new_tokens))
        rates.append(sum(len(g.token_ids) for g in out) / seconds)
    print("RESULT " + json.dumps({"startup_s": startup, "batch_tok_s": statistics.median(rates), "runs": rates}))


def _vllm_fixed_length(policy: Any, prompts: list, new_tokens: int) -> list[Any]:
    from vllm import SamplingParams as VSP

    requests = [{"prompt_token_ids": policy.encode_prompt(p)} for p in prompts]
    sp = [VSP(temperature=0.7, max_tokens=new_tokens, ignore_eos=True, seed=i) for i in range(len(prompts))]
    outputs = policy.llm.generate(requests, sp, use_tqdm=False)
    return [policy._generation(o.outputs[0], list(o.prompt_token_ids), SamplingParams(max_tokens=new_tokens))
            for o in outputs]


def bench_vllm(args: argparse.Namespace) -> dict[str, Any] | None:
    python = args.vllm_python
    if not python or not Path(python).exists():
        return {"skipped": f"no vLLM venv python at {python!r}"}
    env = {**os.environ, "PYTHONPATH": str(ROOT), "VLLM_CPU_KVCACHE_SPACE": "2", "HF_HUB_OFFLINE": "1",
           "VLLM_CPU_OMP_THREADS_BIND": os.environ.get("VLLM_CPU_OMP_THREADS_BIND", "0-1")}
    cmd = [python, __file__, "--worker", "vllm", "--model", args.model, "--batch", str(args.batch),
           "--new-tokens", str(args.new_tokens), "--repeats", str(args.repeats), "--vllm-dtype", args.vllm_dtype]
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=1200)
    for line in proc.stdout.splitlines():
        if line.startswith("RESULT "):
            return json.loads(line[7:])
    return {"skipped": f"vLLM worker failed (rc={proc.returncode}): {proc.stderr[-800:]}"}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--model", default="smollm2", help="'smollm2' (embedded), 'tiny', or a model directory")
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--sequential", type=int, default=4, help="prompts in the sequential loop")
    parser.add_argument("--new-tokens", type=int, default=32)
    parser.add_argument("--tree-tokens", type=int, default=16)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, default=0, help="torch threads (0: leave the default)")
    parser.add_argument("--skip", nargs="*", default=[], choices=["batch", "tree", "vllm"])
    parser.add_argument("--vllm-python", default="/work/vllm-venv/bin/python")
    parser.add_argument("--dtype", default=None, help="HFPolicy dtype (default: auto, float32 on CPU)")
    parser.add_argument("--vllm-dtype", default="bfloat16")
    parser.add_argument("--worker", choices=["vllm"], help=argparse.SUPPRESS)
    parser.add_argument("--out", default=str(ROOT / "benchmarks" / "results" / "generation_speed.json"))
    args = parser.parse_args()
    if args.worker == "vllm":
        vllm_worker(args)
        return
    import torch

    if args.threads:
        torch.set_num_threads(args.threads)
    results: dict[str, Any] = {"model": args.model, "torch_threads": torch.get_num_threads(),
                               "started": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}
    policy = load_hf_policy(args.model, args.dtype)
    results["hf_dtype"] = str(policy.dtype)
    policy.generate(batch_prompts(2), SamplingParams(max_tokens=2))  # warm-up
    if "batch" not in args.skip:
        results["batch"] = bench_batch(policy, args)
    if "tree" not in args.skip:
        results["tree"] = bench_tree(policy, args)
    if "vllm" not in args.skip:
        del policy
        results["vllm"] = bench_vllm(args)
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(results, indent=2))
    print(f"\nmodel={args.model}  hf dtype={results['hf_dtype']}  torch threads={results['torch_threads']}  "
          f"(medians of {args.repeats})")
    print(f"{'measure':<44} {'value':>12}")
    if "batch" in results:
        b = results["batch"]
        print(f"{'hf batch ' + str(b['batch_size']) + ' tok/s':<44} {b['batch_tok_s']:>12.1f}")
        print(f"{'hf sequential per-prompt tok/s':<44} {b['sequential_tok_s']:>12.1f}")
        print(f"{'batch / sequential (target >= 4x)':<44} {b['speedup']:>11.2f}x")
    if "tree" in results:
        t = results["tree"]
        print(f"{'[2,4] tree, shared prefix (s)':<44} {t['shared_s']:>12.2f}")
        print(f"{'[2,4] tree, no prefix reuse (s)':<44} {t['separate_s']:>12.2f}")
        print(f"{'prefix reuse speedup (identical=' + str(t['identical_outputs']) + ')':<44} {t['speedup']:>11.2f}x")
    if "vllm" in results:
        v = results["vllm"]
        if "skipped" in v:
            print(f"vllm: skipped ({v['skipped'][:200]})")
        else:
            print(f"{'vllm batch tok/s':<44} {v['batch_tok_s']:>12.1f}")
            if "batch" in results:
                ratio = v["batch_tok_s"] / results["batch"]["batch_tok_s"]
                print(f"{'vllm / hf batch':<44} {ratio:>11.2f}x")
    print(f"\nwrote {args.out}")


if __name__ == "__main__":
    main()
