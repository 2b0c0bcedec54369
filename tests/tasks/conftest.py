"""Fixtures for the task tests."""

import pytest
from tasks_testkit import demo_root


@pytest.fixture
def demo():
    """The mist-demo fixture folder shipped in the package (mist_pl/assets/mist_demo)."""
    return demo_root()
