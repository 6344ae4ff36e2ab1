"""Several OpenAI-compatible servers (e.g. one ``vllm serve`` per GPU or node) as one policy.

    policy = RouterPolicy(["http://h1:8000/v1", "http://h2:8000/v1"], model="smollm2")
    policy.generate(conversations, SamplingParams(n=4, max_tokens=256, seed=0))

Each prompt of a batch becomes one HTTP request (one per sample with ``n_per_request=False``),
built and parsed by :class:`agents.openai_compat.OpenAICompatPolicy` (one client per server), and
sent to a server chosen when the request starts:

- **Prefix affinity** (``affinity="prefix"``, the default): a conversation is keyed by a hash of
  its messages up to and including the first user message (the system prompt and the task). The
  first request of a key goes to the least-loaded server and pins the key there; every later
  request of that key (the next turns of the conversation, the other agents' or tree nodes'
  contexts that open the same way) goes to the same server, so vLLM's prefix cache holds it.
  Pins are kept for the last ``affinity_capacity`` keys. ``affinity="none"`` is pure least-loaded.
- **Least-loaded**: otherwise the healthy server with the fewest requests in flight (ties: the
  first listed).
- **Failover**: a transient failure (connection refused or reset, timeout, HTTP 429/5xx) marks the
  server down for ``cooldown_s`` seconds and the request is sent again to another server — at once
  when one is left untried, else after an exponential backoff (``backoff_s * 2**k``, capped by
  ``max_backoff_s``) — up to ``max_retries`` times; a pinned key moves to the server that answers.
  Client errors (other 4xx) and malformed bodies are not retried: they would fail anywhere.
  When every server has failed a request, :class:`RouterError` says so in one line, naming each
  server with its last error.
- **Determinism**: the seed sent for prompt ``i`` sample ``j`` depends only on ``(params.seed, i,
  j)`` and results are assembled in batch order, so the same batch gives the same generations
  whichever server served which request (servers of one deterministic model);
  ``generate(..., prompt_offset=k)`` numbers the call's prompts from ``k`` (a slice of a larger batch).
- **Concurrency**: at most ``max_concurrency`` requests in flight in all (threads); every request
  has a timeout (``timeout_s``), so a silent server cannot hang a rollout.

``stats()`` reports per server: requests in flight, requests answered, failures and whether it is
marked down.
"""

from __future__ import annotations

import hashlib
import json
import threading
import time
from collections import OrderedDict
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from llm_marl_envs.policy import Conversation, Generation, SamplingParams

from .chat import ActMixin
from .openai_compat import OpenAICompatError, OpenAICompatPolicy, request_jobs

__all__ = ["RouterError", "RouterPolicy", "affinity_key", "parse_servers"]


class RouterError(RuntimeError):
    """A request that no server could answer (the message names every server tried)."""


def parse_servers(servers: Sequence[str] | str) -> list[str]:
    """Server base URLs from a list, a JSON list string or a comma-separated string."""
    if isinstance(servers, str):
        text = servers.strip()
        if text.startswith("["):
            try:
                servers = json.loads(text)
            except ValueError:
                raise ValueError(f"servers is not a JSON list of URLs: {servers!r}") from None
        else:
            servers = [s for s in (part.strip() for part in text.split(",")) if s]
    urls = [str(s).strip().rstrip("/") for s in servers]
    if not urls:
        raise ValueError("servers is empty: give at least one base URL such as http://127.0.0.1:8000/v1")
    if len(set(urls)) != len(urls):
        raise ValueError(f"servers lists a URL twice: {urls}")
    return urls


def affinity_key(conversation: Conversation) -> str:
    """A hash of the messages up to and including the first user message (system prompt + task)."""
    head: list[list[str]] = []
    for message in conversation:
        head.append([str(message.get("role", "")), str(message.get("content", ""))])
        if message.get("role") == "user":
            break
    return hashlib.blake2b(json.dumps(head).encode(), digest_size=16).hexdigest()


def _one_line(text: str, limit: int = 200) -> str:
    return " ".join(str(text).split())[:limit]


