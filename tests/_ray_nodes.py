"""Real Ray nodes on this machine, started with ``ray start`` as a user would, and stopped without
touching anybody else's Ray.

``ray stop`` (with or without ``--force``) kills every Ray process of the machine, including other
test runs' clusters, so it is never used here. Each ``ray start`` runs in its own session
(``setsid``); the Ray processes it leaves behind (GCS, raylet, agents, workers) keep that session
id, so :meth:`RayNodes.stop` stops exactly them (SIGTERM, then SIGKILL) by session id. Every node
gets its own temp dir (``RAY_TMPDIR``, short: Unix socket paths are limited to 107 bytes), free ports,
and a cluster token of its own (``RAY_AUTH_MODE=token`` with ``RAY_AUTH_TOKEN``, nothing written to
``~/.ray``), so clusters of concurrent test runs cannot join each other.

Also a driver (``python tests/_ray_nodes.py drive ADDRESS OUT [--kill-session SID --kill-at N]``): runs
the Ray executor with two workers against ``ADDRESS`` in its own process (the test process may hold a
local Ray of other tests) and writes the actors' nodes and the episodes to ``OUT`` (JSON).
"""

from __future__ import annotations

import json
import os
import secrets
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
RAY = str(Path(sys.executable).with_name("ray"))
ENV = "llm-marl/MathDyad-v0"
TASKS, N_PER_TASK, SEED = [0, 1, 2], 2, 7


def free_port() -> int:
    """A TCP port nothing listens on now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def dump(items) -> str:
    """Episodes (or trees) as one canonical JSON text: equal texts mean byte-identical records."""
    return json.dumps([x.to_dict() for x in items], sort_keys=True, default=str)


def session_pids(sid: int) -> list[int]:
    """Live processes whose session id is ``sid`` (zombies excluded)."""
    out = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        fields = stat[stat.rindex(")") + 2:].split()  # after "pid (comm) "
        if fields[0] != "Z" and int(fields[3]) == sid:
            out.append(int(entry.name))
    return out


def process_name(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/comm").read_text().strip()
    except OSError:
        return ""


class RayNodes:
    """Ray nodes started with ``ray start`` on this machine (see the module docstring)."""

    def __init__(self, *, token: bool = True, extra_env: dict[str, str] | None = None) -> None:
        """``token=False``: no token in the environment; instead a private ``HOME`` (so that ``ray
        get-auth-token --generate`` and ``~/.ray/auth_token`` are this cluster's, not the user's)."""
        self.tmp = Path(tempfile.mkdtemp(prefix="rn", dir="/tmp"))
        self.env = {k: v for k, v in os.environ.items() if not k.startswith("RAY_")}
        self.env.update(RAY_TMPDIR=str(self.tmp), RAY_USAGE_STATS_ENABLED="0", **(extra_env or {}))
        if token:
            self.env.update(RAY_AUTH_MODE="token", RAY_AUTH_TOKEN=secrets.token_hex(32))
        else:
            (self.tmp / "home").mkdir()
            self.env["HOME"] = str(self.tmp / "home")
        self.sids: list[int] = []
        self.logs: list[str] = []
        self.address: str | None = None
        self.client_port: int | None = None  # the head's Ray Client server (ray://)

    def shell(self, line: str, *, timeout_s: float = 240, cwd: Path | None = None) -> tuple[int, str, int]:
        """Run one shell command line in a new session (what it leaves running is stopped by :meth:`stop`);
        returns ``(returncode, stdout + stderr, session id)``."""
        proc = subprocess.Popen(["bash", "-c", line], env=self.env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                text=True, start_new_session=True, cwd=cwd or self.tmp)
        self.sids.append(proc.pid)  # the session leader's pid is the session id
        try:
            out, _ = proc.communicate(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            proc.kill()
            out, _ = proc.communicate()
        self.logs.append(out)
        return proc.returncode, out, proc.pid

    def _start(self, args: list[str], *, timeout_s: float = 240) -> int:
        """Run one ``ray start ...`` in a new session; returns that session id."""
        rc, out, sid = self.shell(shlex.join(args), timeout_s=timeout_s)
        if rc != 0:
            raise RuntimeError(f"{' '.join(args)} failed (rc {rc}):\n{out[-3000:]}")
        return sid

    def start_head(self, num_cpus: int) -> str:
        """``ray start --head`` on a free port; returns ``"127.0.0.1:PORT"``."""
        port, self.client_port = free_port(), free_port()
        self._start([RAY, "start", "--head", "--port", str(port), "--num-cpus", str(num_cpus),
                     "--include-dashboard", "false", "--ray-client-server-port", str(self.client_port),
                     "--dashboard-agent-listen-port", str(free_port()), "--object-store-memory", str(100 * 1024**2),
                     "--disable-usage-stats"])
        self.address = f"127.0.0.1:{port}"
        return self.address

    def add_node(self, num_cpus: int) -> int:
        """``ray start --address`` (a second node on this machine); returns its session id."""
        return self._start([RAY, "start", "--address", self.address, "--num-cpus", str(num_cpus),
                            "--dashboard-agent-listen-port", str(free_port()),
                            "--object-store-memory", str(100 * 1024**2), "--disable-usage-stats"])

    def raylet_pid(self, sid: int) -> int:
        """The raylet of the node started in session ``sid``."""
        pids = [p for p in session_pids(sid) if process_name(p) == "raylet"]
        if len(pids) != 1:
            raise RuntimeError(f"session {sid}: raylets {pids}")
        return pids[0]

    def run(self, args: list[str], *, timeout_s: float = 300, cwd: Path | None = None) -> subprocess.CompletedProcess:
        """Run a command with the cluster's environment (its token and temp dir)."""
        return subprocess.run(args, env=self.env, capture_output=True, text=True, timeout=timeout_s, cwd=cwd or ROOT)

    def stop(self) -> None:
        """SIGTERM every process of the nodes' sessions, SIGKILL what is left after 4 s; remove the temp dir."""
        for sig, wait_s in ((signal.SIGTERM, 4.0), (signal.SIGKILL, 5.0)):
            for sid in self.sids:
                for pid in session_pids(sid):
                    try:
                        os.kill(pid, sig)
                    except ProcessLookupError:
                        pass
            deadline = time.monotonic() + wait_s
            while time.monotonic() < deadline and any(session_pids(s) for s in self.sids):
                time.sleep(0.2)
        shutil.rmtree(self.tmp, ignore_errors=True)

    def alive(self) -> list[int]:
        return [p for s in self.sids for p in session_pids(s)]


