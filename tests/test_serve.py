"""``llm-marl serve``: real uvicorn servers on 127.0.0.1 started here, real OpenEnv clients and HTTP.

Covers issue 17's server half: 16 concurrent sessions (WebSocket and HTTP) with an oracle team
(reward 1.0) and a wrong team (0.0), every bad request (4xx with one line, the session still
usable), the idle reaper and --max-sessions, a client that vanishes mid-episode, determinism
through the server vs in-process, OpenEnv's own runtime validator, and the CLI in a subprocess.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

pytest.importorskip("openenv")
httpx = pytest.importorskip("httpx")
uvicorn = pytest.importorskip("uvicorn")

import llm_marl_envs  # noqa: E402
from agents.scripted import OracleAgent, gold_response  # noqa: E402
from llm_marl_envs.serve.app import build_app  # noqa: E402
from llm_marl_envs.serve.client import CollabAction, CollabEnvClient, infos_of  # noqa: E402
from llm_marl_envs.tasks.base import load_tasks  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
TASKS = list(load_tasks("arith")[:64])
ORACLE = OracleAgent(TASKS)


@contextlib.contextmanager
def running(app):
    """A real uvicorn server for ``app`` on a free 127.0.0.1 port, in a thread; yields its URL."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", timeout_graceful_shutdown=1))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        assert thread.is_alive() and time.monotonic() < deadline, "server did not start"
        time.sleep(0.01)
    try:
        yield f"http://127.0.0.1:{sock.getsockname()[1]}"
    finally:
        server.should_exit = True
        thread.join(10)
        sock.close()


@pytest.fixture(scope="module")
def url():
    with running(build_app(["MathDyad-v0", "MathVote-v0"], max_sessions=32, idle_timeout_s=60, max_body_bytes=65536)) as u:
        yield u


def oracle_team(obs: dict) -> str:
    """The oracle team: the thinker plans anything, the reasoner writes the gold answer of the task
    the observation quotes (found by ``OracleAgent`` from the user message the agent sees)."""
    if obs["role"] == "thinker":
        return "Compute it step by step."
    task = ORACLE.find_task(obs["user"])
    assert task is not None, f"the observation does not quote a known task: {obs['user'][:80]!r}"
    return gold_response(task)


def wrong_team(obs: dict) -> str:
    return "I think it is \\boxed{-999999}" if obs["role"] == "reasoner" else "guess"


async def ws_episodes(url: str, i: int) -> list[dict]:
    """One WebSocket session (OpenEnv's client): an oracle episode then a wrong one."""
    finals = []
    async with CollabEnvClient(base_url=url) as env:
        for team in (oracle_team, wrong_team):
            result = await env.reset(env_id="llm-marl/MathDyad-v0", seed=i, task=i)
            while not result.done:
                obs = result.observation
                result = await env.step(CollabAction(agent=obs.agent_selection, content=team(obs.model_dump())))
            finals.append(result.observation.model_dump() | {"reward": result.reward})
    return finals


async def http_episodes(url: str, i: int) -> list[dict]:
    """One HTTP session (stateful /reset, /step): an oracle episode then a wrong one."""
    finals = []
    async with httpx.AsyncClient(base_url=url, timeout=30) as http:
        session = None
        for team in (oracle_team, wrong_team):
            body = {"seed": i, "task": i} | ({"session_id": session} if session else {})
            reply = (await http.post("/reset", json=body)).raise_for_status().json()
            session = reply["session_id"]
            while not reply["done"]:
                obs = reply["observation"]
                action = {"agent": obs["agent_selection"], "content": team(obs)}
                reply = (await http.post("/step", json={"session_id": session, "action": action})).raise_for_status().json()
            finals.append(reply["observation"] | {"reward": reply["reward"]})
    return finals


