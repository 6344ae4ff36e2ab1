"""The OpenAI-compatible backend against a real HTTP server on 127.0.0.1 (tests/agents_fixtures.py)."""

from __future__ import annotations

import math
import socket
import threading
import time

import pytest

from agents import make_policy
from agents.hf import HFPolicy
from agents.openai_compat import OpenAICompatError, OpenAICompatPolicy, is_loopback
from agents.scripted import FunctionAgent, OracleAgent
from agents.tiny import build_tiny_model, build_tiny_tokenizer
from llm_marl_envs.policy import SamplingParams
from llm_marl_envs.types import Task
from tests.agents_fixtures import OpenAIStubServer

TASKS = [Task(id=f"t{i}", kind="math", prompt=f"Compute {i} squared.", answer=str(i * i)) for i in range(10)]


class SlowEcho(FunctionAgent):
    """Echoes the user message after a short sleep (to observe concurrency)."""

    def __init__(self) -> None:
        super().__init__(lambda text: f"echo: {text}")

    def generate(self, prompts, params=None):
        time.sleep(0.2)
        return super().generate(prompts, params)


@pytest.fixture(scope="module")
def tiny_policy():
    tok = build_tiny_tokenizer()
    return HFPolicy(build_tiny_model(tok, seed=0), tok)


@pytest.fixture(scope="module")
def server(tiny_policy):
    policies = {"default": OracleAgent(TASKS), "oracle": OracleAgent(TASKS), "tiny": tiny_policy, "echo": SlowEcho()}
    with OpenAIStubServer(policies, slow_s=3.0) as srv:
        yield srv


def conv(text: str) -> list[dict[str, str]]:
    return [{"role": "system", "content": "Answer."}, {"role": "user", "content": text}]


def test_chat_batch_order_and_n(server):
    with OpenAICompatPolicy(server.base_url, "oracle") as policy:
        out = policy.generate([conv(t.prompt) for t in TASKS], SamplingParams(n=2, max_tokens=64))
    assert [g.text for g in out] == [f"The answer is \\boxed{{{t.answer}}}" for t in TASKS for _ in range(2)]
    assert all(g.finish_reason == "stop" for g in out)


def test_requests_run_concurrently(server):
    server.max_in_flight = 0
    with OpenAICompatPolicy(server.base_url, "echo", max_concurrency=8) as policy:
        start = time.monotonic()
        out = policy.generate([conv(f"q{i}") for i in range(8)], SamplingParams(max_tokens=50))
        elapsed = time.monotonic() - start
    assert [g.text for g in out] == [f"echo: q{i}" for i in range(8)]
    assert server.max_in_flight >= 4 and elapsed < 8 * 0.2


def test_stop_strings_sent_and_applied(server):
    with OpenAICompatPolicy(server.base_url, "oracle") as policy:
        g = policy.generate([conv(TASKS[3].prompt)], SamplingParams(stop=("\\boxed",)))[0]
    assert g.text == "The answer is "
    assert server.requests[-1]["stop"] == ["\\boxed"]


def test_logprobs_token_ids_and_seeds_from_a_model_server(server, tiny_policy):
    params = SamplingParams(n=2, max_tokens=12, seed=5, temperature=0.8)
    for endpoint in ("chat", "completions"):
        with OpenAICompatPolicy(server.base_url, "tiny", endpoint=endpoint, tokenizer=tiny_policy.tokenizer,
                                extra_body={"return_tokens_as_token_ids": True}) as policy:
            a = policy.generate([conv("What is 2+2?"), conv("And 3+3?")], params)
            b = policy.generate([conv("What is 2+2?"), conv("And 3+3?")], params)
        assert len(a) == 4 and [g.text for g in a] == [g.text for g in b]
        for g in a:
            assert g.token_ids and len(g.logprobs) == len(g.token_ids)
            assert all(math.isfinite(x) and x <= 0 for x in g.logprobs)
            assert g.metadata["logprobs_of"] == "server"
    sent = server.requests[-1]
    assert sent["prompt"].startswith("<|im_start|>system\nAnswer.<|im_end|>") and sent["logprobs"] == 1
    assert isinstance(sent["seed"], int)
    with OpenAICompatPolicy(server.base_url, "tiny") as policy:  # no token ids requested: text tokens only
        g = policy.generate([conv("hi")], SamplingParams(max_tokens=4))[0]
    assert g.token_ids == [] and g.logprobs is not None