class RouterPolicy(ActMixin):
    """The policy protocol over several OpenAI-compatible servers (see the module docstring)."""

    def __init__(
        self,
        servers: Sequence[str] | str,
        model: str,
        api_key: str | None = None,
        *,
        affinity: str = "prefix",
        affinity_capacity: int = 100_000,
        max_concurrency: int = 32,
        timeout_s: float = 60.0,
        connect_timeout_s: float = 5.0,
        max_retries: int = 4,
        backoff_s: float = 0.5,
        max_backoff_s: float = 8.0,
        cooldown_s: float = 5.0,
        endpoint: str = "chat",
        n_per_request: bool = True,
        tokenizer: Any = None,
        extra_body: dict[str, Any] | None = None,
    ) -> None:
        if affinity not in ("prefix", "none"):
            raise ValueError(f"affinity must be 'prefix' or 'none', got {affinity!r}")
        self.servers = parse_servers(servers)
        self.model = model
        self.affinity = affinity
        self.affinity_capacity = max(1, int(affinity_capacity))
        self.max_concurrency = max(1, int(max_concurrency))
        self.max_retries = max(0, int(max_retries))
        self.backoff_s = backoff_s
        self.max_backoff_s = max_backoff_s
        self.cooldown_s = cooldown_s
        self.n_per_request = n_per_request
        # one client per server; the router does the retrying (max_retries=0 there)
        self.clients = [
            OpenAICompatPolicy(url, model, api_key, endpoint=endpoint, max_concurrency=self.max_concurrency,
                               timeout_s=timeout_s, connect_timeout_s=connect_timeout_s, max_retries=0,
                               n_per_request=n_per_request, tokenizer=tokenizer, extra_body=extra_body)
            for url in self.servers
        ]
        n = len(self.servers)
        self._lock = threading.Lock()
        self._in_flight = [0] * n
        self._answered = [0] * n
        self._failures = [0] * n
        self._down_until = [0.0] * n
        self._pins: OrderedDict[str, int] = OrderedDict()
        self._pool = ThreadPoolExecutor(max_workers=self.max_concurrency, thread_name_prefix="router")

    # -- public ---------------------------------------------------------------------------
    def generate(self, prompts: Sequence[Conversation], params: SamplingParams | None = None, *,
                 prompt_offset: int = 0) -> list[Generation]:
        """``len(prompts) * params.n`` generations, prompt-major, whichever servers answered.
        ``prompt_offset``: the index of ``prompts[0]`` in the whole batch, for per-request seeds."""
        params = params or SamplingParams()
        jobs = request_jobs(len(prompts), params, self.n_per_request)
        keys = [affinity_key(prompts[i]) if self.affinity == "prefix" else None for i, _, _ in jobs]
        futures = [self._pool.submit(self._request, prompts[i], params, prompt_offset + i, j, n, key)
                   for (i, j, n), key in zip(jobs, keys, strict=True)]
        out: list[Generation] = []
        try:
            for future in futures:
                out.extend(future.result())
        except BaseException:
            for future in futures:
                future.cancel()
            raise
        return out

    def server_for(self, conversation: Conversation) -> str | None:
        """The server a conversation's prefix is pinned to (``None`` before its first request)."""
        with self._lock:
            s = self._pins.get(affinity_key(conversation))
        return None if s is None else self.servers[s]

    def stats(self) -> list[dict[str, Any]]:
        """Per server: ``url``, ``in_flight``, ``answered``, ``failures``, ``down`` (marked down now)."""
        now = time.monotonic()
        with self._lock:
            return [{"url": url, "in_flight": self._in_flight[s], "answered": self._answered[s],
                     "failures": self._failures[s], "down": self._down_until[s] > now}
                    for s, url in enumerate(self.servers)]

    def health(self) -> dict[str, str | None]:
        """``GET /models`` on every server: ``None`` where it answers, else the error in one line."""
        out: dict[str, str | None] = {}
        for url, client in zip(self.servers, self.clients, strict=True):
            try:
                client.models()
                out[url] = None
            except OpenAICompatError as exc:
                out[url] = _one_line(exc.detail)
        return out

    def close(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)
        for client in self.clients:
            client.close()

    def __enter__(self) -> RouterPolicy:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"RouterPolicy({self.servers!r}, model={self.model!r}, affinity={self.affinity!r})"

    # -- routing ---------------------------------------------------------------------------
    def _fresh_healthy(self, tried: dict[int, str]) -> bool:
        """Whether a server this request has not tried yet is up (then fail over at once)."""
        now = time.monotonic()
        with self._lock:
            return any(s not in tried and self._down_until[s] <= now for s in range(len(self.servers)))

    def _acquire(self, key: str | None, tried: dict[int, str]) -> int:
        """Pick a server for one attempt and count it in flight."""
        now = time.monotonic()
        n = len(self.servers)
        with self._lock:
            fresh = [s for s in range(n) if s not in tried]
            healthy = [s for s in fresh if self._down_until[s] <= now]
            candidates = healthy or fresh or list(range(n))
            pinned = self._pins.get(key) if key is not None else None
            if pinned in candidates:
                choice = pinned
            else:
                choice = min(candidates, key=lambda s: (self._in_flight[s], s))
            if key is not None:
                self._pins[key] = choice
                self._pins.move_to_end(key)
                while len(self._pins) > self.affinity_capacity:
                    self._pins.popitem(last=False)
            self._in_flight[choice] += 1
        return choice

    def _request(self, conversation: Conversation, params: SamplingParams, i: int, j: int | None, n: int,
                 key: str | None) -> list[Generation]:
        tried: dict[int, str] = {}
        backoffs = 0
        attempts = self.max_retries + 1
        for _attempt in range(attempts):
            if tried and not self._fresh_healthy(tried):
                time.sleep(min(self.backoff_s * (2 ** backoffs), self.max_backoff_s))
                backoffs += 1
            s = self._acquire(key, tried)
            try:
                gens = self.clients[s].complete(conversation, params, i, j, n)
            except OpenAICompatError as exc:
                if not exc.retryable:
                    raise
                tried[s] = _one_line(exc.detail)
                with self._lock:
                    self._failures[s] += 1
                    self._down_until[s] = time.monotonic() + self.cooldown_s
                continue
            finally:
                with self._lock:
                    self._in_flight[s] -= 1
            with self._lock:
                self._answered[s] += 1
                self._down_until[s] = 0.0
            return gens
        named = "; ".join(f"{self.servers[s]} ({err})" for s, err in tried.items())
        if len(tried) == len(self.servers):
            raise RouterError(f"all {len(self.servers)} servers failed for prompt {i} after {attempts} attempts: {named}")
        untried = len(self.servers) - len(tried)
        raise RouterError(f"prompt {i} failed after {attempts} attempts on {named}; {untried} server(s) not tried "
                          "(raise max_retries)")