def test_16_concurrent_sessions_oracle_team_scores_1_wrong_team_0(url):
    async def main():
        return await asyncio.gather(*[(ws_episodes if i % 2 else http_episodes)(url, i) for i in range(16)])

    results = asyncio.run(main())
    assert len(results) == 16
    for i, (oracle, wrong) in enumerate(results):
        assert oracle["task_id"] == TASKS[i].id and wrong["task_id"] == TASKS[i].id
        assert oracle["rewards"] == {"thinker_0": 1.0, "reasoner_0": 1.0} and oracle["reward"] == 1.0
        assert oracle["verdict"]["correct"] is True and oracle["verdict"]["extracted"] == str(TASKS[i].answer)
        assert wrong["rewards"] == {"thinker_0": 0.0, "reasoner_0": 0.0} and wrong["reward"] == 0.0
        assert wrong["verdict"]["correct"] is False and wrong["verdict"]["extracted"] == "-999999"
        for final in (oracle, wrong):
            assert all(final["terminations"].values()) and [m["agent"] for m in final["transcript"]] == ["thinker_0", "reasoner_0"]
            assert final["transcript"][1]["context"]  # the reasoner's exact context travels too
    assert httpx.get(f"{url}/sessions").json()["active_sessions"] == 8  # the HTTP sessions stay until closed/reaped


def test_bad_requests_get_a_4xx_with_one_line_and_the_session_survives(url):
    http = httpx.Client(base_url=url, timeout=30)
    sid = http.post("/reset", json={"seed": 1, "task": 2}).json()["session_id"]
    act = {"agent": "thinker_0", "content": "plan"}
    cases = [
        ("post", "/step", {"session_id": sid, "action": {"agent": "reasoner_0", "content": "x"}}, 409, "out of turn"),
        ("post", "/step", {"session_id": sid, "action": {"agent": "ghost_9", "content": "x"}}, 422, "unknown agent 'ghost_9'"),
        ("post", "/step", {"session_id": sid, "action": {"agent": "thinker_0"}}, 422, "content"),
        ("post", "/step", {"session_id": sid, "action": {**act, "colour": 1}}, 422, "colour: unknown field"),
        ("post", "/step", {"session_id": sid, "action": "plan"}, 422, "action"),
        ("post", "/step", {"action": act}, 422, "session_id"),
        ("post", "/step", {"session_id": "no-such-session", "action": act}, 404, "unknown session"),
        ("post", "/step", b"{not json", 422, "not valid JSON"),
        ("post", "/step", {"session_id": sid, "action": {**act, "content": "x" * 70_000}}, 413, "over the server's limit"),
        ("post", "/reset", {"env_id": "llm-marl/Nope-v0"}, 404, "unknown env 'llm-marl/Nope-v0'"),
        ("post", "/reset", {"env_id": "llm-marl/CodeDyad-v0"}, 404, "served: llm-marl/MathDyad-v0"),
        ("post", "/reset", {"seed": -3}, 422, "seed"),
        ("post", "/reset", {"task": 10**9}, 422, "out of range"),
        ("post", "/reset", {"task": True}, 422, "task"),
        ("post", "/reset", {"task": -1}, 422, "task index must be >= 0"),
        ("post", "/reset", {"ablate": ["nobody_0"]}, 422, "nobody_0"),
        ("post", "/reset", {"prefix": [{"agent": "thinker_0"}]}, 422, "prefix"),
        ("post", "/reset", {"prefix": "thinker said hi"}, 422, "prefix"),
        ("post", "/reset", {"task": 1, "options": {"task": 2}}, 422, "both"),
        ("post", "/reset", {"ablation": ["thinker_0"]}, 422, "ablation: unknown field"),
        ("post", "/reset", [1, 2], 422, "dictionary"),
        ("post", "/reset", {"session_id": 5}, 422, "session_id"),
        ("get", "/state", None, 422, "session_id"),
        ("get", "/state?session_id=nope", None, 404, "unknown session"),
        ("delete", "/step", None, 405, "Method Not Allowed"),
    ]
    before = http.get("/sessions").json()["active_sessions"]
    for method, path, body, status, text in cases:
        kwargs = {"content": body, "headers": {"content-type": "application/json"}} if isinstance(body, bytes) else (
            {"json": body} if body is not None else {})
        reply = getattr(http, method)(path, **kwargs) if method != "get" else http.get(path)
        assert reply.status_code == status, (path, body if not isinstance(body, dict) else list(body), reply.text)
        detail = reply.json()["detail"]
        assert isinstance(detail, str) and "\n" not in detail and text in detail, (path, detail)
    assert http.get("/sessions").json()["active_sessions"] == before  # failed first resets keep no session
    # the session survived every bad request and still plays to the end
    reply = http.post("/step", json={"session_id": sid, "action": act}).json()
    assert reply["observation"]["agent_selection"] == "reasoner_0"
    reply = http.post("/step", json={"session_id": sid, "action": {"agent": "reasoner_0", "content": gold_response(TASKS[2])}}).json()
    assert reply["done"] and reply["reward"] == 1.0
    after = http.post("/step", json={"session_id": sid, "action": act})
    assert after.status_code == 409 and "is over" in after.json()["detail"]
    assert http.post("/close", json={"session_id": sid}).json() == {"session_id": sid, "closed": True}
    gone = http.post("/step", json={"session_id": sid, "action": act})
    assert gone.status_code == 410 and "closed by the client" in gone.json()["detail"]
    # over the WebSocket a refused message is an error frame (OpenEnv's client raises) and the session lives on
    with CollabEnvClient(base_url=url).sync() as env:
        env.reset(seed=0, task=0)
        for bad, text in [(CollabAction(agent="reasoner_0", content="x"), "out of turn"), ({"agent": "x", "content": "y"}, "unknown agent")]:
            with pytest.raises(RuntimeError, match=text):
                env.step(bad)
        with pytest.raises(RuntimeError, match="ablation: unknown field"):
            env.reset(ablation=["thinker_0"])
        env.reset(seed=0, task=0)
        assert env.step(CollabAction(agent="thinker_0", content="p")).observation.agent_selection == "reasoner_0"
    assert httpx.get(f"{url}/health").json() == {"status": "healthy"}


