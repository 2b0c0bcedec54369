"""Fixtures for the task tests."""

import pytest
from tasks_testkit import demo_root


@pytest.fixture
def demo():
    """The mist-demo fixture folder (../shared/data/mist-demo, or $MIST_DEMO_DATA)."""
    root = demo_root()
    if root is None:
        pytest.skip("mist-demo fixtures not found: set MIST_DEMO_DATA or provide ../shared/data/mist-demo")
    return root
