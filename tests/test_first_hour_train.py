"""The first hour with ``llm-marl train`` (issue 14): nothing lost, nothing silent, clear errors.

Each test failed before its fix: resuming a different run, learner defaults overriding explicit
settings, two prompt normalisations, the unreachable testbed backend, silent no-signal runs, a
checkpoint every iteration, Ctrl-C tracebacks, unnamed config errors, Hub tracebacks for a missing
model path, and the transformers ``past_key_values`` warning at every generation.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from test_alg_trainer import DIGIT_TASKS, digit_config, digit_trainer, tiny_policy

from algorithms import TrainConfig, Trainer
from llm_marl_envs.cli import main
from llm_marl_envs.types import Task, Verdict

ROOT = Path(__file__).resolve().parents[1]
TINY_TRAIN = ["--backend", "tiny", "--budget", "2", "--tasks-per-iter", "2", "--n-eval", "2", "--eval-k", "0",
              "--max-tokens", "4", "--env-kwargs", '{"prompt_style": "compact"}', "--tensorboard", "false"]


def _cli(args: list[str], **kw) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "llm_marl_envs.cli", *args], capture_output=True, text=True,
                          timeout=600, cwd=ROOT, **kw)


def _one_line(err: str) -> str:
    lines = [x for x in err.strip().splitlines() if x.strip()]
    assert len(lines) == 1, err[-3000:]
    assert "Traceback" not in err
    return lines[0]


# ------------------------------------------------------------------ resume never mixes runs
def test_resume_refuses_a_run_with_another_config(tmp_path):
    digit_trainer(digit_config("c3", tmp_path, save_every=1, resume=True)).train()
    before = (tmp_path / "metrics.jsonl").read_text()
    with pytest.raises(ValueError) as err:
        digit_trainer(digit_config("grpo", tmp_path, resume=True))
    message = str(err.value)
    assert "\n" not in message and "learner: 'c3' -> 'grpo'" in message
    assert "--resume false" in message and "--out-dir" in message
    assert (tmp_path / "metrics.jsonl").read_text() == before  # c3's metrics untouched
    # the same run with more iterations resumes; starting over is explicit
    resumed = digit_trainer(digit_config("c3", tmp_path, iterations=2, resume=True))
    assert resumed.iteration == 1
    fresh = digit_trainer(digit_config("grpo", tmp_path, resume=False))
    assert fresh.iteration == 0 and not (tmp_path / "checkpoint" / "state.pt").exists()


def test_a_stale_checkpoint_of_another_run_is_never_loaded(tmp_path):
    """The checkpoint carries its own config: config.json alone cannot vouch for it."""
    digit_trainer(digit_config("c3", tmp_path, save_every=1, resume=True)).train()
    stale = (tmp_path / "checkpoint" / "state.pt").read_bytes()
    digit_trainer(digit_config("grpo", tmp_path, resume=False))  # writes grpo's config.json
    (tmp_path / "checkpoint" / "state.pt").write_bytes(stale)
    with pytest.raises(ValueError, match="learner"):
        digit_trainer(digit_config("grpo", tmp_path, resume=True))


def test_cli_refuses_to_resume_another_learner_in_one_line(tmp_path):
    out = str(tmp_path / "run")
    first = _cli(["train", "--learner", "grpo", "--iterations", "1", "--out-dir", out, "--progress", "false", *TINY_TRAIN])
    assert first.returncode == 0, first.stderr[-2000:]
    second = _cli(["train", "--learner", "rema", "--iterations", "1", "--out-dir", out, "--progress", "false",
                   *TINY_TRAIN])
    assert second.returncode == 2
    line = _one_line(second.stderr)
    assert "learner: 'grpo' -> 'rema'" in line and "--resume false" in line and "--out-dir" in line


# ------------------------------------------------------------------ explicit settings win
def test_explicit_settings_win_over_learner_defaults(tmp_path):
    explicit = digit_trainer(digit_config("ccpo_v1", tmp_path / "a", loss="ppo_token", dual_clip=None))
    assert (explicit.cfg.loss, explicit.cfg.dual_clip) == ("ppo_token", None)
    assert explicit.loss_config.dual_clip is None
    defaults = digit_trainer(digit_config("ccpo_v1", tmp_path / "b"))
    assert (defaults.cfg.loss, defaults.cfg.dual_clip) == ("ppo_sequence", 3.0)
    via_set = TrainConfig(learner="ccpo_v1").with_overrides(["loss=ppo_token", "dual_clip=none"])
    assert {"loss", "dual_clip"} <= via_set.explicit_fields()
    path = tmp_path / "run.toml"
    path.write_text('learner = "ccpo_v1"\nloss = "ppo_token"\n')
    assert TrainConfig.from_file(path).explicit_fields() == {"learner", "loss"}


# ------------------------------------------------------------------ one prompt normalisation
def test_one_normalize_prompt_for_training_and_benchmark(tmp_path):
    from algorithms.bench import holdout
    from algorithms.evaluation import normalize_prompt

    assert holdout.normalize_prompt is normalize_prompt
    same = [("Compute 2+3!", "compute 2 + 3"), ("What is  THE sum?\n", "what is the sum"),
            ("Let x = 3.5; find x.", "let x = 3.5 find x"), ("\\frac{1}{2}", "frac 1 2")]
    for a, b in same:
        assert normalize_prompt(a) == normalize_prompt(b), (a, b)
    for a, b in [("2+3", "2-3"), ("3.5", "35"), ("x < 1", "x > 1")]:
        assert normalize_prompt(a) != normalize_prompt(b), (a, b)
    # the trainer's held-out check uses it: a punctuation variant of a held-out prompt is never trained on
    clones = [Task(id=f"c{i}", kind="math", prompt=t.prompt.upper() + "!!", answer="0") for i, t in enumerate(DIGIT_TASKS[36:])]
    trainer = Trainer(digit_config("grpo", tmp_path), policy=tiny_policy(), train_tasks=clones + DIGIT_TASKS[:4],
                      eval_tasks=DIGIT_TASKS[36:])
    for it in range(1, 4):
        assert {t.id for t in trainer.sample_tasks(it)} <= {t.id for t in DIGIT_TASKS[:4]}


# ------------------------------------------------------------------ the testbed from the CLI
def test_testbed_backend_is_reachable_from_train(tmp_path):
    """``--backend testbed`` resolves through agents.BACKENDS (was: unknown agent backend)."""
    from algorithms.testbed import TestbedConfig, pretrain

    tiny = TestbedConfig(hidden_size=32, num_layers=1, num_heads=2, n_sft_tasks=12, steps=2, batch_size=8,
                         warmup_steps=1)
    folder = pretrain(tiny, tmp_path / "testbed", log=None)
    run = _cli(["train", "--preset", "testbed", "--learner", "grpo", "--model", str(folder), "--iterations", "1", "--budget", "2",
                "--tasks-per-iter", "1", "--n-eval", "2", "--eval-k", "0", "--max-tokens", "4",
                "--out-dir", str(tmp_path / "run"), "--progress", "false", "--tensorboard", "false"])
    assert run.returncode == 0, run.stderr[-2000:]
    assert json.loads((tmp_path / "run" / "config.json").read_text())["backend"] == "testbed"
    # the preset also evaluates its training tasks, and the run ends with one before/after line
    records = [json.loads(line) for line in (tmp_path / "run" / "metrics.jsonl").read_text().splitlines()]
    assert records[0]["train_eval/n_tasks"] == 1 and "train_eval/greedy_accuracy" in records[-1]
    summary = next(line for line in run.stdout.splitlines() if line.startswith("iteration 0 -> 1: "))
    assert "eval/greedy_accuracy" in summary and "train_eval/greedy_accuracy" in summary
    missing = _cli(["train", "--backend", "testbed", "--model", str(tmp_path / "nope"), "--out-dir",
                    str(tmp_path / "run2"), "--progress", "false"])
    assert missing.returncode == 2 and "testbed.json" in _one_line(missing.stderr)


# ------------------------------------------------------------------ no learning signal: warn once
class ZeroVerifier:
    """Every answer scores 0: no advantage, no gradient, nothing to learn."""

    kind = "math"

    def verify(self, response: str, task: Task) -> Verdict:
        return Verdict(correct=False, score=0.0, status="ok", extracted=None, detail="")

    def verify_many(self, responses, tasks):
        return [self.verify(r, t) for r, t in zip(responses, tasks, strict=True)]

    def answer_key(self, response: str):
        return None


def test_a_run_without_learning_signal_warns_once(tmp_path, capsys):
    cfg = digit_config("grpo", tmp_path, iterations=5,
                       env_kwargs={"prompt_style": "compact", "verifier": {"math": ZeroVerifier()}, "tasks": DIGIT_TASKS})
    digit_trainer(cfg).train()
    err = capsys.readouterr().err
    warnings = [x for x in err.splitlines() if "no learning signal" in x]
    assert len(warnings) == 1 and "3 iterations" in warnings[0]


def test_a_learning_run_does_not_warn(tmp_path, capsys):
    digit_trainer(digit_config("grpo", tmp_path, iterations=3)).train()
    assert "no learning signal" not in capsys.readouterr().err


def test_no_signal_watch_needs_consecutive_silent_iterations():
    from algorithms.metrics_log import NoSignalWatch

    watch = NoSignalWatch(patience=2)
    silent, alive = {"adv_abs_mean": 0.0, "trained_decisions": 4}, {"adv_abs_mean": 0.3, "grad_norm": 0.1}
    assert watch.update(silent) is None and watch.update(alive) is None and watch.update(silent) is None
    assert watch.update({"adv_abs_mean": 0.2, "grad_norm": 0.0}) is not None
    assert watch.update(silent) is None  # once


# ------------------------------------------------------------------ checkpoints: keep-last, not every iteration
def test_checkpoints_default_to_every_ten_iterations_and_keep_one(tmp_path):
    assert TrainConfig().save_every == 10
    seen = []
    cfg = digit_config("grpo", tmp_path, iterations=3, save_every=TrainConfig().save_every)
    trainer = digit_trainer(cfg, callbacks={"on_iteration_end": lambda t, r: seen.append(t.checkpoint_path.exists())})
    trainer.train()
    assert seen == [False, False, True]  # only at the end of a 3-iteration run
    assert sorted(p.name for p in (tmp_path / "checkpoint").iterdir()) == ["state.pt"]


# ------------------------------------------------------------------ Ctrl-C: one line, then resume
def test_ctrl_c_prints_one_line_and_the_run_resumes(tmp_path):
    out = tmp_path / "run"
    cmd = [sys.executable, "-m", "llm_marl_envs.cli", "train", "--learner", "grpo", "--iterations", "100000",
           "--save-every", "1", "--out-dir", str(out), "--progress", "false", *TINY_TRAIN]
    # The child gets SIGINT's default disposition, as a terminal's foreground job has: a test run launched
    # in the background by a non-interactive shell inherits SIGINT ignored, and Python then installs no
    # KeyboardInterrupt handler (seen: the interrupt was ignored and the run went on to its end).
    child = subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                             start_new_session=True, preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    try:
        deadline = time.time() + 300
        while not (out / "checkpoint" / "state.pt").exists() and time.time() < deadline and child.poll() is None:
            time.sleep(0.2)
        time.sleep(0.5)
        os.killpg(child.pid, signal.SIGINT)  # what Ctrl-C in a terminal does: the whole process group
        _, err = child.communicate(timeout=120)
    finally:
        if child.poll() is None:
            os.killpg(child.pid, signal.SIGKILL)
    assert child.returncode == 130, err[-3000:]
    # One line for the interrupt; a run slow enough to pass 3 silent iterations first may also have
    # printed the one-line no-signal warning (seen in CI), and nothing else.
    lines = [x for x in err.strip().splitlines() if x.strip()]
    assert "Traceback" not in err and all(x.startswith("warning: no learning signal") for x in lines[:-1]), err[-3000:]
    line = lines[-1]
    assert f"last checkpoint {out / 'checkpoint' / 'state.pt'}" in line and "resume" in line
    again = _cli(["train", "--learner", "grpo", "--iterations", "2", "--out-dir", str(out), *TINY_TRAIN])
    assert "resuming" in again.stderr or "already trained" in again.stderr, again.stderr[-2000:]


def test_interrupt_message_before_the_first_checkpoint(tmp_path):
    from algorithms.cli import interrupted_message

    cfg = digit_config("grpo", tmp_path)
    assert "before training started" in interrupted_message(None, cfg)
    assert "no checkpoint yet" in interrupted_message(digit_trainer(cfg), cfg)


def test_iteration_zero_evaluation_shows_progress(tmp_path, capsys):
    digit_trainer(digit_config("grpo", tmp_path, iterations=1, progress=True)).train()
    err = capsys.readouterr().err
    assert "evaluating iteration 0" in err and "rollout" in err


# ------------------------------------------------------------------ config errors name the file and the field
@pytest.mark.parametrize(("name", "text", "expected"), [
    ("bad.json", '{"iterations": 3,\n "lr" 0.1}', ["bad.json", "invalid JSON at line 2, column 7"]),
    ("bad.toml", 'iterations = 3\nlr = \n', ["bad.toml", "invalid TOML", "line 2"]),
    ("run.yaml", "iterations: 3\n", ["run.yaml", "unsupported format '.yaml'", "supported: .json, .toml"]),
    ("typed.json", '{"iterations": "3"}', ["typed.json", "iterations: expected an integer, got '3'"]),
    ("unknown.json", '{"learning_rate": 1}', ["unknown.json", "learning_rate"]),
])
def test_config_file_errors_name_the_file_and_position(tmp_path, capsys, name, text, expected):
    path = tmp_path / name
    path.write_text(text)
    assert main(["train", "--config", str(path), "--out-dir", str(tmp_path / "run")]) == 2
    line = _one_line(capsys.readouterr().err)
    for part in expected:
        assert part in line, line


@pytest.mark.parametrize(("argv", "expected"), [
    (["--set", "iterations=abc"], "--set iterations: expected an integer, got 'abc'"),
    (["--iterations", "abc"], "--iterations: expected an integer, got 'abc'"),
    (["--resume", "maybe"], "--resume: expected a boolean (true/false), got 'maybe'"),
    (["--env-kwargs", "{oops"], "--env-kwargs: expected a JSON object"),
    (["--set", "nope=1"], "unknown TrainConfig field 'nope'"),
])
def test_bad_values_name_the_field_and_the_type(tmp_path, capsys, argv, expected):
    assert main(["train", *argv, "--out-dir", str(tmp_path)]) == 2
    assert expected in _one_line(capsys.readouterr().err)


def test_help_shows_every_default():
    out = _cli(["train", "--help"]).stdout
    for flag, default in (("--iterations", "20"), ("--save-every", "10"), ("--resume", "true"), ("--fanout", "none"),
                          ("--backend", "hf")):
        block = out[out.index(f"  {flag} "):]
        assert f"(default: {default})" in " ".join(block.split("\n  --")[0].split()), flag


# ------------------------------------------------------------------ model paths and the HF warning
def test_a_missing_model_path_is_one_line(tmp_path, capsys):
    assert main(["train", "--model", "/nonexistent/model", "--out-dir", str(tmp_path)]) == 2
    line = _one_line(capsys.readouterr().err)
    assert "'/nonexistent/model' does not exist" in line and "config.json" in line
    (tmp_path / "empty").mkdir()
    assert main(["rollout", "llm-marl/MathDyad-v0", "--policy", "hf", "--policy-arg", f"model={tmp_path / 'empty'}",
                 "--out", "-"]) == 2
    line = _one_line(capsys.readouterr().err)
    assert "is not a model folder (no config.json and no weights)" in line


@pytest.mark.parametrize("backend", ["oracle", "random"])
def test_an_untrainable_backend_is_one_line(tmp_path, capsys, backend):
    assert main(["train", "--backend", backend, "--out-dir", str(tmp_path)]) == 2
    assert "hf, tiny or testbed" in _one_line(capsys.readouterr().err)


def test_generation_prints_no_transformers_deprecation_warning():
    code = ("import agents; from llm_marl_envs.policy import SamplingParams;"
            "p = agents.make_policy('tiny', hidden_size=32, num_layers=1, num_heads=2);"
            "p.generate([[{'role': 'user', 'content': 'hi'}]] * 2, SamplingParams(max_tokens=4, n=2))")
    run = subprocess.run([sys.executable, "-W", "default", "-c", code], capture_output=True, text=True, cwd=ROOT,
                         timeout=300)
    assert run.returncode == 0, run.stderr[-2000:]
    assert "deprecated" not in run.stderr, run.stderr[-2000:]
