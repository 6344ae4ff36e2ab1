"""RouterPolicy against several real OpenAI-compatible HTTP servers on 127.0.0.1 (tests/agents_fixtures.py)."""

from __future__ import annotations

import socket
import threading
import time
from contextlib import ExitStack

import pytest

from agents import make_policy
from agents.hf import HFPolicy
from agents.openai_compat import OpenAICompatError, OpenAICompatPolicy
from agents.router import RouterError, RouterPolicy, affinity_key, parse_servers
from agents.scripted import FunctionAgent
from agents.tiny import build_tiny_model, build_tiny_tokenizer
from llm_marl_envs.policy import SamplingParams
from tests.agents_fixtures import KillableStubServer, OpenAIStubServer


class Echo(FunctionAgent):
    """Echoes the last user message after ``delay`` seconds (``slow ...`` messages: ``slow_s``)."""

    def __init__(self, delay: float = 0.0, slow_s: float = 1.0) -> None:
        super().__init__(lambda text: f"echo: {text}")
        self.delay, self.slow_s = delay, slow_s

    def generate(self, prompts, params=None):
        slow = any(str(m.get("content", "")).startswith("slow") for p in prompts for m in p)
        time.sleep(self.slow_s if slow else self.delay)
        return super().generate(prompts, params)


def conv(system: str, user: str) -> list[dict[str, str]]:
    return [{"role": "system", "content": system}, {"role": "user", "content": user}]


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]  # closed again: nothing listens here


def served_by(servers, text: str) -> list[int]:
    """Indices of the servers that received a request whose first user message is ``text``."""
    return [k for k, srv in enumerate(servers)
            if any(next(m["content"] for m in r["messages"] if m["role"] == "user") == text for r in srv.requests)]


@pytest.fixture
def echo_servers():
    with ExitStack() as stack:
        yield [stack.enter_context(KillableStubServer({"default": Echo(delay=0.05)})) for _ in range(3)]


def test_same_generations_whichever_server_serves():
    tok = build_tiny_tokenizer()
    models = [HFPolicy(build_tiny_model(tok, seed=0), tok) for _ in range(2)]  # two copies of one model
    convs = [conv("Answer.", f"What is {i}+{i}?") for i in range(6)]
    params = SamplingParams(n=2, max_tokens=8, seed=3, temperature=0.8)
    with OpenAIStubServer({"default": models[0]}) as a, OpenAIStubServer({"default": models[1]}) as b:
        with OpenAICompatPolicy(a.base_url, "default") as single:
            reference = [g.text for g in single.generate(convs, params)]
        with RouterPolicy([a.base_url, b.base_url], "default", affinity="none") as router:
            routed = [g.text for g in router.generate(convs, params)]
            answered = [s["answered"] for s in router.stats()]
        with RouterPolicy([b.base_url, a.base_url], "default") as router:  # other order, other assignment
            again = [g.text for g in router.generate(convs, params)]
    assert len(reference) == 12 and len(set(reference)) > 6  # real sampled text, distinct samples
    assert routed == reference and again == reference
    assert all(n > 0 for n in answered) and sum(answered) == 6


def test_batch_order_and_n_across_servers(echo_servers):
    urls = [s.base_url for s in echo_servers]
    convs = [conv("S", f"q{i}") for i in range(9)]
    with RouterPolicy(urls, "default") as router:
        out = router.generate(convs, SamplingParams(n=2))
    assert [g.text for g in out] == [f"echo: q{i}" for i in range(9) for _ in range(2)]
    assert sorted(len(s.requests) for s in echo_servers) == [3, 3, 3]


def test_prefix_affinity_keeps_a_conversation_on_its_server(echo_servers):
    urls = [s.base_url for s in echo_servers]
    first = [conv(f"You are agent {i % 2}.", f"task {i}") for i in range(6)]
    with RouterPolicy(urls, "default") as router:
        router.generate(first, SamplingParams())
        pinned = [router.server_for(c) for c in first]
        assert len(set(pinned)) == 3  # spread over the servers while idle
        for turn in range(3):  # later turns extend each conversation: same server every time
            later = [c + [{"role": "assistant", "content": f"reply {turn}"},
                          {"role": "user", "content": f"follow-up {turn} of {k}"}] for k, c in enumerate(first)]
            out = router.generate(later[::-1], SamplingParams())  # another order, other load: still pinned
            assert [g.text for g in out] == [f"echo: follow-up {turn} of {k}" for k in range(6)][::-1]
        assert [router.server_for(c) for c in first] == pinned
    for k in range(len(first)):
        assert served_by(echo_servers, f"task {k}") == [urls.index(pinned[k])]
        assert len([r for r in echo_servers[urls.index(pinned[k])].requests
                    if r["messages"][1]["content"] == f"task {k}"]) == 4
    assert affinity_key(first[0]) == affinity_key(first[0] + [{"role": "assistant", "content": "x"}])
    assert affinity_key(first[0]) != affinity_key(conv("You are agent 0.", "task 2"))


