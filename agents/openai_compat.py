"""Any OpenAI-compatible server as a policy: ``vllm serve``, llama.cpp's server, Ollama, hosted APIs.

    policy = OpenAICompatPolicy("http://127.0.0.1:8000/v1", model="smollm2")
    policy.generate([[{"role": "user", "content": "2+2?"}]], SamplingParams(n=2, max_tokens=64))

- ``base_url`` includes the API prefix (usually ``/v1``), as in the ``openai`` client.
- ``endpoint="chat"`` posts ``/chat/completions`` (the server applies its chat template);
  ``endpoint="completions"`` posts ``/completions`` with the prompt rendered here (the
  ``tokenizer``'s chat template, or ChatML without one).
- Requests run concurrently (``max_concurrency`` threads, one HTTP request per prompt asking for
  ``n`` choices, or one per sample with ``n_per_request=False`` for servers without ``n``).
- Failures: connection errors, timeouts, HTTP 429 and 5xx are retried with exponential backoff
  (``backoff_s * 2**attempt``, capped by ``max_backoff_s``; ``Retry-After`` honoured up to the cap)
  up to ``max_retries`` times, then raise :class:`OpenAICompatError`; other 4xx and non-JSON or
  malformed bodies raise at once with the server's message. Every request has a timeout, so a
  silent server cannot hang a rollout.
- A missing API key (argument or ``$OPENAI_API_KEY``) is an error unless ``base_url`` is loopback.
- Log-probs: when the server returns them, ``Generation.logprobs`` holds them as reported (vLLM
  reports the raw model log-probs by default, not those of the processed sampling distribution;
  ``metadata["logprobs_of"] = "server"``). ``token_ids`` are filled when the server reports token
  ids (vLLM: ``extra_body={"return_tokens_as_token_ids": True}``), else left empty.
- Seeds: with ``params.seed``, request ``i`` sends the seed derived from ``(seed, i, 0)`` (or
  ``(seed, i, j)`` per sample), so reruns reproduce on servers that honour ``seed``;
  ``generate(..., prompt_offset=k)`` numbers the call's prompts from ``k`` (a slice of a larger batch).
"""

from __future__ import annotations

import ipaddress
import json
import os
import threading
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any
from urllib.parse import urlparse

from llm_marl_envs.policy import Conversation, Generation, SamplingParams

from .chat import ActMixin, render_chat
from .scripted import apply_stop_and_length

__all__ = ["OpenAICompatError", "OpenAICompatPolicy", "is_loopback", "request_jobs"]

RETRY_STATUS = {408, 429, 500, 502, 503, 504}