def test_retries_500_then_succeeds(server):
    with OpenAICompatPolicy(server.base_url, "flaky-500", backoff_s=0.01) as policy:
        out = policy.generate([conv(TASKS[1].prompt), conv(TASKS[2].prompt)], SamplingParams())
        assert policy.retries == 2
    assert [g.text for g in out] == ["The answer is \\boxed{1}", "The answer is \\boxed{4}"]


def test_429_retries_with_backoff_then_fails_clearly(server):
    with OpenAICompatPolicy(server.base_url, "always-429", max_retries=3, backoff_s=0.05) as policy:
        start = time.monotonic()
        with pytest.raises(OpenAICompatError, match=r"after 4 attempts.*HTTP 429"):
            policy.generate([conv("x")])
        elapsed = time.monotonic() - start
        assert policy.requests_sent == 4
    assert 0.05 + 0.1 + 0.2 <= elapsed < 3  # exponential backoff between attempts


def test_client_errors_and_garbage_fail_at_once(server):
    with OpenAICompatPolicy(server.base_url, "bad-request", backoff_s=0.01) as policy:
        with pytest.raises(OpenAICompatError, match="HTTP 400: max_tokens is too large") as info:
            policy.generate([conv("x")])
        assert info.value.status == 400 and policy.requests_sent == 1
    with OpenAICompatPolicy(server.base_url, "garbage", backoff_s=0.01) as policy:
        with pytest.raises(OpenAICompatError, match="not JSON"):
            policy.generate([conv("x")])
        assert policy.requests_sent == 1


def test_slow_server_times_out_and_never_hangs(server):
    with OpenAICompatPolicy(server.base_url, "slow", timeout_s=0.3, max_retries=1, backoff_s=0.01) as policy:
        start = time.monotonic()
        with pytest.raises(OpenAICompatError, match="Timeout"):
            policy.generate([conv("x")])
        assert time.monotonic() - start < 2.5


def test_connection_refused_retries_then_fails():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # closed again: nothing listens here
    with OpenAICompatPolicy(f"http://127.0.0.1:{port}/v1", "m", max_retries=2, backoff_s=0.01) as policy:
        with pytest.raises(OpenAICompatError, match="after 3 attempts.*ConnectError"):
            policy.generate([conv("x")])


def test_api_key_rules(server, monkeypatch):
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    with pytest.raises(ValueError, match="no API key"):
        OpenAICompatPolicy("https://api.example.com/v1", "gpt")
    assert is_loopback("http://localhost:1/v1") and is_loopback("http://[::1]:8/v1") and not is_loopback("http://10.0.0.1")
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test")
    OpenAICompatPolicy("https://api.example.com/v1", "gpt").close()
    with OpenAIStubServer({"default": OracleAgent(TASKS)}, require_key="sk-right") as keyed:
        with OpenAICompatPolicy(keyed.base_url, "default", api_key="sk-wrong") as policy:
            with pytest.raises(OpenAICompatError, match="HTTP 401: invalid API key"):
                policy.generate([conv("x")])
        with make_policy("openai", base_url=keyed.base_url, model="default", api_key="sk-right") as policy:
            assert policy.generate([conv(TASKS[4].prompt)])[0].text.endswith("{16}")
            assert policy.models() == ["default"]


def test_per_sample_requests_without_n(server):
    with OpenAICompatPolicy(server.base_url, "oracle", n_per_request=False) as policy:
        before = len(server.requests)
        out = policy.generate([conv(TASKS[5].prompt)], SamplingParams(n=3, seed=1))
        sent = server.requests[before:]
    assert len(out) == 3 and len(sent) == 3 and all(r["n"] == 1 for r in sent)
    assert len({r["seed"] for r in sent}) == 3