def test_least_loaded_server_gets_new_work(echo_servers):
    urls = [s.base_url for s in echo_servers]
    with RouterPolicy(urls, "default") as router:
        busy = threading.Thread(target=router.generate, args=([conv("S", "slow one")],))
        busy.start()  # idle servers tie: the first listed takes it and stays busy for 1 s
        deadline = time.monotonic() + 5
        while echo_servers[0].in_flight < 1 and time.monotonic() < deadline:
            time.sleep(0.01)
        assert router.stats()[0]["in_flight"] == 1
        router.generate([conv("S", "a"), conv("S", "b")], SamplingParams())
        assert sorted(served_by(echo_servers, "a") + served_by(echo_servers, "b")) == [1, 2]
        router.generate([conv("S", f"c{i}") for i in range(4)], SamplingParams())  # 4 at once: 1, 2, 0, 1
        assert router.stats()[0]["in_flight"] == 1  # the slow one was still running
        busy.join()
    assert [len(s.requests) for s in echo_servers] == [2, 3, 2]
    with RouterPolicy(urls, "default", affinity="none") as router:  # no pins: the same prefix spreads
        router.generate([conv("S", "same")] * 6, SamplingParams())
    assert [len(s.requests) for s in echo_servers] == [4, 5, 4]


def test_server_killed_mid_run_fails_over_without_loss_or_duplicates():
    with ExitStack() as stack:
        servers = [stack.enter_context(KillableStubServer({"default": Echo(delay=0.15)})) for _ in range(2)]
        victim = servers[1]

        def kill_when_busy() -> None:
            deadline = time.monotonic() + 10
            while not (victim.answered >= 2 and victim.in_flight >= 1) and time.monotonic() < deadline:
                time.sleep(0.005)
            victim.kill()

        killer = threading.Thread(target=kill_when_busy)
        killer.start()
        convs = [conv("S", f"q{i}") for i in range(24)]
        with RouterPolicy([s.base_url for s in servers], "default", max_concurrency=4, backoff_s=0.01) as router:
            out = router.generate(convs, SamplingParams(n=2))
            stats = router.stats()
        killer.join()
    assert [g.text for g in out] == [f"echo: q{i}" for i in range(24) for _ in range(2)]
    assert victim.killed.is_set() and stats[1]["failures"] >= 1 and stats[1]["down"]
    assert 2 <= stats[1]["answered"] < 24 and stats[0]["answered"] + stats[1]["answered"] == 24
    assert servers[0].answered + victim.answered == 24  # every request answered exactly once
    dropped = len(victim.requests) - victim.answered  # requests that died with the server...
    assert dropped >= 1 and len(servers[0].requests) == 24 - victim.answered  # ...were answered by the other


def test_all_servers_down_is_one_clear_error():
    urls = [f"http://127.0.0.1:{closed_port()}/v1" for _ in range(3)]
    with RouterPolicy(urls, "m", max_retries=4, backoff_s=0.01) as router:
        start = time.monotonic()
        with pytest.raises(RouterError) as info:
            router.generate([conv("S", "x"), conv("S", "y")])
        assert time.monotonic() - start < 5
        assert all(s["failures"] >= 1 and s["down"] for s in router.stats())
    message = str(info.value)
    assert "\n" not in message and message.startswith("all 3 servers failed for prompt")
    assert all(f"{url} (ConnectError" in message for url in urls)


def test_unreachable_address_is_one_line():
    url = f"http://127.0.0.1:{closed_port()}/v1"
    with make_policy("router", servers=url, model="m", max_retries=0) as router:
        with pytest.raises(RouterError, match=r"^all 1 servers failed for prompt 0 after 1 attempts: http://127") as info:
            router.act("hi")
        assert list(router.health()) == [url] and router.health()[url].startswith("ConnectError")
    assert "\n" not in str(info.value) and url in str(info.value)


def test_too_few_retries_names_what_was_tried(echo_servers):
    down = f"http://127.0.0.1:{closed_port()}/v1"
    with RouterPolicy([down, echo_servers[0].base_url], "default", max_retries=0) as router:
        with pytest.raises(RouterError, match=r"failed after 1 attempts on http://127.*1 server\(s\) not tried"):
            router.act("x")
        assert router.act("x") == "echo: x"  # the dead server is marked down: the next request avoids it


def test_client_errors_are_not_failed_over(echo_servers):
    urls = [s.base_url for s in echo_servers]
    with RouterPolicy(urls, "bad-request", backoff_s=0.01) as router:
        with pytest.raises(OpenAICompatError, match="HTTP 400: max_tokens is too large"):
            router.act("x")
    assert sum(len(s.requests) for s in echo_servers) == 1


def test_server_errors_are_retried_elsewhere_then_with_backoff(echo_servers):
    urls = [s.base_url for s in echo_servers[:2]]
    with RouterPolicy(urls, "flaky-500", backoff_s=0.2) as router:  # each server fails a prompt once
        start = time.monotonic()
        out = router.generate([conv("S", "f")])  # server 0: 500; server 1 at once: 500; back off; the pin: 1
        elapsed = time.monotonic() - start
        stats = router.stats()
    assert [g.text for g in out] == ["echo: f"] and 0.2 <= elapsed < 2
    assert [(s["failures"], s["answered"]) for s in stats] == [(1, 0), (1, 1)]


def test_server_lists_and_registry(echo_servers):
    urls = [s.base_url for s in echo_servers]
    assert parse_servers(f'["{urls[0]}", "{urls[1]}/"]') == urls[:2]
    assert parse_servers(f"{urls[0]}, {urls[1]}") == urls[:2]
    with pytest.raises(ValueError, match="servers is empty"):
        parse_servers("")
    with pytest.raises(ValueError, match="lists a URL twice"):
        parse_servers([urls[0], urls[0] + "/"])
    with pytest.raises(ValueError, match="affinity must be"):
        RouterPolicy(urls, "m", affinity="sticky")
    with make_policy("router", servers=urls, model="default") as router:
        assert router.act("hello") == "echo: hello" and router.health() == {u: None for u in urls}
