"""A real two-node Ray cluster on this machine, started once per test session (Ray tests only).

``ray_cluster`` (session scope) starts a head and a second node with Ray's own
``ray.cluster_utils.Cluster`` (2 logical CPUs and a 100 MB object store each), connects the test
process to it through ``llm_marl_envs.rollout.ray_cluster.connect`` (the address check included)
and tears both down at the end of the session (ray.shutdown, then the nodes). Test modules import it
(``from tests.ray_fixtures import ray_cluster``); several modules importing it share one cluster.
Start-up measured on the 2-core VM: about 5-6 s for both nodes, actors about 0.5 s each.
Without Ray installed the tests using it are skipped with the install command as the reason.
"""

from __future__ import annotations

import time

import pytest

OBJECT_STORE_BYTES = 100 * 1024 * 1024
NODE_CPUS = 2

_state: dict[str, object] = {}


def _start() -> object:
    ray = pytest.importorskip("ray", reason="Ray tests need the ray extra: pip install 'llm-marl-envs[ray]'")
    from ray.cluster_utils import Cluster

    from llm_marl_envs.rollout.ray_cluster import connect

    if ray.is_initialized():
        ray.shutdown()
    start = time.perf_counter()
    cluster = Cluster(
        initialize_head=True,
        head_node_args={"num_cpus": NODE_CPUS, "object_store_memory": OBJECT_STORE_BYTES, "include_dashboard": False},
    )
    cluster.add_node(num_cpus=NODE_CPUS, object_store_memory=OBJECT_STORE_BYTES)
    cluster.wait_for_nodes()
    connect(cluster.address)
    cluster.startup_s = time.perf_counter() - start
    return cluster


def _stop() -> None:
    cluster = _state.pop("cluster", None)
    if cluster is None:
        return
    import ray

    ray.shutdown()
    cluster.shutdown()


@pytest.fixture(scope="session")
def ray_cluster():
    """The session's two-node Ray cluster (``ray.cluster_utils.Cluster``), this process connected."""
    owner = "cluster" not in _state
    if owner:
        _state["cluster"] = _start()
    yield _state["cluster"]
    if owner:  # session fixtures end together, after every test that used either import
        _stop()
