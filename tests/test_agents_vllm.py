"""The vLLM backend. Real tests (slow) run wherever vLLM imports: in this interpreter, or in the
vLLM virtual environment (``$LLM_MARL_VLLM_PYTHON`` or ``/work/vllm-venv/bin/python``; recipe in
``../shared/reference/vllm-cpu.md``), through a child process; otherwise they skip with the reason."""

from __future__ import annotations

from pathlib import Path

import pytest

from agents.vllm import VLLMPolicy, vllm_available
from tests.agents_fixtures import find_vllm_python, run_vllm_child, vllm_checks

ROOT = Path(__file__).resolve().parents[1]
HERE_OK, HERE_REASON = vllm_available()


def test_missing_vllm_is_a_clear_error():
    if HERE_OK:
        pytest.skip(f"vllm {HERE_REASON} imports here")
    with pytest.raises(ImportError, match="the vllm backend needs vLLM"):
        VLLMPolicy("/nonexistent")


@pytest.fixture(scope="module")
def checks(tmp_path_factory):
    from agents.embedded import smollm2_dir

    model_dir = str(smollm2_dir())
    if HERE_OK:
        return vllm_checks(model_dir)
    python = find_vllm_python()
    if python is None:
        pytest.skip(f"{HERE_REASON}; no vLLM virtual environment found (set LLM_MARL_VLLM_PYTHON)")
    return run_vllm_child(python, ["-m", "tests.agents_fixtures", "vllm-checks", model_dir],
                          str(tmp_path_factory.mktemp("vllm")))


@pytest.mark.slow
def test_vllm_protocol_order_n_seeds(checks):
    assert checks["count"] == 6 and checks["unseeded_count"] == 6
    assert all(checks["prompt_ids_match"])  # prompt-major order, exactly the templated prompt tokens
    assert checks["reproducible"] and checks["distinct_samples"] >= 4


@pytest.mark.slow
def test_vllm_logprobs_match_transformers_teacher_forcing(checks):
    assert checks["logprobs_finite"] and checks["logprob_lengths_match"]
    assert checks["max_teacher_forced_diff"] < 2e-2  # processed log-probs, same model, two engines


@pytest.mark.slow
def test_vllm_stop_strings_and_greedy_agree_with_transformers(checks):
    assert checks["stopped_reason"] == "stop"
    assert checks["stopped_text"] == checks["greedy_text"][: checks["greedy_text"].find(checks["stop"])]
    assert checks["greedy_text"] == checks["greedy_hf_text"]


@pytest.mark.slow
def test_vllm_update_weights_and_reload(checks):
    assert checks["perturbed_text"] != checks["greedy_text"]
    assert checks["restored_text"] == checks["greedy_text"]



def test_weights_payload_sends_tied_embeddings_once():
    """``state_dict()`` of a tied model holds the embedding twice (shared memory), which safetensors
    refuses: update_weights failed on SmolLM2 and every tied tiny model before this."""
    from safetensors.torch import load

    from agents.tiny import build_tiny_model, build_tiny_tokenizer
    from agents.vllm import weights_payload

    model = build_tiny_model(build_tiny_tokenizer(), hidden_size=32, num_layers=1, num_heads=2)
    state = model.state_dict()
    assert state["lm_head.weight"].data_ptr() == state["model.embed_tokens.weight"].data_ptr()
    payload, n = weights_payload(state)
    back = load(payload)
    assert n == len(state) - 1 == len(back) and "lm_head.weight" not in back
    assert all(bool((back[k] == state[k]).all()) for k in back)
    reordered = [("lm_head.weight", state["lm_head.weight"])] + [(k, v) for k, v in state.items() if k != "lm_head.weight"]
    assert "model.embed_tokens.weight" in load(weights_payload(reordered)[0])
