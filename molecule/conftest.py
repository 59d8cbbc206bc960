"""The one pytest entry of every molecule scenario: the shared fixtures and helpers.

pytest loads this file for each scenario's tests/ and for molecule/shared/tests/
(added to every scenario by .config/molecule/config.yml).
"""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent / "shared" / "lib"))

from ujh_testlib import *  # noqa: E402,F401,F403  (fixtures shared by scenarios)


def pytest_configure(config):
    config.addinivalue_line("markers", "last: takes the deployment away; runs after every other test")


def pytest_collection_modifyitems(items):
    """Tests marked `last` run after all others, the shared tests included (stable order)."""
    items.sort(key=lambda item: item.get_closest_marker("last") is not None)
