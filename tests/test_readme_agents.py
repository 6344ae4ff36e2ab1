"""Every Python snippet of the README section "Plug in your own agent" runs as written.

Snippets run in fresh interpreters from the repository root. The OpenAI-compatible snippet talks to
a real loopback server (tests/agents_fixtures.py) through ``OPENAI_BASE_URL``; the SmolLM2 one is
slow; the vLLM one runs only where vLLM imports in this interpreter.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from agents import FunctionAgent
from agents.vllm import vllm_available
from tests.agents_fixtures import OpenAIStubServer

ROOT = Path(__file__).resolve().parents[1]


def agent_snippets() -> list[str]:
    text = (ROOT / "README.md").read_text()
    section = text.split("<!-- agents:start -->", 1)[1].split("<!-- agents:end -->", 1)[0]
    return re.findall(r"```python\n(.*?)\n```", section, flags=re.S)


SNIPPETS = agent_snippets()


def kind(snippet: str) -> str:
    if 'make_policy("vllm"' in snippet:
        return "vllm"
    if '"openai"' in snippet:
        return "openai"
    if 'make_policy("hf"' in snippet:
        return "smollm2"
    return "fast"


def run_snippet(code: str, env: dict[str, str] | None = None, timeout: int = 180) -> str:
    proc = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env={**os.environ, **(env or {})},
                          capture_output=True, text=True, timeout=timeout)
    assert proc.returncode == 0, f"snippet failed:\n{code}\n--- stderr ---\n{proc.stderr[-3000:]}"
    return proc.stdout


def test_the_section_has_a_snippet_per_backend_kind():
    kinds = [kind(s) for s in SNIPPETS]
    assert kinds.count("fast") >= 3 and {"vllm", "openai", "smollm2"} <= set(kinds)
    assert all("for " in s and "env.agent_iter()" in s for s in SNIPPETS if "RolloutRunner" not in s)


@pytest.mark.parametrize("index", [i for i, s in enumerate(SNIPPETS) if kind(s) == "fast"])
def test_fast_snippets_run(index):
    out = run_snippet(SNIPPETS[index])
    if "RolloutRunner" in SNIPPETS[index]:
        assert "16 episodes, 1 generate call(s)" in out  # one batched call for every episode's prompt
    if "print(agent" in SNIPPETS[index]:
        assert "reasoner_0 reward 1.0" in out  # the oracle reasoner answers correctly


def test_openai_snippet_against_a_loopback_server():
    (index,) = [i for i, s in enumerate(SNIPPETS) if kind(s) == "openai"]
    with OpenAIStubServer({"default": FunctionAgent(lambda text: "The answer is \\boxed{7}")}) as server:
        run_snippet(SNIPPETS[index], {"OPENAI_BASE_URL": server.base_url, "OPENAI_MODEL": "default"})
        assert len(server.requests) >= 3  # every voter asked the server
        assert all(r["model"] == "default" and r["max_tokens"] == 128 for r in server.requests)


@pytest.mark.slow
def test_smollm2_snippet():
    (index,) = [i for i, s in enumerate(SNIPPETS) if kind(s) == "smollm2"]
    run_snippet(SNIPPETS[index], timeout=600)


def test_vllm_snippet():
    ok, reason = vllm_available()
    if not ok:
        pytest.skip(f"{reason} (the vLLM snippet needs vllm in this interpreter)")
    (index,) = [i for i, s in enumerate(SNIPPETS) if kind(s) == "vllm"]
    run_snippet(SNIPPETS[index], {"VLLM_CPU_KVCACHE_SPACE": "2"}, timeout=600)
