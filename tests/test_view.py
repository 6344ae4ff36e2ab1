"""llm-marl view (issue 18): input detection, the page for every input kind, injection safety,
credits from the project's estimator, the terminal view and the CLI."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from html.parser import HTMLParser
from pathlib import Path

import numpy as np
import pytest

from llm_marl_envs.cli import main
from llm_marl_envs.rollout.data import RunStats, save_jsonl
from llm_marl_envs.view import ViewInputError, build_html, detect
from llm_marl_envs.view.page import json_for_script
from llm_marl_envs.view.rollout_data import diff_segments, rollout_page_data, tree_credits
from llm_marl_envs.view.samples import INJECTION, scripted_rollouts, synthetic_episodes

VOID = {"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "source", "track", "wbr"}


class Structure(HTMLParser):
    """Checks balanced tags and records every start tag with its attributes and every script body."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.stack: list[str] = []
        self.errors: list[str] = []
        self.tags: list[tuple[str, dict[str, str | None]]] = []
        self.scripts: list[tuple[dict[str, str | None], str]] = []
        self._script: dict[str, str | None] | None = None
        self.text: list[str] = []

    def handle_starttag(self, tag, attrs):
        self.tags.append((tag, dict(attrs)))
        if tag == "script":
            self._script = dict(attrs)
            self.scripts.append((self._script, ""))
        if tag not in VOID:
            self.stack.append(tag)

    def handle_startendtag(self, tag, attrs):
        self.tags.append((tag, dict(attrs)))

    def handle_endtag(self, tag):
        if tag in VOID:
            return
        if not self.stack or self.stack[-1] != tag:
            self.errors.append(f"</{tag}> closes <{self.stack[-1] if self.stack else None}>")
            if tag in self.stack:
                while self.stack and self.stack.pop() != tag:
                    pass
            return
        self.stack.pop()
        if tag == "script":
            self._script = None

    def handle_data(self, data):
        if self._script is not None:
            attrs, body = self.scripts[-1]
            self.scripts[-1] = (attrs, body + data)
        else:
            self.text.append(data)


def parse(html: str) -> Structure:
    p = Structure()
    p.feed(html)
    p.close()
    assert html.startswith("<!DOCTYPE html>")
    assert not p.errors, p.errors[:5]
    assert not p.stack, f"unclosed: {p.stack}"
    return p


def page_data(p: Structure) -> dict:
    blocks = [body for attrs, body in p.scripts if attrs.get("type") == "application/json"]
    assert len(blocks) == 1
    return json.loads(blocks[0])


def check_safe(p: Structure) -> None:
    """Exactly the two scripts of the page (the JSON block, the nonce'd code), no handler attribute,
    no javascript: URL, a strict CSP."""
    assert len(p.scripts) == 2, [a for a, _ in p.scripts]
    (data_attrs, data_body), (code_attrs, code_body) = p.scripts
    assert data_attrs == {"type": "application/json", "id": "view-data"}
    assert "</" not in data_body and "<!--" not in data_body and "<" not in data_body
    assert set(code_attrs) == {"nonce"}
    nonce = code_attrs["nonce"]
    for tag, attrs in p.tags:
        assert not any(k.startswith("on") for k in attrs), (tag, attrs)
        for k in ("href", "src", "action", "formaction"):
            v = (attrs.get(k) or "").strip().lower()
            assert not v.startswith("javascript:"), (tag, attrs)
            if v and tag == "img":
                assert v.startswith("data:image/png;base64,")
        assert tag not in ("iframe", "object", "embed", "form", "link", "base")
    csp = [a["content"] for t, a in p.tags if t == "meta" and a.get("http-equiv") == "Content-Security-Policy"]
    assert len(csp) == 1
    assert csp[0].startswith("default-src 'none'")
    assert f"script-src 'nonce-{nonce}'" in csp[0] and "img-src data:" in csp[0] and "unsafe" not in csp[0]


@pytest.fixture(scope="module")
def rollouts(tmp_path_factory):
    d = tmp_path_factory.mktemp("rollouts")
    episodes, votes, trees = scripted_rollouts()
    save_jsonl(episodes + [RunStats(episodes=len(episodes), evaluator_calls=len(episodes))], d / "dyad.jsonl")
    save_jsonl(votes, d / "vote.jsonl")
    save_jsonl(trees, d / "trees.jsonl")
    return d, episodes, votes, trees


