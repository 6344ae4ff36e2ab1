"""The README's Ray cluster commands, run as written on one machine.

The block is the fenced one right after the README line ``<!-- ray-cluster-commands: ... -->`` (section
"Scale out, serve, and train with TRL"). Only what must be local is substituted: ``HEAD`` -> 127.0.0.1,
port 6379 -> a free port, ``.venv/bin/`` -> this interpreter's venv; the commands run with a private HOME
(the token ``ray get-auth-token --generate`` makes is this test's) and Ray temp dir, each in its own
session. The ``ray stop`` line is not run: it stops every Ray process of the machine, other tests'
included; the sessions the commands started are stopped instead. Not marked slow, so CI runs it: two ``ray start`` take 20-45 s.
"""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path

import pytest

pytest.importorskip("ray", reason="Ray tests need the ray extra: pip install 'llm-marl-envs[ray]'")

from _ray_nodes import ROOT, RayNodes, free_port  # noqa: E402

MARKER = "<!-- ray-cluster-commands:"


def cluster_block(readme: str) -> list[str]:
    """The command lines (comments and blank lines dropped) of the fenced block after :data:`MARKER`."""
    lines = readme.splitlines()
    at = [i for i, line in enumerate(lines) if line.strip().startswith(MARKER)]
    assert len(at) == 1, f"README.md needs exactly one '{MARKER} ... -->' line above the cluster commands, has {len(at)}"
    fence = lines[at[0] + 1].strip()
    assert fence.startswith("```"), f"the line after the marker must open a fenced block, got {fence!r}"
    body = []
    for line in lines[at[0] + 2:]:
        if line.strip().startswith("```"):
            return [x.strip() for x in body if x.strip() and not x.strip().startswith("#")]
        body.append(line)
    raise AssertionError("the cluster block is not closed")


def localize(line: str, port: int) -> str:
    """HEAD -> 127.0.0.1, 6379 -> ``port``, ``.venv/bin/`` -> this venv."""
    line = re.sub(r"\bHEAD\b", "127.0.0.1", line)
    line = re.sub(r"\b6379\b", str(port), line)
    return line.replace(".venv/bin/", str(Path(sys.executable).parent) + "/")


def test_readme_cluster_commands_work_on_one_machine(tmp_path):
    commands = cluster_block((ROOT / "README.md").read_text(encoding="utf-8"))
    kinds = ["stop" if re.search(r"\bray stop\b", c) else "head" if "--head" in c else
             "join" if re.search(r"\bray start\b.*--address", c) else "run" if "llm-marl" in c else "other"
             for c in commands]
    assert kinds.count("head") == 1 and kinds.count("join") >= 1 and kinds.count("run") >= 1, commands
    assert kinds.index("head") < kinds.index("join") < kinds.index("run") and "stop" in kinds, commands
    port = free_port()
    nodes = RayNodes(token=False)
    work = tmp_path / "work"
    work.mkdir()
    try:
        for command, kind in zip(commands, kinds, strict=True):
            if kind == "stop":
                continue
            rc, out, _sid = nodes.shell(localize(command, port), cwd=work)
            assert rc == 0, f"{command}\n-> rc {rc}\n{out[-4000:]}"
            if kind in ("head", "join"):
                assert "Ray runtime started" in out, out[-3000:]
            if kind == "run":
                assert "4 episodes" in out and "mean reward 1.000" in out, out[-3000:]
        episodes = [json.loads(line) for line in (work / "eps.jsonl").read_text().splitlines()]
        assert sum(e.get("type") == "episode" for e in episodes) == 4
        # the worker machine's node joined: the cluster has two live nodes
        address = f"127.0.0.1:{port}"
        probe = f"import ray; ray.init(address={address!r}, logging_level='ERROR'); print(sum(n['Alive'] for n in ray.nodes()))"
        nodes.env["RAY_AUTH_MODE"] = "token"
        proc = nodes.run([sys.executable, "-c", probe], cwd=work)
        assert proc.returncode == 0 and proc.stdout.strip().splitlines()[-1] == "2", proc.stderr[-3000:]
    finally:
        nodes.stop()
    assert nodes.alive() == []