class OpenAICompatError(RuntimeError):
    """A request failed for good (after retries, or at once for client errors and garbage).

    ``retryable`` is true when the last failure was transient (connection error, timeout, HTTP 429
    or 5xx), so another server may answer it; ``detail`` is that last failure in one line.
    """

    def __init__(self, message: str, status: int | None = None, *, retryable: bool = False,
                 detail: str | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.retryable = retryable
        self.detail = detail or message


def request_jobs(n_prompts: int, params: SamplingParams, n_per_request: bool = True) -> list[tuple[int, int | None, int]]:
    """The HTTP requests a batch becomes, in output order: ``(prompt index, sample index or None, n)``."""
    if n_per_request:
        return [(i, None, params.n) for i in range(n_prompts)]
    return [(i, j, 1) for i in range(n_prompts) for j in range(params.n)]


def is_loopback(url: str) -> bool:
    """Whether ``url`` points at this machine (localhost, 127.0.0.0/8, ::1)."""
    host = urlparse(url).hostname or ""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _request_seed(seed: int, i: int, j: int) -> int:
    from .hf import request_seed  # pure Python; torch is not imported by it

    return request_seed(seed, i, j) & 0x7FFFFFFF


class OpenAICompatPolicy(ActMixin):
    """The policy protocol over HTTP (see the module docstring)."""

    def __init__(
        self,
        base_url: str,
        model: str,
        api_key: str | None = None,
        *,
        endpoint: str = "chat",
        max_concurrency: int = 8,
        timeout_s: float = 60.0,
        connect_timeout_s: float = 5.0,
        max_retries: int = 4,
        backoff_s: float = 0.5,
        max_backoff_s: float = 8.0,
        n_per_request: bool = True,
        tokenizer: Any = None,
        extra_body: dict[str, Any] | None = None,
    ) -> None:
        import httpx

        if endpoint not in ("chat", "completions"):
            raise ValueError(f"endpoint must be 'chat' or 'completions', got {endpoint!r}")
        self.base_url = base_url.rstrip("/")
        if urlparse(self.base_url).scheme not in ("http", "https"):
            raise ValueError(f"base_url must be an http(s) URL, got {base_url!r}")
        self.api_key = api_key if api_key is not None else os.environ.get("OPENAI_API_KEY")
        if not self.api_key and not is_loopback(self.base_url):
            raise ValueError(
                f"no API key for {self.base_url}: pass api_key=... or set OPENAI_API_KEY "
                "(only loopback servers may be used without one)"
            )
        self.model = model
        self.endpoint = endpoint
        self.max_concurrency = max(1, int(max_concurrency))
        self.max_retries = max(0, int(max_retries))
        self.backoff_s = backoff_s
        self.max_backoff_s = max_backoff_s
        self.n_per_request = n_per_request
        self.tokenizer = tokenizer
        self.extra_body = dict(extra_body or {})
        headers = {"Content-Type": "application/json"}
        if self.api_key:
            headers["Authorization"] = f"Bearer {self.api_key}"
        self._client = httpx.Client(
            headers=headers,
            timeout=httpx.Timeout(timeout_s, connect=connect_timeout_s),
            limits=httpx.Limits(max_connections=self.max_concurrency, max_keepalive_connections=self.max_concurrency),
        )
        self._httpx = httpx
        self._pool = ThreadPoolExecutor(max_workers=self.max_concurrency, thread_name_prefix="openai-compat")
        self._lock = threading.Lock()
        self.requests_sent = 0
        self.retries = 0

    # -- public ---------------------------------------------------------------------------
    def generate(self, prompts: Sequence[Conversation], params: SamplingParams | None = None, *,
                 prompt_offset: int = 0) -> list[Generation]:
        """``len(prompts) * params.n`` generations, prompt-major; requests run concurrently.
        ``prompt_offset``: the index of ``prompts[0]`` in the whole batch, for per-request seeds."""
        params = params or SamplingParams()
        jobs = request_jobs(len(prompts), params, self.n_per_request)
        futures = [self._pool.submit(self.complete, prompts[i], params, prompt_offset + i, j, n) for i, j, n in jobs]
        out: list[Generation] = []
        for future in futures:
            out.extend(future.result())
        return out

    def models(self) -> list[str]:
        """The model ids the server lists at ``/models``."""
        body = self._post_or_get("GET", "/models", None)
        return [str(m.get("id")) for m in body.get("data", []) if isinstance(m, dict)]

    def close(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)
        self._client.close()

    def __enter__(self) -> OpenAICompatPolicy:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"OpenAICompatPolicy({self.base_url!r}, model={self.model!r}, endpoint={self.endpoint!r})"

    # -- one request ---------------------------------------------------------------------------
    def _body(self, conversation: Conversation, params: SamplingParams, i: int, j: int | None, n: int) -> dict:
        body: dict[str, Any] = {
            "model": self.model,
            "max_tokens": params.max_tokens,
            "temperature": params.temperature,
            "top_p": params.top_p,
            "n": n,
        }
        if params.top_k:
            body["top_k"] = params.top_k
        if params.stop:
            body["stop"] = list(params.stop)
        if params.seed is not None:
            body["seed"] = _request_seed(params.seed, i, j or 0)
        if self.endpoint == "chat":
            body["messages"] = [{"role": m["role"], "content": m["content"]} for m in conversation]
            if params.logprobs:
                body["logprobs"] = True
        else:
            if self.tokenizer is not None:
                body["prompt"] = render_chat(self.tokenizer, conversation)
            else:
                body["prompt"] = _render_chatml(conversation)
            if params.logprobs:
                body["logprobs"] = 1
        body.update(self.extra_body)
        return body

    def complete(self, conversation: Conversation, params: SamplingParams, i: int, j: int | None, n: int
                 ) -> list[Generation]:
        """One HTTP request: ``n`` generations of ``conversation``, prompt ``i`` of its batch (sample ``j``
        with ``n_per_request=False``); the seed sent depends on ``(params.seed, i, j)`` only, so any
        server of one model gives the same answer. Retries as configured, then :class:`OpenAICompatError`."""
        path = "/chat/completions" if self.endpoint == "chat" else "/completions"
        data = self._post_or_get("POST", path, self._body(conversation, params, i, j, n))
        choices = data.get("choices")
        if not isinstance(choices, list) or len(choices) < n:
            raise OpenAICompatError(
                f"{self.base_url}{path} returned {0 if not isinstance(choices, list) else len(choices)} choices, "
                f"expected {n}: {json.dumps(data)[:300]}"
            )
        choices = sorted(choices, key=lambda c: c.get("index", 0) if isinstance(c, dict) else 0)
        return [self._parse_choice(c, params, path) for c in choices[:n]]

    def _parse_choice(self, choice: Any, params: SamplingParams, path: str) -> Generation:
        if not isinstance(choice, dict):
            raise OpenAICompatError(f"{self.base_url}{path} returned a malformed choice: {str(choice)[:200]}")
        if self.endpoint == "chat":
            message = choice.get("message") or {}
            text = message.get("content") if isinstance(message, dict) else None
            lp = choice.get("logprobs") or {}
            entries = lp.get("content") if isinstance(lp, dict) else None
            tokens = [e.get("token", "") for e in entries or [] if isinstance(e, dict)]
            logprobs = [float(e.get("logprob", 0.0)) for e in entries or [] if isinstance(e, dict)]
        else:
            text = choice.get("text")
            lp = choice.get("logprobs") or {}
            tokens = list(lp.get("tokens") or []) if isinstance(lp, dict) else []
            logprobs = [float(x) for x in (lp.get("token_logprobs") or [])] if isinstance(lp, dict) else []
        if not isinstance(text, str):
            text = "" if text is None else str(text)
        text, _ = apply_stop_and_length(text, params.stop, len(text))
        token_ids = _token_ids(tokens)
        finish = choice.get("finish_reason")
        return Generation(
            text=text,
            token_ids=token_ids,
            logprobs=logprobs if (params.logprobs and logprobs) else None,
            finish_reason="length" if finish == "length" else "stop",
            metadata={"logprobs_of": "server", "server_finish_reason": finish} if logprobs else
                     {"server_finish_reason": finish},
        )

    def _post_or_get(self, method: str, path: str, body: dict | None) -> dict:
        httpx = self._httpx
        url = self.base_url + path
        last_error = ""
        for attempt in range(self.max_retries + 1):
            if attempt:
                with self._lock:
                    self.retries += 1
            with self._lock:
                self.requests_sent += 1
            try:
                response = self._client.request(method, url, json=body)
            except (httpx.TransportError, httpx.TimeoutException) as exc:
                last_error = f"{type(exc).__name__}: {exc}"
                self._sleep(attempt, None)
                continue
            if response.status_code in RETRY_STATUS:
                last_error = f"HTTP {response.status_code}: {_error_message(response)}"
                self._sleep(attempt, response.headers.get("retry-after"))
                continue
            if response.status_code >= 400:
                raise OpenAICompatError(
                    f"{method} {url} failed with HTTP {response.status_code}: {_error_message(response)}",
                    status=response.status_code,
                )
            try:
                data = response.json()
            except ValueError:
                raise OpenAICompatError(
                    f"{method} {url} returned a body that is not JSON: {response.text[:200]!r}",
                    status=response.status_code,
                ) from None
            if not isinstance(data, dict):
                raise OpenAICompatError(f"{method} {url} returned JSON that is not an object: {str(data)[:200]}")
            return data
        raise OpenAICompatError(f"{method} {url} failed after {self.max_retries + 1} attempts; last error: {last_error}",
                                retryable=True, detail=last_error)

    def _sleep(self, attempt: int, retry_after: str | None) -> None:
        if attempt >= self.max_retries:
            return
        delay = self.backoff_s * (2 ** attempt)
        if retry_after:
            try:
                delay = max(delay, float(retry_after))
            except ValueError:
                pass
        time.sleep(min(delay, self.max_backoff_s))


def _error_message(response: Any) -> str:
    try:
        data = response.json()
        err = data.get("error", data) if isinstance(data, dict) else data
        if isinstance(err, dict):
            return str(err.get("message") or err)[:300]
        return str(err)[:300]
    except ValueError:
        return response.text[:300]


def _token_ids(tokens: list[Any]) -> list[int]:
    """Token ids from vLLM's ``token_id:123`` token strings; empty when the server gave text tokens."""
    ids: list[int] = []
    for t in tokens:
        if isinstance(t, str) and t.startswith("token_id:"):
            try:
                ids.append(int(t.split(":", 1)[1]))
                continue
            except ValueError:
                return []
        return []
    return ids


def _render_chatml(conversation: Conversation) -> str:
    """ChatML prompt text without a tokenizer (what ``agents.chat.CHATML_TEMPLATE`` renders)."""
    from .chat import normalize_roles

    parts = [f"<|im_start|>{m['role']}\n{m['content']}<|im_end|>\n" for m in normalize_roles(conversation)]
    return "".join(parts) + "<|im_start|>assistant\n"