# ----------------------------------------------------------------------------- detection
def test_detect_each_kind(rollouts, tmp_path):
    d = rollouts[0]
    assert detect(d / "dyad.jsonl").kind == "rollout"
    assert detect(d / "trees.jsonl").kind == "rollout"
    run = tmp_path / "run"
    run.mkdir()
    (run / "metrics.jsonl").write_text('{"iteration": 0, "train_reward_mean": 0.5}\n')
    assert detect(run).kind == "run" and detect(run / "metrics.jsonl").kind == "run"
    lab = tmp_path / "lab"
    lab.mkdir()
    (lab / "results.json").write_text(json.dumps({"preset": "quick", "regimes": []}))
    assert detect(lab).kind == "bench-lab" and detect(lab / "results.json").kind == "bench-lab"
    credit = tmp_path / "credit"
    credit.mkdir()
    (credit / "results.json").write_text(json.dumps({"benchmark": "credit", "runs": []}))
    assert detect(credit).kind == "bench-credit"


@pytest.mark.parametrize("content", [None, "", "hello\n", '{"type": "banana"}\n', "[1, 2]\n", "dir", "json"])
def test_detect_refuses_with_one_line(tmp_path, content):
    p = tmp_path / "x.jsonl"
    if content == "dir":
        p.mkdir()
    elif content == "json":
        p = tmp_path / "results.json"
        p.write_text('{"something": 1}')
    elif content is not None:
        p.write_text(content)
    with pytest.raises(ViewInputError) as e:
        detect(p)
    msg = str(e.value)
    assert "\n" not in msg and str(p) in msg and "expected" in msg