def test_no_threads_leak_after_close(server):
    before = threading.active_count()
    for _ in range(3):
        with OpenAICompatPolicy(server.base_url, "oracle") as policy:
            policy.generate([conv("x")] * 4)
    time.sleep(0.1)
    assert threading.active_count() <= before + 1


# --------------------------------------------------------------------------- a server this project did not write
@pytest.fixture(scope="module")
def vllm_server(tmp_path_factory):
    """vLLM's own OpenAI-compatible server (from the vLLM virtual environment) on 127.0.0.1."""
    import os
    import signal
    import subprocess

    import httpx

    from agents.embedded import smollm2_dir
    from tests.agents_fixtures import find_vllm_python, vllm_env

    python = find_vllm_python()
    if python is None:
        pytest.skip("no vLLM virtual environment (set LLM_MARL_VLLM_PYTHON; recipe in vllm-cpu.md)")
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    tmp = tmp_path_factory.mktemp("vllm-server")
    log = (tmp / "server.log").open("w")
    cmd = [python, "-m", "vllm.entrypoints.openai.api_server", "--model", str(smollm2_dir()), "--host", "127.0.0.1",
           "--port", str(port), "--served-model-name", "smollm2", "--enforce-eager", "--max-model-len", "2048",
           "--dtype", "float32", "--no-enable-chunked-prefill"]
    proc = subprocess.Popen(cmd, env=vllm_env(str(tmp)), stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    base_url = f"http://127.0.0.1:{port}/v1"
    try:
        deadline = time.monotonic() + 420
        while True:
            if proc.poll() is not None:
                pytest.fail(f"vLLM server exited ({proc.returncode}):\n{(tmp / 'server.log').read_text()[-3000:]}")
            try:
                if httpx.get(base_url + "/models", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                pytest.fail("vLLM server did not become ready in 420 s")
            time.sleep(2)
        yield base_url
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
        log.close()


@pytest.mark.slow
def test_real_vllm_server_chat_completions_logprobs_seeds_and_errors(vllm_server):
    from agents.embedded import smollm2_dir
    from agents.hf import HFPolicy

    hf = HFPolicy(smollm2_dir())
    convs = [conv("What is 2 + 3?"), conv("Name a planet.")]
    params = SamplingParams(n=2, max_tokens=16, seed=3, temperature=0.8)
    with OpenAICompatPolicy(vllm_server, "smollm2", timeout_s=120) as policy:
        assert policy.models() == ["smollm2"]
        a, b = policy.generate(convs, params), policy.generate(convs, params)
        assert len(a) == 4 and [g.text for g in a] == [g.text for g in b]
        assert all(g.logprobs and all(math.isfinite(x) and x <= 0 for x in g.logprobs) for g in a)
        with pytest.raises(OpenAICompatError, match="HTTP 4"):
            policy.generate(convs[:1], SamplingParams(max_tokens=100_000))
    with OpenAICompatPolicy(vllm_server, "smollm2", endpoint="completions", tokenizer=hf.tokenizer, timeout_s=120,
                            extra_body={"return_tokens_as_token_ids": True}) as policy:
        g = policy.generate(convs[:1], SamplingParams(max_tokens=12, temperature=0))[0]
    assert g.token_ids and len(g.logprobs) == len(g.token_ids)
    assert hf.tokenizer.decode(g.token_ids, skip_special_tokens=True) == g.text
    greedy = hf.generate(convs[:1], SamplingParams(max_tokens=12, temperature=0))[0]
    assert g.token_ids[:4] == greedy.token_ids[:4]  # same model, same prompt, same greedy start
    with OpenAICompatPolicy(vllm_server, "no-such-model", max_retries=0) as policy:
        with pytest.raises(OpenAICompatError, match="HTTP 404"):
            policy.generate(convs[:1])
