# SPDX-License-Identifier: BSD-3-Clause
"""Fixtures for the lab tests: a fresh namespace lab per test or per module.

Tests marked "full" (long sweeps) run only with --full or RV_FULL=1 in the
environment.
"""

import os
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))

from lab import REPO_ROOT, Lab, build_dir  # noqa: E402


def pytest_addoption(parser):
    parser.addoption("--full", action="store_true", default=False,
                     help="also run the long tests marked 'full' (as does "
                          "RV_FULL=1 in the environment)")


def pytest_configure(config):
    config.addinivalue_line("markers", "full: long sweep, runs only with --full")


def pytest_collection_modifyitems(config, items):
    if config.getoption("--full") or os.environ.get("RV_FULL") == "1":
        return
    skip_full = pytest.mark.skip(reason="long sweep: run with --full or "
                                        "RV_FULL=1")
    for item in items:
        if "full" in item.keywords:
            item.add_marker(skip_full)


@pytest.fixture(scope="session")
def repo_root():
    """The repository's top directory."""
    return REPO_ROOT


@pytest.fixture(scope="session")
def build_path():
    """The meson build directory (REVENANT_BUILD_DIR, default build/)."""
    return build_dir()


@pytest.fixture
def lab():
    """A lab of its own for one test, removed at teardown."""
    with Lab() as new_lab:
        yield new_lab


@pytest.fixture(scope="module")
def module_lab():
    """A lab shared by the tests of one module, removed after the module."""
    with Lab() as new_lab:
        yield new_lab

from appliance import appliance  # noqa: E402,F401  (fixture: revenantd in the lab)