def test_cli_error_is_one_line(tmp_path, capsys):
    assert main(["view", str(tmp_path / "nothing.jsonl")]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "nothing.jsonl" in err and "expected" in err


# ----------------------------------------------------------------------------- rollout pages
def test_episode_page(rollouts, tmp_path, capsys):
    d, episodes, _, _ = rollouts
    out = tmp_path / "dyad.html"
    assert main(["view", str(d / "dyad.jsonl"), "-o", str(out)]) == 0
    assert str(out) in capsys.readouterr().err
    p = parse(out.read_text())
    check_safe(p)
    data = page_data(p)
    assert data["kind"] == "rollout" and len(data["episodes"]) == len(episodes) and data["stats"]
    strings = data["strings"]
    for ep, e in zip(episodes, data["episodes"], strict=True):
        assert e["id"] == ep.episode_id and e["reward"] == ep.reward and e["verdict"] == ep.verdict.to_dict()
        assert [m["content"] for m in e["msgs"]] == [m.content for m in ep.messages]
        assert [strings[m["ctx"]] for m in e["msgs"]] == [m.context for m in ep.messages]  # exact contexts
        assert strings[e["prompt"]] == ep.task.prompt and e["answer"] == ep.task.answer
    assert {0.0, 1.0} <= {e["reward"] for e in data["episodes"]}
    assert data["roles"] == ["reasoner", "thinker"]
    text = "".join(p.text)
    assert f"{len(episodes)}" in text and "mean team reward" in text


def test_voting_page_has_counterfactuals(rollouts, tmp_path):
    d, _, votes, _ = rollouts
    data = page_data(parse(build_html(detect(d / "vote.jsonl"))))
    assert [e["cf"] for e in data["episodes"]] == [ep.counterfactual_rewards for ep in votes]
    assert any(e["team"]["votes"] for e in data["episodes"])


def test_tree_page_credit_is_the_estimators(rollouts):
    d, _, _, trees = rollouts
    p = parse(build_html(detect(d / "trees.jsonl")))
    check_safe(p)
    data = page_data(p)
    assert len(data["trees"]) == len(trees) and data["credit_note"].startswith("C3 credit")
    from algorithms.batch import RolloutBatch
    from algorithms.estimators import ESTIMATORS

    batch = RolloutBatch.from_trees(trees)
    credits = ESTIMATORS["c3"](batch)
    expected = {d_.episode_id: (r, a) for d_, r, a in zip(batch.decisions, credits.raw, credits.advantages, strict=True)}
    seen = 0
    for tree, t in zip(trees, data["trees"], strict=True):
        nodes = {n["id"]: n for n in t["nodes"]}
        assert set(nodes) == set(tree.nodes)
        for nid, node in tree.nodes.items():
            n = nodes[nid]
            assert n["value"] == node.value and n["children"] == node.children
            if node.message is None:
                assert n["loo"] is None
                continue
            raw, adv = expected[f"{tree.tree_id}/{nid}"]
            assert n["loo"] == pytest.approx(raw) and n["adv"] == pytest.approx(adv)
            sibs = [tree.nodes[s].value for s in tree.nodes[node.parent_id].children if s != nid]
            # the definition, checked here against the estimator's output (the view has no copy of it)
            assert n["loo"] == pytest.approx(node.value - float(np.mean(sibs)) if sibs else 0.0)
            assert n["same_ctx"] is (True if sibs else None)
            seen += 1
    assert seen == len(batch) and any(abs(n["loo"]) > 0 for t in data["trees"] for n in t["nodes"] if n["loo"])


def test_credit_unavailable_without_algorithms(rollouts, monkeypatch):
    _, _, _, trees = rollouts
    monkeypatch.setitem(sys.modules, "algorithms.estimators", None)  # import fails
    credit, note = tree_credits(trees)
    assert credit == {} and note.startswith("credit unavailable")
    data = rollout_page_data([], trees)
    assert all(n["loo"] is None for t in data["trees"] for n in t["nodes"])


def test_credit_unavailable_when_the_estimator_refuses(rollouts):
    _, _, _, trees = rollouts
    import copy

    bad = copy.deepcopy(trees[0])
    kid = bad.nodes[bad.root.children[0]]
    kid.message.context += " (changed)"  # siblings no longer share a byte-identical context
    credit, note = tree_credits([bad])
    assert credit == {} and note.startswith("credit unavailable") and "context" in note


def test_sibling_diff_marks_only_the_difference():
    segs = diff_segments("the answer is 7 today", "the answer is 9 today")
    assert "".join(s for _, s in segs) == "the answer is 7 today"
    assert [s for c, s in segs if c] == ["7"]
    assert diff_segments("x" * 7000, "y") == [[0, "x" * 7000]]


def test_json_block_cannot_be_closed():
    s = json_for_script({"a": "</script><!-- </SCRIPT > \u2028 <b>&amp;"})
    assert "<" not in s and ">" not in s and "&" not in s and "\u2028" not in s
    assert json.loads(s) == {"a": "</script><!-- </SCRIPT > \u2028 <b>&amp;"}
    assert json.loads(json_for_script({"s": "\udc80"})) == {"s": "\udc80"}  # a lone surrogate survives


def test_injection_is_inert_in_html(tmp_path):
    eps = synthetic_episodes(6, inject=INJECTION)
    path = tmp_path / "evil.jsonl"
    save_jsonl(eps, path)
    html = build_html(detect(path))
    p = parse(html)
    check_safe(p)
    data = page_data(p)
    assert data["episodes"][0]["msgs"][0]["content"].endswith(INJECTION)  # kept exactly, as data
    assert data["episodes"][0]["task"].endswith(INJECTION)
    outside = re.sub(r'<script type="application/json" id="view-data">.*?</script>', "", html, flags=re.S)
    assert "<script>" not in outside and "onerror=" not in outside and "javascript:" not in outside
    assert "data-pwned" not in outside  # the injected text appears nowhere outside the JSON block


def test_injection_is_inert_in_server_side_text(tmp_path):
    run = tmp_path / "run<script>"
    run.mkdir()
    (run / "metrics.jsonl").write_text(json.dumps({"iteration": 0, INJECTION: 1.0, "train_reward_mean": 0.1}) + "\n")
    (run / "config.json").write_text(json.dumps({"learner": INJECTION, "env_id": INJECTION}))
    html = build_html(detect(run))
    p = parse(html)
    check_safe(p)
    assert "<script>document" not in html and "<img" not in html
    assert INJECTION.split("<img")[0].replace("<script>", "").split("</script>")[0] in "".join(p.text)


def test_pages_need_no_torch(tmp_path):
    """Rollout pages without trees import neither torch nor algorithms (llm_marl_envs never imports torch)."""
    path = tmp_path / "e.jsonl"
    save_jsonl(synthetic_episodes(5), path)
    code = ("import sys; from llm_marl_envs.view import detect, build_html; "
            f"build_html(detect({str(path)!r})); import llm_marl_envs.view.terminal, llm_marl_envs.view.cli; "
            "assert 'torch' not in sys.modules, 'torch imported'; print('ok')")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0 and "ok" in out.stdout, out.stderr[-2000:]


def test_ten_thousand_episodes_page(tmp_path):
    path = tmp_path / "big.jsonl"
    save_jsonl(synthetic_episodes(10_000, marker_every=97), path)
    html = build_html(detect(path))
    size = len(html.encode())
    data = page_data(parse(html))
    assert len(data["episodes"]) == 10_000
    assert size < 25e6, size


# ----------------------------------------------------------------------------- runs and benchmarks
RUN_RECORDS = [
    {"iteration": 0, "evaluator_calls": 0, "generated_tokens": 0, "wall_s": 0.0, "train_reward_mean": None,
     "eval/n_tasks": 4, "eval/greedy_accuracy": 0.25, "eval/greedy_reward": 0.25, "eval/pass@4": 0.5,
     "eval/pass@1": 0.2, "eval/k": 4, "eval/evaluator_calls": 20},
    *[{"iteration": i, "evaluator_calls": 64 * i, "generated_tokens": 900 * i, "wall_s": 3.0 * i,
       "train_reward_mean": 0.1 * i, "rollout_s": 1.0, "decisions": 128, "trained_decisions": 128,
       "adv_mean": 0.0, "adv_abs_mean": 0.5 + 0.01 * i, "raw_credit_abs_mean": 0.2, "loss/policy": -0.01 * i,
       "grad_norm": 1.5, "upstream_answer_leak_rate": 0.0, "estimator/n_groups": 16.0} for i in range(1, 5)],
    {"iteration": 4, "eval/greedy_accuracy": 0.5, "eval/pass@1": 0.4, "eval/pass@4": 0.75, "eval/evaluator_calls": 20},
]


def test_run_page(tmp_path):
    run = tmp_path / "run1"
    run.mkdir()
    (run / "metrics.jsonl").write_text("".join(json.dumps(r) + "\n" for r in RUN_RECORDS))
    (run / "config.json").write_text(json.dumps({"learner": "c3", "env_id": "llm-marl/MathDyad-v0", "budget": 8}))
    (run / "tb").mkdir()
    credit_rows = [{"iteration": 4, "episode_id": f"t/root.{i}", "group_id": "t|thinker|root", "task_id": "t",
                    "role": "thinker", "agent": "thinker_0", "node_id": f"root.{i}", "reward": float(i),
                    "advantage": 0.7 * (2 * i - 1), "raw": 0.5 * (2 * i - 1), "trainable": True,
                    "text": f"plan {i} {INJECTION}", "context": "ctx " + INJECTION} for i in range(2)]
    (run / "credits.jsonl").write_text("".join(json.dumps(r) + "\n" for r in credit_rows))
    out = tmp_path / "run.html"
    assert main(["view", str(run), "-o", str(out)]) == 0
    html = out.read_text()
    p = parse(html)
    check_safe(p)
    svgs = [a for t, a in p.tags if t == "svg"]
    titles = [a.get("aria-label") for a in svgs]
    for want in ("reward", "accuracy", "credit statistics", "evaluator calls", "tokens"):
        assert want in titles, titles
    text = "".join(p.text)
    assert "eval/greedy_accuracy" in text and "adv_abs_mean" in text and "tensorboard --logdir" in text
    assert "c3" in text and "budget" in text
    assert "Credits the learner trained on (iteration 4, 2 messages)" in text and "-0.700" in text and "0.700" in text
    assert "plan 1 " + INJECTION in text  # the logged message, escaped, in full
    assert main(["view", str(run)]) == 0 and (run / "view.html").exists()  # default output beside the input


def _credit_results(tmp_path: Path) -> Path:
    """A bench-credit results folder written by the benchmark's own finish() (tables and plots)."""
    pytest.importorskip("matplotlib")
    from algorithms.bench.credit import finish
    from algorithms.bench.presets import PRESETS

    rng = np.random.default_rng(0)
    runs = []
    for learner in ("grpo", "c3"):
        for seed in (0, 1):
            curve = [{"iteration": it, "greedy": float(rng.uniform(0.2, 0.5)), "pass_at_1": float(rng.uniform(0.2, 0.5)),
                      "pass_at_k": float(rng.uniform(0.4, 0.8))} for it in (0, 4, 8)]
            final = {**{k: v for k, v in curve[-1].items() if k != "iteration"}, "n_eval": 32, "evaluator_calls": 512,
                     "generated_tokens": 9000, "optimizer_steps": 8, "wall_s": 10.0, "fidelity": 0.3,
                     "null_fidelity": 0.0, "within_group_var": 0.1, "influence": 0.2, "upstream_entropy": 1.0,
                     "cmi_over_h": 0.2, "train_reward_last": 0.4}
            runs.append({"topology": "MathDyad", "env_id": "llm-marl/MathDyad-v0", "learner": learner, "seed": seed,
                         "curve": curve, "final": final, "history": [], "diagnostics": {}})
    out = tmp_path / "credit-quick"
    out.mkdir()
    preset = PRESETS["quick"].to_dict()
    results = {"benchmark": "credit", "kind": "integration run on a real transformer", "preset": preset,
               "git_commit": "abc", "machine": {"cpu_model": "x", "load_avg": [1.0, 1.0, 1.0]}, "runs": runs,
               "runs_total": 4, "partial": False, "tasks": {"n_eval": 32}, "wall_s": 100.0}
    finish(results, out, plots=True, log=None)
    return out


def test_bench_credit_page(tmp_path):
    out = _credit_results(tmp_path)
    res = json.loads((out / "results.json").read_text())
    pngs = sorted(p.name for p in out.glob("*.png"))
    assert pngs
    p = parse(build_html(detect(out)))
    check_safe(p)
    text = "".join(p.text)
    assert res["noise_line"] in text and "SFT (no RL)" in text and "beyond noise" in text
    cell = res["summary"]["MathDyad"]["c3"]["greedy"]
    assert f"{cell['mean']:.3f} [{cell['lo']:.3f}, {cell['hi']:.3f}]" in text  # the interval, as the table gives it
    imgs = [a for t, a in p.tags if t == "img"]
    assert sorted(a["alt"] for a in imgs) == pngs
    assert any(t == "svg" for t, _ in p.tags)


LAB_RESULTS = {
    "preset": "quick", "seeds": 32, "iterations": 50, "budget": 8, "wall_s": 61.2,
    "machine": {"cpu": "test", "cores": 2}, "git": "deadbeef",
    "regimes": [{
        "name": "frozen_thinker", "hypothesis": "C3 beats GRPO when the thinker's message decides the answer.",
        "knobs": {"n_hints": 4, "noise": 0.1}, "f": 0.62, "judged_on": "final",
        "learners": {name: {
            "curve": {"calls": [0, 64, 128], "mean": [0.3, 0.4 + d, 0.5 + d], "ci95_lo": [0.28, 0.37 + d, 0.46 + d],
                      "ci95_hi": [0.32, 0.43 + d, 0.54 + d]},
            "final_J": {"mean": 0.5 + d, "ci95": [0.46 + d, 0.54 + d]}, "auc": {"mean": 0.4 + d, "ci95": [0.38 + d, 0.42 + d]},
            "calls_to_80pct": 96.0, "snr": {"thinker": {"init": 1.2, "mid": 0.9}, "reasoner": {"init": 0.8, "mid": 0.7}},
            "fidelity": {"within": {"thinker": 0.7, "reasoner": 0.6}, "pooled": {"thinker": 0.5, "reasoner": 0.4}},
            "thinker_contribution": 0.3, "p_null": 0.1, "cmi_over_h": 0.4, "trained_messages_per_iter": 16.0}
            for name, d in (("grpo", 0.0), ("c3", 0.1), ("ccpo_crn", 0.05))},
        "comparisons": [
            {"learner": "c3", "baseline": "grpo", "diff_final": {"mean": 0.1, "ci95": [0.05, 0.15]},
             "diff_auc": {"mean": 0.1, "ci95": [0.06, 0.14]}, "expected_sign": 1, "verdict": "hypothesis held"},
            {"learner": "ccpo_crn", "baseline": "grpo", "diff_final": {"mean": 0.05, "ci95": [-0.01, 0.11]},
             "diff_auc": {"mean": 0.05, "ci95": [-0.02, 0.12]}, "expected_sign": None, "verdict": "no practical difference"}],
    }],
}


def test_bench_lab_page(tmp_path):
    out = tmp_path / "lab-quick"
    out.mkdir()
    (out / "results.json").write_text(json.dumps(LAB_RESULTS))
    p = parse(build_html(detect(out)))
    check_safe(p)
    text = "".join(p.text)
    assert "frozen_thinker" in text and "C3 beats GRPO" in text and "hypothesis held" in text
    assert "no practical difference" in text and "snr thinker init" in text and "fidelity pooled reasoner" in text
    assert "0.600 [0.560, 0.640]" in text  # c3's final J with its interval
    assert "0.100 [0.050, 0.150]" in text  # the paired difference with its interval
    assert "0.620" in text  # f
    svg = [a for t, a in p.tags if t == "svg"]
    assert svg and "exact held-out J" in svg[0]["aria-label"]
    assert sum(1 for t, a in p.tags if t == "polygon") == 3  # one 95% band per learner


# ----------------------------------------------------------------------------- terminal
def test_terminal_view_escapes_markup(tmp_path):
    pytest.importorskip("rich")
    from rich.console import Console

    from llm_marl_envs.view.terminal import render_terminal

    path = tmp_path / "evil.jsonl"
    save_jsonl(synthetic_episodes(3, inject="[bold red]X[/] [link=javascript:x]y[/link]"), path)
    console = Console(record=True, width=400, color_system=None)
    render_terminal(detect(path), console=console)
    text = console.export_text()
    assert "[bold red]X[/]" in text and "3 episodes" in text  # printed as it is, not interpreted


def test_terminal_views_of_trees_runs_and_benchmarks(rollouts, tmp_path):
    pytest.importorskip("rich")
    from rich.console import Console

    from llm_marl_envs.view.terminal import render_terminal

    console = Console(record=True, width=200, color_system=None)
    render_terminal(detect(rollouts[0] / "trees.jsonl"), console=console)
    assert "LOO" in console.export_text()
    run = tmp_path / "run"
    run.mkdir()
    (run / "metrics.jsonl").write_text("".join(json.dumps(r) + "\n" for r in RUN_RECORDS))
    render_terminal(detect(run), console=console)
    assert "adv_abs_mean" in console.export_text()
    lab = tmp_path / "lab"
    lab.mkdir()
    (lab / "results.json").write_text(json.dumps(LAB_RESULTS))
    render_terminal(detect(lab), console=console)
    assert "hypothesis held" in console.export_text()


def test_assets_are_package_data():
    """page.js and page.css are read with importlib.resources: a wheel must carry them."""
    tomllib = pytest.importorskip("tomllib")

    cfg = tomllib.loads((Path(__file__).parents[1] / "pyproject.toml").read_text())
    patterns = [p for v in cfg["tool"]["setuptools"]["package-data"].values() for p in v]
    assert "*.js" in patterns and "*.css" in patterns, patterns


def test_bad_record_is_a_one_line_error(rollouts, tmp_path, capsys):
    path = tmp_path / "broken.jsonl"
    good = (rollouts[0] / "dyad.jsonl").read_text().splitlines()[0]
    path.write_text(good + "\n" + '{"type": "episode", "episode_id": "x"}\n')  # second record lacks fields
    assert main(["view", str(path), "-o", str(tmp_path / "b.html")]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "broken.jsonl" in err and "not a valid" in err
    assert not (tmp_path / "b.html").exists()
