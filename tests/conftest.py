"""Suite-wide test configuration.

Tests that read the real benchmark data (``../shared/data``) are skipped, with the loader's own
message as the reason, when no data folder exists at all (e.g. a checkout without ``shared/``
beside it). Where a data folder exists, a missing file is a real failure, not a skip.
"""

from __future__ import annotations

import pytest

from llm_marl_envs.tasks.datapaths import DatasetNotFoundError, data_roots


def shared_data_present() -> bool:
    return any(root.is_dir() for root in data_roots())


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    report = outcome.get_result()
    if call.excinfo is not None and call.excinfo.errisinstance(DatasetNotFoundError) and not shared_data_present():
        reason = str(call.excinfo.value).splitlines()[0]
        report.outcome = "skipped"
        report.longrepr = (str(item.path), item.location[1] or 0, f"Skipped: benchmark data not beside the checkout: {reason}")


@pytest.fixture(scope="module")
def ray_cluster():
    """A real one-node Ray started for this test module (2 CPUs, 100 MB object store), shut down after it.

    Module-scoped on purpose: each Ray test module starts from a fresh cluster with all its CPUs free.
    Skips (with the install hint) where the ``ray`` extra is not installed."""
    ray = pytest.importorskip("ray", reason="Ray tests need the ray extra: pip install 'llm-marl-envs[ray]'")
    if ray.is_initialized():
        ray.shutdown()
    ray.init(num_cpus=2, include_dashboard=False, object_store_memory=100 * 1024**2, log_to_driver=False)
    yield ray
    ray.shutdown()