# ----------------------------------------------------------------------------- the driver
def kill_session(sid: int) -> list[int]:
    """SIGKILL every process of session ``sid`` (a node and its workers: the machine going down)."""
    pids = session_pids(sid)
    for pid in pids:
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    return pids


class _KillAt:
    """A policy that kills the node of session ``sid`` on its ``at``-th ``generate`` call (then plays ``inner``)."""

    def __init__(self, inner, sid: int, at: int) -> None:
        self.inner, self.sid, self.at, self.calls, self.killed = inner, sid, at, 0, []

    def generate(self, prompts, params):
        self.calls += 1
        if self.calls == self.at:
            self.killed = kill_session(self.sid)
        return self.inner.generate(prompts, params)


def local_episodes() -> str:
    """The reference: the same run on the local executor."""
    from agents import RandomAgent
    from llm_marl_envs.rollout import RolloutRunner

    runner = RolloutRunner(ENV, RandomAgent(seed=3), env_kwargs={"tasks": "arith"}, progress=False)
    return dump(runner.run_episodes(TASKS, n_per_task=N_PER_TASK, seed=SEED))


def drive(address: str, out: str, kill_sid: int | None = None, kill_at: int = 1) -> None:
    """Run the episodes on the Ray executor (2 workers) at ``address``; write nodes, episodes, stats to ``out``."""
    from agents import RandomAgent
    from llm_marl_envs.rollout import RolloutRunner

    policy = RandomAgent(seed=3)
    if kill_sid is not None:
        policy = _KillAt(policy, kill_sid, kill_at)
    start = time.perf_counter()
    runner = RolloutRunner(ENV, policy, env_kwargs={"tasks": "arith"}, executor="ray", workers=2,
                           ray_address=address, progress=False)
    try:
        where = runner.executor.where()
        episodes = runner.run_episodes(TASKS, n_per_task=N_PER_TASK, seed=SEED)
        result = {"where": where, "episodes": dump(episodes), "episode_ids": [e.episode_id for e in episodes],
                  "stats_episodes": runner.last_stats.episodes, "replacements": runner.executor.replacements,
                  "replayed": runner.executor.replayed_episodes, "calls": getattr(policy, "calls", None),
                  "killed": getattr(policy, "killed", None),
                  "where_after": runner.executor.where(), "wall_s": time.perf_counter() - start}
    finally:
        runner.close()
    Path(out).write_text(json.dumps(result))


if __name__ == "__main__":
    if sys.argv[1] == "drive":
        args = sys.argv[2:]
        kill = int(args[args.index("--kill-session") + 1]) if "--kill-session" in args else None
        at = int(args[args.index("--kill-at") + 1]) if "--kill-at" in args else 1
        drive(args[0], args[1], kill, at)
