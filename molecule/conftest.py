"""The one pytest entry of every molecule scenario: the shared fixtures and helpers.

pytest loads this file for each scenario's tests/ and for molecule/shared/tests/
(added to every scenario by .config/molecule/config.yml).
"""

import os
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent / "shared" / "lib"))

from ujh_testlib import *  # noqa: E402,F401,F403  (fixtures shared by scenarios)


# The release whose run proves the collection's own logic (see the `once` marker).
FIRST_RELEASE = "bookworm"


def pytest_configure(config):
    config.addinivalue_line("markers", "last: takes the deployment away; runs after every other test")
    config.addinivalue_line(
        "markers",
        "once: proves the collection's own logic, the same on every OS release (site runs that switch "
        f"settings); runs on {FIRST_RELEASE} only, and is deselected, as pytest's summary says, on another release")


def pytest_collection_modifyitems(config, items):
    """Tests marked `last` run after all others, the shared tests included (stable order).

    On a release other than FIRST_RELEASE (UJH_RELEASE, set by testbed/run-scenarios), tests
    marked `once` are deselected: what they prove does not depend on the OS, and each costs
    one or more full site runs. pytest reports them as deselected, never as passed.
    """
    release = os.environ.get("UJH_RELEASE", FIRST_RELEASE)
    if release != FIRST_RELEASE:
        deselected = [item for item in items if item.get_closest_marker("once")]
        if deselected:
            config.hook.pytest_deselected(items=deselected)
            items[:] = [item for item in items if not item.get_closest_marker("once")]
            print(f"\n[{release}] deselected {len(deselected)} tests marked once (run on {FIRST_RELEASE})")
    items.sort(key=lambda item: item.get_closest_marker("last") is not None)
