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