def test_idle_sessions_are_reaped_and_max_sessions_is_enforced():
    with running(build_app(["MathDyad-v0"], max_sessions=2, idle_timeout_s=0.6)) as url:
        http = httpx.Client(base_url=url, timeout=30)
        first = http.post("/reset", json={"seed": 0}).json()["session_id"]
        with CollabEnvClient(base_url=url).sync() as ws:
            ws.reset(seed=0)
            full = http.post("/reset", json={})  # 1 HTTP + 1 WebSocket session = the limit
            assert full.status_code == 503 and full.headers["retry-after"] == "1"
            assert "at capacity: 2 of 2" in full.json()["detail"]
            time.sleep(1.2)  # both idle past 0.6 s: the reaper closes them
            assert http.get("/sessions").json()["active_sessions"] == 0
            gone = http.post("/step", json={"session_id": first, "action": {"agent": "thinker_0", "content": "x"}})
            assert gone.status_code == 410 and "expired after 0.6 s idle" in gone.json()["detail"]
            with pytest.raises(RuntimeError, match="expired after 0.6 s idle"):
                ws.step(CollabAction(agent="thinker_0", content="x"))
        # freed slots take new sessions; a busy one is not reaped while it keeps talking
        sid = http.post("/reset", json={"seed": 1}).json()["session_id"]
        for _ in range(4):
            time.sleep(0.3)
            assert http.get("/state", params={"session_id": sid}).status_code == 200
        assert http.post("/step", json={"session_id": sid, "action": {"agent": "thinker_0", "content": "x"}}).status_code == 200


def test_a_client_that_vanishes_mid_episode_leaves_the_others_unaffected(url):
    from websockets.asyncio.client import connect

    ws_url = url.replace("http://", "ws://") + "/ws"

    async def main():
        base = httpx.get(f"{url}/sessions").json()["active_sessions"]
        others = [asyncio.create_task(ws_episodes(url, i)) for i in range(3)]
        rude = await connect(ws_url)
        await rude.send(json.dumps({"type": "reset", "data": {"seed": 5, "task": 5}}))
        assert json.loads(await rude.recv())["type"] == "observation"
        await rude.send(json.dumps({"type": "step", "data": {"agent": "thinker_0", "content": "half"}}))
        rude.transport.abort()  # gone mid-episode, mid-request, without a close frame
        results = await asyncio.gather(*others)
        for _ in range(100):  # its session is destroyed, the others' are done and closed
            if httpx.get(f"{url}/sessions").json()["active_sessions"] == base:
                break
            await asyncio.sleep(0.05)
        return base, results

    base, results = asyncio.run(main())
    assert httpx.get(f"{url}/sessions").json()["active_sessions"] == base
    assert [[r["reward"] for r in pair] for pair in results] == [[1.0, 0.0]] * 3


