"""The Ray executor on a real two-node Ray cluster on this machine (``ray start --head`` plus ``ray start
--address``, as on two machines): its actors run on both nodes, the episodes are byte-identical to the
local executor's, and a node that goes down mid-run (its raylet and worker processes killed) loses no
episode and finishes none twice. The driver is its own process (the test process may hold another Ray).
Not marked slow, so CI runs it: starting two nodes takes 25-45 s on the 2-core VM."""

from __future__ import annotations

import json
import sys

import pytest

pytest.importorskip("ray", reason="Ray tests need the ray extra: pip install 'llm-marl-envs[ray]'")

from _ray_nodes import ROOT, RayNodes, local_episodes  # noqa: E402


@pytest.fixture(scope="module")
def two_nodes():
    """A head (2 logical CPUs) and a second node (2 logical CPUs): room for a replacement actor on the head."""
    nodes = RayNodes()
    try:
        nodes.start_head(num_cpus=2)
        nodes.second = nodes.add_node(num_cpus=2)
        yield nodes
    finally:
        nodes.stop()
        assert nodes.alive() == []  # every process of both nodes is gone, nobody else's touched


@pytest.fixture(scope="module")
def expected() -> str:
    return local_episodes()


def _drive(nodes: RayNodes, tmp_path, *extra: str) -> dict:
    out = tmp_path / "driver.json"
    proc = nodes.run([sys.executable, str(ROOT / "tests" / "_ray_nodes.py"), "drive", nodes.address, str(out), *extra])
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-4000:]
    return json.loads(out.read_text())


def test_actors_run_on_two_nodes_and_episodes_match_local(two_nodes, expected, tmp_path):
    result = _drive(two_nodes, tmp_path)
    nodes = [node for node, _pid in result["where"]]
    assert len(nodes) == 2 and nodes[0] != nodes[1]  # one actor on each node
    assert result["episodes"] == expected
    assert result["stats_episodes"] == 6 and result["replacements"] == 0


def test_the_address_check_accepts_the_head_and_its_client_server(two_nodes):
    """``check_address``'s gRPC handshake passes on a real head (GCS) and on its Ray Client server."""
    from llm_marl_envs.rollout.ray_cluster import check_address

    check_address(two_nodes.address, timeout_s=5.0)
    check_address(f"ray://127.0.0.1:{two_nodes.client_port}", timeout_s=5.0)


def test_a_node_going_down_mid_run_loses_no_episode(two_nodes, expected, tmp_path):
    """Runs last in this module: it kills the second node (raylet, agents and the actor on it)."""
    result = _drive(two_nodes, tmp_path, "--kill-session", str(two_nodes.second), "--kill-at", "1")
    assert result["killed"], "the second node had no process to kill"
    dead = [node for node, pid in result["where"] if pid in result["killed"]]
    assert len(dead) == 1  # exactly one of the two actors lived on the killed node
    assert result["replacements"] >= 1 and result["replayed"] >= 1
    assert dead[0] not in {node for node, _pid in result["where_after"]}  # its replacement runs on the head
    ids = result["episode_ids"]
    assert len(ids) == len(set(ids)) == 6 and result["stats_episodes"] == 6  # none lost, none twice
    assert result["episodes"] == expected
