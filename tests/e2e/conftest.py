"""What every browser test module shares: one headless Chromium per module (tests/e2e/harness.py)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.e2e import harness


@pytest.fixture(scope="module")
def browser() -> Iterator[object]:
    sync_api = harness.skip_without_browser()
    with harness.chromium(sync_api) as chromium:
        yield chromium