def scripted_actions(agent: str, obs: dict, step: int) -> str:
    return f"{agent} at step {step} read {len(obs['user'])} chars: \\boxed{{{step % 3}}}"


def test_an_episode_through_the_server_equals_the_in_process_episode(url):
    """Same seed, same actions -> the same observations, rewards, terminations, infos and transcript,
    at every step, with the reset options (task, ablate, prefix) passed through."""
    record = llm_marl_envs.make("llm-marl/MathDyad-v0")
    record.reset(seed=3)
    record.step("a plan to keep")
    record.step("\\boxed{1}")
    prefix = record.infos["thinker_0"]["transcript"][:1]  # the thinker's message, context included
    cases = [
        ("llm-marl/MathVote-v0", 11, {}),
        ("llm-marl/MathDyad-v0", 12, {"task": 7}),
        ("llm-marl/MathDyad-v0", 13, {"ablate": ["thinker_0"]}),
        ("llm-marl/MathDyad-v0", 3, {"prefix": prefix}),
    ]
    with CollabEnvClient(base_url=url).sync() as remote:
        for env_id, seed, options in cases:
            local = llm_marl_envs.make(env_id)
            local.reset(seed=seed, options=options)
            result = remote.reset(env_id=env_id, seed=seed, **options)
            step = 0
            while True:
                obs = result.observation
                agent = local.agent_selection
                assert obs.agent_selection == agent, (env_id, step)
                assert {k: getattr(obs, k) for k in local.observe(agent)} == local.observe(agent), (env_id, step)
                assert obs.agents == local.agents
                assert obs.rewards == local.rewards and obs.terminations == local.terminations
                assert obs.truncations == local.truncations
                assert infos_of(obs) == local.infos, (env_id, step)
                assert remote.state().transcript_text == local.state()
                if result.done:
                    break
                action = scripted_actions(agent, local.observe(agent), step)
                local.step(action)
                result = remote.step(CollabAction(agent=agent, content=action))
                step += 1
            assert all(local.terminations.values()) and step >= 1
            assert obs.verdict == local.infos[local.agents[0]]["verdict"]
            if env_id.endswith("MathVote-v0"):
                assert "counterfactual_rewards" in obs.info


def test_import_is_light_and_openenv_validator_passes_on_the_cli_server():
    """The package imports no torch (and no web stack until served); ``llm-marl serve`` starts from
    the command line and OpenEnv's own runtime validator passes it."""
    code = (
        "import sys, llm_marl_envs.serve, llm_marl_envs.serve.cli;"
        "light = [m for m in ('fastapi', 'uvicorn', 'openenv', 'torch') if m in sys.modules];"
        "import llm_marl_envs.serve.app, llm_marl_envs.serve.client;"
        "print(light, 'torch' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0 and out.stdout.strip() == "[] False", out.stdout + out.stderr
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    exe = [sys.executable, "-m", "llm_marl_envs.cli", "serve", "MathDyad-v0", "--port", str(port), "--max-sessions", "4"]
    proc = subprocess.Popen(exe, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, cwd=ROOT,
                            env={**os.environ, "PYTHONUNBUFFERED": "1"})
    try:
        url = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 60
        while True:
            assert proc.poll() is None and time.monotonic() < deadline, proc.stdout.read() if proc.poll() is not None else "timeout"
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(f"{url}/health", timeout=1).status_code == 200:
                    break
            time.sleep(0.2)
        from openenv.cli._validation import validate_running_environment

        report = validate_running_environment(url)
        assert report["passed"], json.dumps(report["criteria"], indent=1)
        assert report["mode"] == "simulation" and report["standard_profile"] == "openenv-http/1.x"
        assert httpx.get(f"{url}/sessions").json()["max_sessions"] == 4
        assert [e["id"] for e in httpx.get(f"{url}/envs").json()] == ["llm-marl/MathDyad-v0"]
    finally:
        proc.terminate()
        out, _ = proc.communicate(timeout=20)
    assert "llm-marl serve: 1 env(s) (llm-marl/MathDyad-v0)" in out and "Traceback" not in out
